"""Inference backends behind one interface, and the one place that chooses between them.

`auto` order: TensorRT (either flavour, on a CUDA GPU) > onnxruntime with a GPU execution
provider (CUDA, DirectML on Windows, CoreML on macOS) > OpenVINO on an Intel GPU or NPU > torch
on CUDA > on the CPU, whichever of onnxruntime and OpenVINO (bf16 where the CPU has it) is
faster on the live frame size (`auto` models time them) > torch on the CPU > bicubic. The
choice, and why, is logged.
"""
from __future__ import annotations

import ctypes.util
import functools
import importlib.util
import logging
from pathlib import Path
from typing import Callable

from vcam_sr.errors import VcamError
from vcam_sr.models import AUTO, resolve_model, shipped
from vcam_sr.upscalers.base import Upscaler, check_contract
from vcam_sr.upscalers.bicubic import BicubicUpscaler

log = logging.getLogger("vcam_sr.backend")
GPU_PROVIDERS = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "DmlExecutionProvider",
                 "CoreMLExecutionProvider"]
BACKENDS = ("auto", "tensorrt", "onnxruntime", "openvino", "torch", "bicubic")


def ort_providers() -> list[str]:
    """The execution providers the installed onnxruntime offers, best first (CPU last)."""
    if importlib.util.find_spec("onnxruntime") is None:
        return []
    import onnxruntime as ort

    available = ort.get_available_providers()
    return [p for p in GPU_PROVIDERS if p in available] + ["CPUExecutionProvider"]


@functools.cache
def nvidia_driver_present() -> bool:
    """Whether an NVIDIA driver is visible, checked without importing any CUDA library.
    Cached: find_library runs ldconfig (~20 ms), and start-up and bench ask several times."""
    return Path("/proc/driver/nvidia").exists() or ctypes.util.find_library("cuda") is not None


def torch_device() -> str | None:
    """'cuda', 'cpu', or None when torch is not installed. torch is imported only where an
    NVIDIA driver exists, so choosing a CPU backend never pays for (or depends on) torch."""
    if importlib.util.find_spec("torch") is None:
        return None
    if not nvidia_driver_present():
        return "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def openvino_devices() -> list[str]:
    """OpenVINO's devices here, [] without the openvino package (imported only if installed)."""
    if importlib.util.find_spec("openvino") is None:
        return []
    from vcam_sr.upscalers.openvino import devices

    return devices()


def cpu_backends() -> list[str]:
    """The CPU backends installed here, which auto times against each other."""
    return [b for b, ok in (("onnxruntime", bool(ort_providers())), ("openvino", "CPU" in openvino_devices())) if ok]


def tensorrt_ready() -> bool:
    """A TensorRT flavour is installed and cuda-python sees a GPU."""
    if not nvidia_driver_present() or not any(importlib.util.find_spec(m) for m in ("tensorrt", "tensorrt_rtx")):
        return False
    from vcam_sr.engines.build import gpu_target

    return gpu_target() is not None


def pick_backend(backend: str) -> tuple[str, str]:
    """(backend to build, why): checks that a requested backend can run here, or with 'auto'
    picks the best available one. Raises VcamError with the fix when it cannot."""
    if backend == "tensorrt" and not tensorrt_ready():
        raise VcamError("the tensorrt backend needs a CUDA GPU, cuda-python and TensorRT; run "
                        "pip install 'vcam-sr[trt]' on a machine with an NVIDIA GPU")
    if backend == "onnxruntime" and not ort_providers():
        raise VcamError("the onnxruntime backend needs the onnxruntime package; "
                        "run pip install onnxruntime")
    if backend == "torch" and torch_device() is None:
        raise VcamError("the torch backend needs PyTorch; run pip install 'vcam-sr[train]' "
                        "or choose --backend onnxruntime")
    if backend == "openvino" and not openvino_devices():
        raise VcamError("the openvino backend needs the openvino package; run pip install "
                        "'vcam-sr[openvino]' or choose --backend onnxruntime")
    if backend in BACKENDS[1:]:
        return backend, "requested"
    if backend != "auto":
        raise VcamError(f"unknown backend {backend!r}; choose {', '.join(BACKENDS)}")
    if tensorrt_ready():
        return "tensorrt", "auto: TensorRT and a CUDA GPU are present"
    providers, device = ort_providers(), torch_device()
    if providers and providers[0] in GPU_PROVIDERS:
        return "onnxruntime", f"auto: onnxruntime has {providers[0]}"
    accelerators = [d for d in openvino_devices() if d.split(".")[0] in ("GPU", "NPU")]
    if accelerators:
        return "openvino", f"auto: OpenVINO has the {accelerators[0]} device"
    if device == "cuda":
        return "torch", "auto: CUDA GPU via torch, no GPU execution provider in onnxruntime"
    if len(cpu_backends()) == 1:
        return cpu_backends()[0], f"auto: no GPU; {cpu_backends()[0]} on the CPU"
    if cpu_backends():
        return "cpu", f"auto: no GPU; {' or '.join(cpu_backends())} on the CPU, the faster on this input"
    if device == "cpu":
        return "torch", "auto: onnxruntime missing; torch on the CPU"
    return "bicubic", "auto: neither onnxruntime nor torch is installed"


