"""ONNX Runtime backend: CPU, or the CUDA / TensorRT execution providers when installed."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from vcam_sr.errors import VcamError
from vcam_sr.contract import CONDITION
from vcam_sr.upscalers.condition import FEATURES, condition_vector
from vcam_sr.upscalers.base import Upscaler, to_model_input


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
                            f"({first_line}); re-export it with engine_build/export.py, or use a "
                            "bundled model (vcam-sr models lists them)") from None
        self.model_path, self.threads = Path(model_path), threads
        self.input_name = self.session.get_inputs()[0].name
        self._check_contract()
        self.conditioned = len(self.session.get_inputs()) == 2

    def _check_contract(self) -> None:
        """One float32 N x 1 x H x W luma input of any size (2x and finite: check_contract)."""
        what, inputs = f"model {self.model_path}", self.session.get_inputs()
        if inputs[0].type != "tensor(float)" or len(inputs) > 2 or len(inputs) == 2 and (
                inputs[1].name != CONDITION or inputs[1].shape[1:] != [len(FEATURES)]):
            raise VcamError(f"{what} takes {', '.join(f'{i.name} {i.type}' for i in inputs)}, not a "
                            f"float32 luma plane (and {CONDITION}, N x {len(FEATURES)}); export it "
                            "with engine_build/export.py")
        shape = inputs[0].shape
        if len(shape) != 4 or shape[1] != 1:
            raise VcamError(f"{what} takes input of shape {shape}, not N x 1 x H x W: vcam-sr runs "
                            "luma models (an RGB model from an older vcam-sr: re-export its "
                            "checkpoint with engine_build/export.py, which converts it)")
        if isinstance(shape[2], int) or isinstance(shape[3], int):
            raise VcamError(f"{what} takes only {shape[3]}x{shape[2]} frames; re-export it with a "
                            "dynamic height and width (engine_build/export.py does)")

    def upscale_y(self, y: np.ndarray, condition: np.ndarray | None = None) -> np.ndarray:
        feed = {self.input_name: to_model_input(y)}
        if self.conditioned:
            feed[CONDITION] = condition if condition is not None else condition_vector(y)[None]
        return self.session.run(None, feed)[0][0, 0]

    def describe(self) -> str:
        return (f"onnxruntime {ort.__version__}, model {self.model_path.name}, providers "
                f"{self.session.get_providers()}, threads {self.threads or 'auto'}")
