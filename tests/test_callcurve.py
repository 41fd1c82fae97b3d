"""The call curve (training/callcurve.py): BD-rate arithmetic, the VMAF and PSNR it reports,
and the command end to end on a tiny real clip."""
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import REPO, TRAIN_IMAGES, assert_clean_error, real_frames, write_video
from training import callcurve as cc
from training.codecs import CAMERA_SPACE, round_trip
from training.metrics import luma
from vcam_sr.media.colour import rgb_to_yuv
from vcam_sr.upscalers.bicubic import BicubicUpscaler

pytestmark = pytest.mark.slow  # real servers, browsers, displays or whole clips: the full run only

needs_frames = pytest.mark.skipif(not TRAIN_IMAGES, reason="../shared/data/train/t91 is not beside the repository")
RATES = [200, 400, 800, 1600]
CURVE = [30.0, 33.0, 35.5, 37.0]


def test_bd_rate_of_a_curve_against_itself_is_zero():
    assert cc.bd_rate((RATES, CURVE), (RATES, CURVE)) == pytest.approx(0, abs=1e-9)


def test_bd_rate_of_the_same_quality_at_half_the_rate_is_minus_50_percent():
    half = [r / 2 for r in RATES]
    assert cc.bd_rate((RATES, CURVE), (half, CURVE)) == pytest.approx(-50, abs=1e-6)
    assert cc.bd_rate((half, CURVE), (RATES, CURVE)) == pytest.approx(100, abs=1e-6)


def test_bd_rate_integrates_over_the_common_quality_range_only():
    """Anchor ln r = q on q in [0, 3]; test ln r = q/2 + 1/2 on q in [1, 4] (PCHIP is exact on
    lines). Over the common range [1, 3] the log-rate difference 1/2 - q/2 averages -1/2, so the
    test needs exp(-1/2) - 1 = -39.35% of the anchor's rate."""
    q_anchor, q_test = np.arange(0, 4.0), np.arange(1, 5.0)
    anchor = (np.exp(q_anchor), q_anchor)
    test = (np.exp(q_test / 2 + 0.5), q_test)
    assert cc.bd_rate(anchor, test) == pytest.approx(100 * (np.exp(-0.5) - 1), abs=1e-9)


def test_bd_rate_is_none_without_a_common_range_or_with_quality_falling():
    assert cc.bd_rate((RATES, CURVE), (RATES, [q + 10 for q in CURVE])) is None
    assert cc.bd_rate((RATES, CURVE), (RATES, [30.0, 33.0, 32.0, 37.0])) is None


def test_rates_scale_by_camera_area():
    assert cc.scaled_kbps(400, (640, 360)) == 400
    assert cc.scaled_kbps(400, (320, 180)) == pytest.approx(100)


@needs_frames
def test_vmaf_of_a_clip_against_itself_is_near_100_and_drops_when_blurred(tmp_path):
    ffmpeg = cc.vmaf_ffmpeg()
    frames = real_frames(6, 192, 144)
    reference = tmp_path / "ref.y4m"
    cc.write_y4m(reference, [rgb_to_yuv(f, CAMERA_SPACE) for f in frames], 25)
    same = cc.vmaf(ffmpeg, reference, reference, 2)
    blurred = tmp_path / "blur.y4m"
    cc.write_y4m(blurred, [rgb_to_yuv(cv2.GaussianBlur(f, (0, 0), 1.5), CAMERA_SPACE) for f in frames], 25)
    worse = cc.vmaf(ffmpeg, blurred, reference, 2)
    assert same["vmaf"] > 95 and same["vmaf_neg"] > 95, same
    assert worse["vmaf"] < same["vmaf"] - 20 and worse["vmaf_neg"] < same["vmaf_neg"] - 20, worse


@needs_frames
def test_plain_360p_psnr_rises_with_bitrate():
    hr = real_frames(8, 256, 192)
    lr = [cv2.resize(f, (128, 96), interpolation=cv2.INTER_AREA) for f in hr]
    hr_luma = [luma(f) for f in hr]
    bicubic = BicubicUpscaler()
    scores = [cc.y_psnr([bicubic.upscale(p) for p in round_trip(lr, codec, 25, kbps=kbps, threads=2)], hr_luma)
              for codec in ("vp8", "h264") for kbps in (20, 160)]
    assert scores[1] > scores[0] + 1 and scores[3] > scores[2] + 1, scores


@needs_frames
def test_cli_writes_the_tables_for_a_tiny_clip(tmp_path):
    clip = write_video(tmp_path / "tiny.mp4", real_frames(6, 192, 144))
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "training.callcurve", str(clip), "--frames", "4",
                           "--kbps", "800", "3200", "--backend", "bicubic", "--out", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    report = (out / "callcurve.md").read_text()
    result = json.loads((out / "callcurve.json").read_text())
    assert "BD-rate against plain 360p" in report and "| vp8 | webcam | vcam-sr at the receiver |" in report
    assert result["kbps"] == [800, 3200] and result["codecs"] == ["vp8", "h264"]
    curves = result["curves"]["h264"]["clean"]
    assert set(curves) == set(cc.SCENARIOS)
    for scenario in cc.SCENARIOS:
        assert all(20 < point["psnr"] < 60 and 0 <= point["vmaf_neg"] <= 100 for point in curves[scenario])
    # bicubic at the receiver is the plain 360p call: the very same pictures, so a 0% BD-rate
    assert result["bd_rate"]["h264"]["clean"]["vcam-sr at the receiver"]["psnr"] == pytest.approx(0, abs=1e-6)
    assert result["clips"]["tiny"]["size"] == [96, 72]
    again = subprocess.run([sys.executable, "-m", "training.callcurve", str(clip), "--frames", "4",
                            "--kbps", "800", "3200", "--backend", "bicubic", "--out", str(out)],
                           capture_output=True, text=True, timeout=120, cwd=REPO)
    assert_clean_error(again, "already exists")


@pytest.mark.parametrize("args, words", [
    (["missing.mp4"], ["missing.mp4", "does not exist"]),
    (["{clip}", "--kbps", "400"], ["--kbps", "two"]),
    (["{clip}", "--kbps", "0", "400"], ["--kbps", "positive"]),
    (["{clip}", "--model", "no-such-model", "--backend", "onnxruntime"], ["no-such-model"]),
])
def test_bad_input_gets_one_sentence(tmp_path, capsys, args, words):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"")
    assert cc.main([*[a.format(clip=clip) for a in args], "--out", str(tmp_path / "out")]) == 2
    assert_clean_error(subprocess.CompletedProcess([], 2, "", capsys.readouterr().err), *words)


def test_the_rate_each_stream_really_cost_is_measured():
    """VP8 overshoots its target for small frames at low rates; curves use what was sent."""
    from conftest import real_frames
    from training.codecs import round_trip

    frames = real_frames(30, 160, 96)
    for codec in ("h264", "vp8"):
        sizes: list[int] = []
        round_trip(frames, codec, 30, kbps=300, threads=2, sent=sizes)
        kbps = 8 * sum(sizes) / (len(frames) / 30) / 1000
        assert len(sizes) >= len(frames) - 1 and 0.3 * 300 < kbps < 3 * 300, (codec, kbps)
