"""The tray: its menu drives the service (Qt offscreen), and a real icon and menu on an X
display with a system tray (Xvfb + trayer)."""
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import REPO, assert_clean_error, real_frames, write_video
from vcam_sr.config import load_config
from vcam_sr.service import Controller

pytest.importorskip("PySide6", reason="the tray extra (PySide6-Essentials) is not installed")


@pytest.fixture(scope="module")
def qt_app():
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6 import QtWidgets

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    yield app


def settle(app, condition, seconds=20.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        app.processEvents()
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_menu_actions_drive_the_service(qt_app, tmp_path, monkeypatch):
    """The bicubic backend stands in for a model: what is tested is the menu -> service path."""
    from vcam_sr.tray import Tray

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))  # Start at login writes here
    clip = write_video(tmp_path / "clip.mp4", real_frames(30, 96, 64))
    cfg = load_config(None, {"source": str(clip), "loop": True, "sinks": ["null"], "backend": "bicubic"})
    tray = Tray(Controller(cfg))
    status = tray.controller.status
    tray.actions["start"].trigger()
    assert settle(qt_app, lambda: status()["state"] == "running" and status().get("frames", 0) > 5)
    tray.refresh()
    assert tray.actions["start"].text() == "Stop" and "running" in tray.icon.toolTip()
    assert "fps" in tray.icon.toolTip()

    tray.actions["model:fast-clean"].trigger()
    assert tray.controller.cfg.model == "fast-clean"
    tray.actions["source:test"].trigger()
    assert tray.controller.cfg.source == "test"
    frames = status()["frames"]
    assert settle(qt_app, lambda: status()["frames"] > frames + 5)  # still flowing
    tray.actions["poor_link"].trigger()
    assert settle(qt_app, lambda: status()["state"] == "running")
    assert tray.controller.cfg.degrade == 0.5 and tray.controller.cfg.degrade_jpeg == 40

    tray.actions["login"].trigger()
    assert (tmp_path / "autostart" / "vcam-sr.desktop").is_file()
    tray.actions["login"].trigger()
    assert not (tmp_path / "autostart" / "vcam-sr.desktop").exists()

    tray.actions["start"].trigger()  # now Stop
    assert status()["state"] == "stopped" and tray.actions["start"].text() == "Start"


def test_an_error_shows_in_the_menu_in_the_cli_s_words(qt_app):
    from vcam_sr.tray import Tray

    tray = Tray(Controller(load_config(None, {"source": 7, "sinks": ["null"]})))
    tray.actions["start"].trigger()
    assert settle(qt_app, lambda: tray.controller.status()["state"] == "error")
    tray.refresh()
    assert "no camera could be opened at index 7" in tray.icon.toolTip()
    assert tray.status_item.text().startswith("vcam-sr: no camera could be opened")


def screenshot(display: str, path) -> np.ndarray:
    subprocess.run(["import", "-window", "root", str(path)], env={"DISPLAY": display, "PATH": "/usr/bin:/bin"},
                   check=True, timeout=30)
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB")).astype(int)


@pytest.mark.skipif(not (shutil.which("trayer") and shutil.which("xdotool") and shutil.which("import")),
                    reason="trayer, xdotool or imagemagick missing (.ci/run installs them)")
def test_real_tray_icon_shows_and_a_click_opens_its_menu(xvfb, tmp_path):
    env = {**os.environ, "DISPLAY": xvfb, "QT_QPA_PLATFORM": "xcb", "XDG_CONFIG_HOME": str(tmp_path),
           "XDG_STATE_HOME": str(tmp_path / "state")}
    env.pop("WAYLAND_DISPLAY", None)
    tray_bar = subprocess.Popen(["trayer", "--edge", "top", "--align", "left", "--width", "10",
                                 "--height", "40", "--SetDockType", "true", "--transparent", "false",
                                 "--tint", "0x202020"], env=env, stderr=subprocess.DEVNULL)
    app = None
    try:
        time.sleep(1.5)
        before = screenshot(xvfb, tmp_path / "before.png")
        app = subprocess.Popen([sys.executable, "-m", "vcam_sr.cli", "tray", "--source", "test",
                                "--sink", "null", "--backend", "bicubic"], cwd=REPO, env=env,
                               stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        for line in app.stderr:
            if "tray ready" in line or time.monotonic() > deadline:
                break
        time.sleep(1.5)
        with_icon = screenshot(xvfb, tmp_path / "tray.png")
        changed = np.argwhere(np.abs(with_icon - before).sum(axis=2) > 60)
        assert len(changed) > 100, "no icon appeared in the tray"
        y, x = changed.mean(axis=0).astype(int)
        subprocess.run(["xdotool", "mousemove", str(x), str(y), "click", "3"], env=env, check=True)
        time.sleep(1.5)
        menu = screenshot(xvfb, tmp_path / "menu.png")
        opened = np.abs(menu - with_icon).sum(axis=2) > 60
        assert opened.sum() > 5000, "right-clicking the icon opened no menu"
    finally:
        if app is not None:
            app.terminate()
            assert app.wait(timeout=20) == 0  # SIGTERM quits the tray cleanly
        tray_bar.terminate()
    for name in ("tray.png", "menu.png"):  # kept for a look: VCAM_SR_SCREENSHOTS=folder
        if os.environ.get("VCAM_SR_SCREENSHOTS"):
            shutil.copy(tmp_path / name, os.environ["VCAM_SR_SCREENSHOTS"])


def test_the_tray_offers_the_doctor_report(qt_app):
    from vcam_sr.tray import Tray

    tray = Tray(Controller(load_config(None, {"source": "test", "sinks": ["null"], "backend": "bicubic"})))
    tray.actions["doctor"].trigger()
    assert "Virtual cameras:" in tray.doctor_text and "auto here" in tray.doctor_text


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11 / Wayland sessions are Linux's")
def test_the_tray_without_a_desktop_session_says_so_instead_of_aborting(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env["XDG_STATE_HOME"] = str(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "vcam_sr.cli", "tray", "--source", "test", "--sink", "null"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert_clean_error(proc, "needs a desktop session", "DISPLAY")
