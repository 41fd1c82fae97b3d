"""ONNX Runtime backend: CPU, or the CUDA / TensorRT execution providers when installed."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from vcam_sr.errors import VcamError
from vcam_sr.upscalers.base import Upscaler, to_hwc_uint8, to_nchw_float


class OnnxRuntimeUpscaler(Upscaler):
    name = "onnxruntime"

    def __init__(self, model_path: Path, providers: list[str], threads: int = 0):
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads  # 0: ONNX Runtime uses the physical cores
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self.session = ort.InferenceSession(str(model_path), opts, providers=providers)
        except Exception as exc:  # ORT raises its own Fail/InvalidGraph/... types
            first_line = str(exc).strip().splitlines()[0][:200]
            raise VcamError(f"model file {model_path} could not be loaded by ONNX Runtime "
                            f"({first_line}); re-export it with engine_build/export.py or use a "
                            "bundled preset such as --model fast") from None
        self.model_path, self.threads = Path(model_path), threads
        self.input_name = self.session.get_inputs()[0].name
        if self.session.get_inputs()[0].type != "tensor(float)":
            raise VcamError(f"model {model_path} takes {self.session.get_inputs()[0].type}, not "
                            "float32 NCHW RGB; export it with engine_build/export.py")

    def upscale(self, frame: np.ndarray) -> np.ndarray:
        out = self.session.run(None, {self.input_name: to_nchw_float(frame)})[0]
        return to_hwc_uint8(out)

    def describe(self) -> str:
        return (f"onnxruntime {ort.__version__}, model {self.model_path.name}, providers "
                f"{self.session.get_providers()}, threads {self.threads or 'auto'}")
