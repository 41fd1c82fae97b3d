"""Every inference backend against bicubic on real images: model backends must score higher."""
import importlib.util
import subprocess
import sys

import numpy as np
import pytest

from conftest import VAL, needs_shared
from vcam_sr import create_upscaler
from vcam_sr.upscalers import nvidia_driver_present, ort_providers

HAS_TORCH = importlib.util.find_spec("torch") is not None


def y_psnr(sr, hr):
    from training.metrics import psnr_ssim

    return psnr_ssim(sr, hr)[0]


@pytest.fixture(scope="module")
def set5():
    from training.data import load_val_set

    return load_val_set(VAL, "Set5")


def mean_psnr(backend, images) -> float:
    with create_upscaler(backend, "fast") as up:
        return float(np.mean([y_psnr(up.upscale(lr), hr) for _, lr, hr in images]))


@needs_shared()
@pytest.mark.parametrize("backend", [
    "onnxruntime",
    pytest.param("torch", marks=pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")),
])
def test_model_backend_beats_bicubic_on_real_images(backend, set5):
    ours, baseline = mean_psnr(backend, set5), mean_psnr("bicubic", set5)
    assert ours > baseline + 0.3, (ours, baseline)


@needs_shared()
def test_onnxruntime_and_torch_backends_agree(set5):
    if not HAS_TORCH:
        pytest.skip("torch is not installed")
    _, lr, _ = set5[0]
    with create_upscaler("onnxruntime", "fast") as a, create_upscaler("torch", "fast") as b:
        diff = np.abs(a.upscale(lr).astype(int) - b.upscale(lr).astype(int))
    assert diff.max() <= 1  # fp32 on both sides; only rounding at .5 may differ


def test_auto_picks_onnxruntime_on_a_cpu_machine(caplog):
    caplog.set_level("INFO")
    with create_upscaler("auto", "fast") as up:
        up.upscale(np.zeros((36, 64, 3), np.uint8))
        # ONNX Runtime, or where OpenVINO is installed too, whichever is faster on this input
        assert up.name == "onnxruntime" or {c.name for c in up.candidates} == {"onnxruntime", "openvino"}
    assert "CPUExecutionProvider" in caplog.text and "auto:" in caplog.text
    assert ort_providers()[-1] == "CPUExecutionProvider"


def test_with_model_auto_the_log_says_the_choice_briefly_and_the_details_at_debug(caplog):
    caplog.set_level("DEBUG")
    with create_upscaler("onnxruntime", "auto", threads=2, fps=30.0) as up:
        up.upscale(np.zeros((36, 64, 3), np.uint8))
    info = [r.getMessage() for r in caplog.records if r.levelname == "INFO" and r.getMessage().startswith("model ")]
    debug = [r.getMessage() for r in caplog.records if r.levelname == "DEBUG" and r.getMessage().startswith("model ")]
    assert info and len(info[0]) < 160 and "ms budget" in info[0], info
    assert debug and "providers ['CPUExecutionProvider'], threads 2" in debug[0] and "noise sigma" in debug[0]


def imports_torch(backend: str) -> list[str]:
    """[backend that ran, whether torch got imported] for --model auto in a fresh interpreter."""
    code = (f"import sys, numpy, vcam_sr; up = vcam_sr.create_upscaler({backend!r}, 'auto'); "
            "up.upscale(numpy.zeros((36, 64, 3), numpy.uint8)); "
            "print(up.loaded[up.current.name].name, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_the_onnxruntime_backend_never_imports_torch_on_any_machine():
    assert imports_torch("onnxruntime") == ["onnxruntime", "False"]


@pytest.mark.skipif(nvidia_driver_present(), reason="an NVIDIA driver is present: auto may use torch-cuda")
def test_auto_on_a_machine_without_nvidia_never_imports_torch():
    ran, imported = imports_torch("auto")
    assert ran in ("onnxruntime", "fastest") and imported == "False"


@pytest.mark.gpu
@pytest.mark.skipif("CUDAExecutionProvider" not in ort_providers(), reason="no CUDA execution provider here")
def test_onnxruntime_cuda_provider_on_a_real_gpu():
    frame = np.zeros((36, 64, 3), np.uint8)
    with create_upscaler("onnxruntime", "fast") as up:
        assert "CUDAExecutionProvider" in up.session.get_providers()
        assert up.upscale(frame).shape == (72, 128, 3)


def test_a_photo_is_timed_on_a_crop_and_its_tiles_share_one_backend(caplog):
    """A 24-megapixel photo runs in tiles of slightly different sizes: the backends used to be
    re-timed for each tile size, each time on the whole tile or photo (115 s and 8 GB for one
    6000x4000 JPEG); now one choice."""
    import logging

    from vcam_sr.upscalers.auto import FastestBackend
    from vcam_sr.upscalers.bicubic import BicubicUpscaler

    fastest = FastestBackend([BicubicUpscaler(), BicubicUpscaler()])
    y = np.random.default_rng(0).random((3000, 4500), dtype=np.float32)
    with caplog.at_level(logging.INFO, logger="vcam_sr.auto"):
        out = fastest.upscale_luma(y)
    picks = [r.getMessage() for r in caplog.records if r.getMessage().startswith("backend for")]
    assert out.shape == (6000, 9000)
    assert len(picks) == 1, picks


def test_an_rgb_photo_is_composed_in_bounded_memory():
    """The float copies of a photo's 2x result used to be whole (~10x the uint8 result at peak);
    composed in bands, the result is the same to the bit and the peak stays near its size."""
    import tracemalloc

    from vcam_sr.upscalers import base
    from vcam_sr.upscalers.bicubic import BicubicUpscaler

    rgb = np.random.default_rng(1).integers(0, 256, (1500, 2000, 3), dtype=np.uint8)
    tracemalloc.start()
    banded = base.upscale_rgb(BicubicUpscaler(), rgb)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 6 * banded.nbytes, peak / banded.nbytes  # whole: 11.7x
    smooth = base._bicubic(rgb.astype(np.float32) * np.float32(1 / 255))  # the whole-frame formula
    whole = smooth + (BicubicUpscaler().upscale_luma(base.luma(rgb)) - base.luma(smooth))[..., None]
    assert np.array_equal(banded, np.rint(np.clip(whole * np.float32(255), 0, 255)).astype(np.uint8))