def build_backend(backend: str, model: str | Path, threads: int = 0,
                  size: tuple[int, int] | None = None) -> Upscaler:
    """One picked backend (see pick_backend) running one model: a bundled name or a file,
    checked against the model contract before it is returned. `size` (w, h), the live input
    size where known, picks or builds a TensorRT engine whose profile covers it."""
    model = str(model)
    if backend == "tensorrt":
        from vcam_sr.upscalers.tensorrt import load_tensorrt

        path = resolve_model(model, ".onnx")
        upscaler = load_tensorrt(path, size)
    elif backend == "onnxruntime":
        from vcam_sr.upscalers.onnxruntime import OnnxRuntimeUpscaler

        path = resolve_model(model, ".onnx")
        upscaler = OnnxRuntimeUpscaler(path, ort_providers(), threads)
    elif backend == "openvino":
        from vcam_sr.upscalers.openvino import OpenVinoUpscaler

        path = resolve_model(model, ".onnx")
        accelerators = [d for d in openvino_devices() if d.split(".")[0] in ("GPU", "NPU")]
        upscaler = OpenVinoUpscaler(path, accelerators[0] if accelerators else "CPU", threads=threads)
    elif backend == "torch":
        from vcam_sr.upscalers.torch import TorchUpscaler

        path = resolve_model(model, ".pt")
        upscaler = TorchUpscaler(path, torch_device(), threads)
    else:
        return BicubicUpscaler()
    try:
        check_contract(upscaler, f"model {path}")
    except BaseException:
        upscaler.close()
        raise
    return upscaler


def builder(backend: str, threads: int = 0, size: tuple[int, int] | None = None) -> Callable[[str], Upscaler]:
    """model name -> Upscaler on a picked backend; for "cpu" (pick_backend's auto on a machine
    with no GPU), every CPU backend installed, the fastest on the live size running."""
    def build(model: str) -> Upscaler:
        if backend != "cpu":
            return build_backend(backend, model, threads, size)
        from vcam_sr.upscalers.auto import FastestBackend

        candidates = [build_backend(b, model, threads, size) for b in cpu_backends()]
        return candidates[0] if len(candidates) == 1 else FastestBackend(candidates)

    return build


def create_upscaler(backend: str = "auto", model: str = AUTO, threads: int = 0,
                    fps: float = 30.0, size: tuple[int, int] | None = None) -> Upscaler:
    """The requested backend (or with 'auto' the best one here) running `model`: a bundled
    name, a file, or 'auto', which picks among the shipped models per source and machine for
    a target of `fps` frames per second (upscalers/auto.py). `size` (w, h) is the live input
    size where known. The choice and why are logged."""
    name, reason = pick_backend(backend)
    build = builder(name, threads, size)
    if model != AUTO or name == "bicubic":
        chosen = build(model)
    else:
        from vcam_sr.upscalers.auto import AutoUpscaler

        models = shipped()
        if not models:
            raise VcamError("model auto found no bundled models; reinstall vcam-sr or pass --model "
                            "with an .onnx file")
        chosen = AutoUpscaler(models, lambda m: build(m.name), fps)
    log.info("backend: %s, %s (%s)", " or ".join(cpu_backends()) if name == "cpu" else name,
             chosen.describe(), reason)
    return chosen


__all__ = ["Upscaler", "build_backend", "builder", "create_upscaler", "ort_providers", "pick_backend"]
