"""The accelerators users have: which backend and precision vcam-sr chooses for them. Where the
hardware is absent here (DirectML, CoreML, Intel GPUs and NPUs), stand-ins for the libraries'
device lists test the choice, named as such, and the real-device tests skip with the reason."""
import importlib.util
import sys

import numpy as np
import pytest

from vcam_sr import upscalers
from vcam_sr.models import resolve_model
from vcam_sr.upscalers import create_upscaler, pick_backend

HAS_OPENVINO = importlib.util.find_spec("openvino") is not None
needs_openvino = pytest.mark.skipif(not HAS_OPENVINO, reason="the openvino extra is not installed")


@pytest.mark.parametrize("provider", ["DmlExecutionProvider", "CoreMLExecutionProvider"])
def test_a_gpu_execution_provider_is_chosen_when_onnxruntime_offers_it_stand_in(monkeypatch, provider):
    """Stand-in: onnxruntime's provider list as onnxruntime-directml (Windows) or the macOS
    wheel report it; no such GPU runtime exists on this Linux machine."""
    import onnxruntime

    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: [provider, "CPUExecutionProvider"])
    monkeypatch.setattr(upscalers, "tensorrt_ready", lambda: False)
    assert upscalers.ort_providers() == [provider, "CPUExecutionProvider"]
    assert pick_backend("auto") == ("onnxruntime", f"auto: onnxruntime has {provider}")


class StandInCore:
    """Stand-in for openvino.Core on a laptop with an Intel GPU and NPU (none here)."""

    available_devices = ["CPU", "GPU.0", "NPU"]


@needs_openvino
def test_an_intel_gpu_or_npu_is_chosen_through_openvino_stand_in(monkeypatch):
    import onnxruntime
    import openvino

    monkeypatch.setattr(openvino, "Core", StandInCore)
    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CPUExecutionProvider"])
    monkeypatch.setattr(upscalers, "tensorrt_ready", lambda: False)
    assert pick_backend("auto") == ("openvino", "auto: OpenVINO has the GPU.0 device")


@needs_openvino
def test_precision_follows_the_device_and_the_cpu():
    from vcam_sr.upscalers.openvino import choose_precision

    assert choose_precision("CPU", "auto", bf16_native=True) == "bf16"
    assert choose_precision("CPU", "auto", bf16_native=False) == "f32"
    assert choose_precision("GPU.0", "auto", bf16_native=False) == "f16"
    assert choose_precision("CPU", "f32", bf16_native=True) == "f32"  # asked for: kept


@needs_openvino
def test_openvino_on_this_cpu_matches_onnxruntime_within_its_precision():
    from vcam_sr.upscalers.openvino import OpenVinoUpscaler, native_bf16
    from vcam_sr.upscalers.onnxruntime import OnnxRuntimeUpscaler

    y = np.random.default_rng(0).random((37, 53), dtype=np.float32)
    reference = OnnxRuntimeUpscaler(resolve_model("fast"), ["CPUExecutionProvider"]).upscale_y(y)
    f32 = OpenVinoUpscaler(resolve_model("fast"), "CPU", "f32").upscale_y(y)
    assert np.abs(f32 - reference).max() * 255 < 0.01
    if native_bf16():  # AMX or AVX512-BF16: bf16 costs at most a few grey levels
        bf16 = OpenVinoUpscaler(resolve_model("fast"), "CPU", "bf16").upscale_y(y)
        assert 0 < np.abs(bf16 - reference).max() * 255 < 4


@needs_openvino
@pytest.mark.parametrize("model", ["fast", "fast-clean"])
def test_openvino_bf16_leaves_brightness_alone(model):
    """Whole-net bf16 keeps 8 significant bits of the input and of the final sum, about a code
    value: it moved mean Y by +0.26 (fast) and +0.15 (fast-clean) on a real photograph and cost
    0.15 dB on clean video. The anchor, sum and pixel shuffle now run in f32."""
    from conftest import real_photo
    from vcam_sr.media.colour import luma
    from vcam_sr.upscalers.onnxruntime import OnnxRuntimeUpscaler
    from vcam_sr.upscalers.openvino import OpenVinoUpscaler, native_bf16

    if not native_bf16():
        pytest.skip("this CPU has no native bf16 (AMX or AVX512-BF16), so OpenVINO runs f32 here")
    y = luma(real_photo()[:256, :256])
    reference = OnnxRuntimeUpscaler(resolve_model(model), ["CPUExecutionProvider"]).upscale_y(y)
    bf16 = OpenVinoUpscaler(resolve_model(model), "CPU", "bf16")
    error = (bf16.upscale_y(y) - reference) * 255
    assert abs(error.mean()) < 0.02 and np.sqrt((error ** 2).mean()) < 0.25, (error.mean(), error.std())
    assert "bf16" in bf16.describe()


@needs_openvino
def test_auto_runs_the_faster_cpu_backend_and_says_why(caplog):
    caplog.set_level("INFO")
    with create_upscaler("auto", "fast") as up:
        up.upscale(np.zeros((36, 64, 3), np.uint8))
    line = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("backend for 64x36"))
    assert "also timed" in line and "openvino" in line and "onnxruntime" in line


@pytest.mark.skipif(sys.platform != "win32", reason="DirectML runs on Windows (onnxruntime-directml)")
def test_directml_runs_the_model_on_a_real_windows_gpu():
    with create_upscaler("onnxruntime", "fast") as up:
        assert "DmlExecutionProvider" in up.session.get_providers()
        assert up.upscale(np.zeros((36, 64, 3), np.uint8)).shape == (72, 128, 3)


@pytest.mark.skipif(sys.platform != "darwin", reason="CoreML runs on macOS")
def test_coreml_runs_the_model_on_a_real_mac():
    with create_upscaler("onnxruntime", "fast") as up:
        assert "CoreMLExecutionProvider" in up.session.get_providers()
        assert up.upscale(np.zeros((36, 64, 3), np.uint8)).shape == (72, 128, 3)


@pytest.mark.skipif(not HAS_OPENVINO or not any(d.startswith(("GPU", "NPU")) for d in upscalers.openvino_devices()),
                    reason="no Intel GPU or NPU here (OpenVINO lists only the CPU)")
def test_openvino_runs_the_model_on_a_real_intel_gpu_or_npu():
    with create_upscaler("openvino", "fast") as up:
        assert up.device.split(".")[0] in ("GPU", "NPU")
        assert up.upscale(np.zeros((36, 64, 3), np.uint8)).shape == (72, 128, 3)
