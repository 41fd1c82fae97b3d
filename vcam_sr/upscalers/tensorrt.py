"""TensorRT backend (TensorRT-RTX or standard TensorRT), written to NVIDIA's TRT 10+ API:
tensors bound by name (set_input_shape, set_tensor_address), execute_async_v3 on one CUDA
stream, pinned host buffers. The engine takes and returns float32 luma planes (fp16 inside).
CUDA memory comes from cuda-python."""
from __future__ import annotations

import ctypes
import logging
from pathlib import Path

import numpy as np

from vcam_sr.contract import CONDITION, INPUT, OUTPUT
from vcam_sr.errors import VcamError
from vcam_sr.upscalers.condition import FEATURES, condition_vector
from vcam_sr.upscalers.base import SCALE, Upscaler

log = logging.getLogger("vcam_sr.tensorrt")


def _cuda(result):
    """Unwrap a cuda-python (error, value...) tuple, raising on error."""
    from cuda.bindings import runtime as cudart

    err, *values = result
    if err != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"CUDA error {err}")
    return values[0] if len(values) == 1 else values


class EngineLoadError(RuntimeError):
    """The engine file could not be deserialised (stale, foreign or damaged): rebuild it."""


class TensorRTUpscaler(Upscaler):
    name = "tensorrt"

    def __init__(self, engine_path: Path, trt):
        from cuda.bindings import runtime as cudart

        self.cudart, self.trt = cudart, trt
        self.engine_path = Path(engine_path)
        self.runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engine = self.runtime.deserialize_cuda_engine(self.engine_path.read_bytes())
        if self.engine is None:
            raise EngineLoadError(f"{self.engine_path.name} could not be deserialised")
        self.context = self.engine.create_execution_context()
        self.stream = _cuda(cudart.cudaStreamCreate())
        self.min_shape, _, self.max_shape = self.engine.get_tensor_profile_shape(INPUT, 0)
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.conditioned = CONDITION in names
        self.size = None
        self._buffers: list = []

    def _allocate(self, h: int, w: int) -> None:
        self._free()
        n_in, n_out = h * w, h * w * SCALE * SCALE
        cudart, item = self.cudart, np.dtype(np.float32).itemsize
        self.d_in, self.d_out = _cuda(cudart.cudaMalloc(n_in * item)), _cuda(cudart.cudaMalloc(n_out * item))
        self.h_in = _cuda(cudart.cudaMallocHost(n_in * item))
        self.h_out = _cuda(cudart.cudaMallocHost(n_out * item))
        self._buffers = [("device", self.d_in), ("device", self.d_out), ("host", self.h_in), ("host", self.h_out)]
        self.in_view = np.ctypeslib.as_array((ctypes.c_float * n_in).from_address(self.h_in))
        self.out_view = np.ctypeslib.as_array((ctypes.c_float * n_out).from_address(self.h_out))
        self.context.set_input_shape(INPUT, (1, 1, h, w))
        self.context.set_tensor_address(INPUT, self.d_in)
        self.context.set_tensor_address(OUTPUT, self.d_out)
        if self.conditioned:
            n_cond = len(FEATURES) * item
            self.d_cond, self.h_cond = _cuda(cudart.cudaMalloc(n_cond)), _cuda(cudart.cudaMallocHost(n_cond))
            self._buffers += [("device", self.d_cond), ("host", self.h_cond)]
            self.cond_view = np.ctypeslib.as_array((ctypes.c_float * len(FEATURES)).from_address(self.h_cond))
            self.context.set_input_shape(CONDITION, (1, len(FEATURES)))
            self.context.set_tensor_address(CONDITION, self.d_cond)
        self.size, self.n_in, self.n_out = (h, w), n_in * item, n_out * item

    def upscale_y(self, y: np.ndarray, condition: np.ndarray | None = None) -> np.ndarray:
        h, w = y.shape
        if not (self.min_shape[2] <= h <= self.max_shape[2] and self.min_shape[3] <= w <= self.max_shape[3]):
            raise VcamError(f"a {w}x{h} frame is outside the engine's profile ({self.min_shape[3]}x"
                            f"{self.min_shape[2]} to {self.max_shape[3]}x{self.max_shape[2]}); rebuild it "
                            "with vcam-sr build-engine --min/--max")
        if (h, w) != self.size:
            self._allocate(h, w)
        cudart = self.cudart
        self.in_view[:] = y.reshape(-1)
        _cuda(cudart.cudaMemcpyAsync(self.d_in, self.h_in, self.n_in,
                                     cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, self.stream))
        if self.conditioned:
            self.cond_view[:] = (condition if condition is not None else condition_vector(y)[None]).reshape(-1)
            _cuda(cudart.cudaMemcpyAsync(self.d_cond, self.h_cond, self.cond_view.nbytes,
                                         cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, self.stream))
        if not self.context.execute_async_v3(self.stream):
            raise RuntimeError("TensorRT execution failed")
        _cuda(cudart.cudaMemcpyAsync(self.h_out, self.d_out, self.n_out,
                                     cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, self.stream))
        _cuda(cudart.cudaStreamSynchronize(self.stream))
        return self.out_view.reshape(h * SCALE, w * SCALE).copy()

    def _free(self) -> None:
        for kind, ptr in self._buffers:
            (self.cudart.cudaFree if kind == "device" else self.cudart.cudaFreeHost)(ptr)
        self._buffers = []

    def close(self) -> None:
        self._free()
        if getattr(self, "stream", None) is not None:
            self.cudart.cudaStreamDestroy(self.stream)
            self.stream = None

    def describe(self) -> str:
        return f"tensorrt {self.trt.__version__} ({self.trt.__name__}), engine {self.engine_path.name}, fp16"


def load_tensorrt(model_onnx: Path, size: tuple[int, int] | None = None,
                  flavour: str = "auto") -> TensorRTUpscaler:
    """Load a cached engine whose profile covers the live `size` (w, h), or build one around
    it on first use (logged); rebuild once if it will not load."""
    from vcam_sr.engines.build import build_engine, default_profile, engine_for, import_flavour

    _, trt = import_flavour(flavour)
    path = engine_for(model_onnx, flavour, size)
    try:
        return TensorRTUpscaler(path, trt)
    except EngineLoadError as exc:
        log.warning("rebuilding engine: %s", exc)
        profile = default_profile(*size) if size else None
        return TensorRTUpscaler(build_engine(model_onnx, flavour, profile, force=True), trt)
