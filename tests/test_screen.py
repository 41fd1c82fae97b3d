"""The screen as a source, captured with mss from a real (virtual) X display."""
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from conftest import REPO, assert_clean_error, run_cli
from vcam_sr.errors import VcamError
from vcam_sr.sources import open_source


@pytest.mark.slow
def test_screen_region_is_captured_from_a_real_display(xvfb, tmp_path, monkeypatch):
    if not shutil.which("display"):
        pytest.skip("ImageMagick's display is not installed (.ci/run installs imagemagick)")
    picture = np.zeros((120, 160, 3), np.uint8)
    picture[:, :80] = (250, 30, 30)  # red left half, blue right half
    picture[:, 80:] = (30, 30, 250)
    Image.fromarray(picture).save(tmp_path / "p.png")
    shown = subprocess.Popen(["display", "-geometry", "+0+0", "-borderwidth", "0", str(tmp_path / "p.png")],
                             env={"DISPLAY": xvfb, "PATH": "/usr/bin:/bin"})
    try:
        monkeypatch.setenv("DISPLAY", xvfb)
        time.sleep(1.5)  # the window maps
        source = open_source("screen:0,0,160,120", fps=30, realtime=False)
        frame = source.read()
        source.close()
    finally:
        shown.kill()
    assert frame.shape == (120, 160, 3)
    left, right = frame[40:80, 10:60].mean(axis=(0, 1)), frame[40:80, 100:150].mean(axis=(0, 1))
    assert left[0] > 200 and left[2] < 80 and right[2] > 200 and right[0] < 80  # RGB, not BGR


def test_screen_without_a_display_or_with_a_bad_region_is_one_sentence():
    assert_clean_error(run_cli("--source", "screen:0,0,x", "--sink", "null"), "screen:X,Y,WIDTH,HEIGHT")
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    proc = subprocess.run([sys.executable, "-m", "vcam_sr.cli", "--source", "screen", "--sink", "null",
                           "--frames", "2"], env=env, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert_clean_error(proc, "screen cannot be captured", "DISPLAY")


def test_screen_region_past_the_edge_is_refused(xvfb, monkeypatch):
    monkeypatch.setenv("DISPLAY", xvfb)
    with pytest.raises(VcamError, match="reaches past the 1024x768 screen"):
        open_source("screen:1000,0,640,360")


def test_the_screen_source_tells_auto_that_it_shows_a_call_through_its_codec(xvfb):
    """What the screen shows (the call you receive) came through the call's codec, whose
    smoothing one frame does not show: the run takes the robust model and says why."""
    env = {**os.environ, "DISPLAY": xvfb}
    proc = subprocess.run([sys.executable, "-m", "vcam_sr.cli", "--source", "screen:0,0,320,180", "--sink",
                           "null", "--frames", "3", "--backend", "onnxruntime"], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "model fast (robust)" in proc.stderr and "a call captured from the screen" in proc.stderr
