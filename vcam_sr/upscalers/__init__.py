"""Inference backends behind one interface, and the one place that chooses between them.

`auto` order: TensorRT (either flavour, on a CUDA GPU) > onnxruntime with a GPU execution
provider > torch on CUDA > onnxruntime on the CPU > torch on the CPU > bicubic. The choice, and
why, is logged.
"""
from __future__ import annotations

import ctypes.util
import functools
import importlib.util
import logging
from pathlib import Path

from vcam_sr.errors import VcamError
from vcam_sr.models import resolve_model
from vcam_sr.upscalers.base import Upscaler
from vcam_sr.upscalers.bicubic import BicubicUpscaler

log = logging.getLogger("vcam_sr.backend")
GPU_PROVIDERS = ["TensorrtExecutionProvider", "CUDAExecutionProvider"]


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


def tensorrt_ready() -> bool:
    """A TensorRT flavour is installed and cuda-python sees a GPU."""
    if not nvidia_driver_present() or not any(importlib.util.find_spec(m) for m in ("tensorrt", "tensorrt_rtx")):
        return False
    from engine_build.build import gpu_target

    return gpu_target() is not None


def _tensorrt(model: str) -> Upscaler:
    from vcam_sr.upscalers.tensorrt import load_tensorrt

    return load_tensorrt(resolve_model(model, ".onnx"))


def _onnxruntime(model: str, threads: int, providers: list[str]) -> Upscaler:
    from vcam_sr.upscalers.onnxruntime import OnnxRuntimeUpscaler

    return OnnxRuntimeUpscaler(resolve_model(model, ".onnx"), providers, threads)


def _torch(model: str, threads: int, device: str) -> Upscaler:
    from vcam_sr.upscalers.torch import TorchUpscaler

    return TorchUpscaler(resolve_model(model, ".pt"), device, threads)


def create_upscaler(backend: str = "auto", model: str = "fast", threads: int = 0) -> Upscaler:
    """Build the requested backend, or with 'auto' the best one available on this machine.
    Each branch probes only what it needs: bicubic never touches onnxruntime or torch."""
    if backend == "bicubic":
        chosen, reason = BicubicUpscaler(), "requested"
    elif backend == "tensorrt":
        if not tensorrt_ready():
            raise VcamError("the tensorrt backend needs a CUDA GPU, cuda-python and TensorRT; run "
                            "pip install 'vcam-sr[trt]' on a machine with an NVIDIA GPU")
        chosen, reason = _tensorrt(model), "requested"
    elif backend == "onnxruntime":
        providers = ort_providers()
        if not providers:
            raise VcamError("the onnxruntime backend needs the onnxruntime package; "
                            "run pip install onnxruntime")
        chosen, reason = _onnxruntime(model, threads, providers), "requested"
    elif backend == "torch":
        device = torch_device()
        if device is None:
            raise VcamError("the torch backend needs PyTorch; run pip install 'vcam-sr[train]' "
                            "or choose --backend onnxruntime")
        chosen, reason = _torch(model, threads, device), "requested"
    elif backend == "auto":
        chosen, reason = _auto(model, threads)
    else:
        raise VcamError(f"unknown backend {backend!r}; choose auto, tensorrt, onnxruntime, torch or bicubic")
    log.info("backend: %s (%s)", chosen.describe(), reason)
    return chosen


def _auto(model: str, threads: int) -> tuple[Upscaler, str]:
    if tensorrt_ready():
        return _tensorrt(model), "auto: TensorRT and a CUDA GPU are present"
    providers, device = ort_providers(), torch_device()
    if providers and providers[0] in GPU_PROVIDERS:
        return _onnxruntime(model, threads, providers), f"auto: onnxruntime has {providers[0]}"
    if device == "cuda":
        return _torch(model, threads, device), "auto: CUDA GPU via torch, no GPU execution provider in onnxruntime"
    if providers:
        return _onnxruntime(model, threads, providers), "auto: no CUDA GPU; onnxruntime on the CPU"
    if device == "cpu":
        return _torch(model, threads, device), "auto: onnxruntime missing; torch on the CPU"
    return BicubicUpscaler(), "auto: neither onnxruntime nor torch is installed"


__all__ = ["Upscaler", "create_upscaler", "ort_providers"]
