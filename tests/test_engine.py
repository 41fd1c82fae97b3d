"""TensorRT path: a real TensorRT-RTX engine built on this CPU-only machine, the engine cache,
and the GPU backends (skipped where there is no CUDA GPU)."""
import hashlib
import importlib.util
import json
import logging
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, assert_clean_error, real_frames, cli
from vcam_sr.engines import cache
from vcam_sr.contract import INPUT, OUTPUT
from vcam_sr.models import resolve_model
from vcam_sr.upscalers import create_upscaler, tensorrt_ready

HAS_RTX = importlib.util.find_spec("tensorrt_rtx") is not None
needs_rtx = pytest.mark.skipif(not HAS_RTX, reason="tensorrt-rtx-cu12 is not installed")
PROFILE = ((80, 48), (320, 180), (640, 360))


@needs_rtx
@pytest.mark.slow
def test_rtx_engine_is_built_on_cpu_and_the_cache_reuses_or_rebuilds_it(tmp_path, caplog):
    from vcam_sr.engines.build import build_engine

    caplog.set_level(logging.INFO)
    path = build_engine(resolve_model("fast"), "rtx", PROFILE, folder=tmp_path)
    meta = cache.read_metadata(path)
    assert meta["key"]["flavour"] == "rtx" and meta["key"]["target"] == "portable"
    assert [tuple(s) for s in meta["key"]["profile"]] == list(PROFILE)
    assert (meta["input"], meta["output"]) == (INPUT, OUTPUT)  # the luma contract's tensors
    assert meta["engine_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert path.stat().st_size > 10_000

    import tensorrt_rtx as trt  # the header check needs no GPU; full deserialisation does

    runtime = trt.Runtime(trt.Logger(trt.Logger.ERROR))
    _, diagnostics = runtime.get_engine_validity(path.read_bytes()[: runtime.engine_header_size])
    assert not diagnostics & int(trt.EngineInvalidityDiagnostics.MALFORMED_ENGINE)

    caplog.clear()
    mtime = path.stat().st_mtime_ns
    assert build_engine(resolve_model("fast"), "rtx", PROFILE, folder=tmp_path) == path
    assert "cache hit" in caplog.text and path.stat().st_mtime_ns == mtime

    data = bytearray(path.read_bytes())
    data[100:132] = bytes(32)
    path.write_bytes(bytes(data))
    caplog.clear()
    build_engine(resolve_model("fast"), "rtx", PROFILE, folder=tmp_path)
    assert "damaged" in caplog.text
    assert cache.reason_to_rebuild(path, cache.EngineKey(**{**meta["key"], "profile": PROFILE})) is None

    side = path.with_suffix(".json")
    side.write_text(json.dumps({**json.loads(side.read_text()), "key": {"flavour": "other"}}))
    caplog.clear()
    build_engine(resolve_model("fast"), "rtx", PROFILE, folder=tmp_path)
    assert "another flavour" in caplog.text


@needs_rtx
@pytest.mark.slow
def test_build_engine_command_takes_its_profile_from_the_camera_config(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("camera: {width: 320, height: 180}\n")
    proc = cli("build-engine", "--flavour", "rtx", "--config", str(cfg), "--cache-dir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "[[80, 45], [320, 180], [960, 540]]" in proc.stdout
    assert "target portable" in proc.stdout and len(list(tmp_path.glob("*.engine"))) == 1


@needs_rtx
def test_the_runtime_uses_an_engine_built_for_the_live_camera_size(tmp_path, caplog):
    """`build-engine --opt 1280x720` for a 720p camera: the runtime must find that engine for a
    1280x720 input (it used to look only for the default 640x360 profile)."""
    from vcam_sr.engines.build import build_engine, engine_for

    caplog.set_level(logging.INFO)
    built = build_engine(resolve_model("fast"), "rtx", ((320, 180), (1280, 720), (1920, 1080)),
                         folder=tmp_path)
    caplog.clear()
    assert engine_for(resolve_model("fast"), "rtx", (1280, 720), tmp_path) == built
    assert "engine cache hit for 1280x720 input" in caplog.text
    small = engine_for(resolve_model("fast"), "rtx", (160, 90), tmp_path)  # not covered
    assert small != built and cache.read_metadata(small)["key"]["profile"][1] == [160, 90]


@pytest.mark.parametrize("args, words", [
    (["--model", "{tmp}/bad.onnx"], ["bad.onnx", "not a readable ONNX"]),
    (["--model", "{tmp}/bad.pt"], ["bad.pt", "damaged"]),
    (["--model", "{tmp}/missing.pt"], ["missing.pt", "does not exist"]),
    (["--cache-dir", "{tmp}/bad.pt"], ["engine cache", "--cache-dir"]),
    (["--min", "1280x720", "--max", "640x360"], ["min <= opt <= max"]),
    (["--opt", "wide"], ["WIDTHxHEIGHT"]),
])
@pytest.mark.slow
def test_build_engine_bad_input_gets_one_sentence(tmp_path, args, words):
    (tmp_path / "bad.onnx").write_bytes(b"junk")
    (tmp_path / "bad.pt").write_bytes(b"junk")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    proc = cli("build-engine", "--flavour", "rtx", "--cache-dir", str(tmp_path / "cache"), *args)
    if args[0] == "--opt":  # argparse's own usage error
        assert proc.returncode == 2 and "WIDTHxHEIGHT" in proc.stderr and "Traceback" not in proc.stderr
    else:
        assert_clean_error(proc, *words)


def test_build_engine_without_the_trt_extra_says_which_extra_even_for_help():
    """The plain install (`pip install .`) has no onnx: stand in for it by hiding the module."""
    code = ("import sys; sys.modules['onnx'] = None\n"
            "from vcam_sr.cli import main\n"
            "sys.exit(main(sys.argv[1:]))")
    help_ = subprocess.run([sys.executable, "-c", code, "build-engine", "--help"], capture_output=True,
                           text=True, cwd=REPO)
    assert help_.returncode == 0 and "build-engine" in help_.stdout, help_.stderr
    assert_clean_error(subprocess.run([sys.executable, "-c", code, "build-engine"], capture_output=True,
                                      text=True, cwd=REPO), "pip install 'vcam-sr[trt]'")


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="standard TensorRT is installed")
def test_standard_tensorrt_missing_is_a_clear_error(tmp_path):
    assert_clean_error(cli("build-engine", "--flavour", "tensorrt", "--cache-dir", str(tmp_path)),
                       "tensorrt")


def test_tensorrt_backend_without_a_gpu_is_a_clear_error():
    if tensorrt_ready():
        pytest.skip("a GPU with TensorRT is present")
    assert_clean_error(cli("--source", "test", "--backend", "tensorrt", "--sink", "null"),
                       "tensorrt", "GPU")


@pytest.mark.gpu
@pytest.mark.skipif(not tensorrt_ready(), reason="needs a CUDA GPU with TensorRT and cuda-python")
def test_tensorrt_backend_on_a_real_gpu_matches_the_cpu():
    frame = real_frames(1, 320, 180)[0]
    with create_upscaler("tensorrt", "fast") as gpu, create_upscaler("onnxruntime", "fast") as cpu:
        diff = np.abs(gpu.upscale(frame).astype(int) - cpu.upscale(frame).astype(int))
    assert diff.max() <= 4  # fp16 engine against fp32 CPU


def _cuda() -> bool:
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return torch.cuda.is_available()


@pytest.mark.gpu
@pytest.mark.skipif(not _cuda(), reason="needs torch with a CUDA GPU")
def test_torch_cuda_backend_with_graphs_matches_the_cpu():
    frames = real_frames(3, 320, 180)
    with create_upscaler("torch", "fast") as gpu, create_upscaler("onnxruntime", "fast") as cpu:
        assert gpu.name == "torch-cuda"
        for frame in frames:  # the same graph replays for each frame of one size
            diff = np.abs(gpu.upscale(frame).astype(int) - cpu.upscale(frame).astype(int))
            assert diff.max() <= 4
        assert len(gpu.graphs) == 1
