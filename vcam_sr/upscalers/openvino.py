"""OpenVINO backend (the `openvino` package): Intel and AMD CPUs, with bf16 where the CPU has
native bf16 units (AMX, AVX512-BF16), and Intel's integrated GPUs and NPUs. The model is
compiled once per input size (a static shape lets OpenVINO pick its fastest kernels)."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from vcam_sr.contract import CONDITION
from vcam_sr.errors import VcamError
from vcam_sr.upscalers.condition import condition_vector
from vcam_sr.upscalers.base import Upscaler, to_model_input

log = logging.getLogger("vcam_sr.openvino")
PRECISIONS = ("auto", "bf16", "f32", "f16")


def devices() -> list[str]:
    """The OpenVINO devices here (CPU, GPU, NPU, ...), [] without the openvino package."""
    try:
        import openvino as ov
    except ImportError:
        return []
    return list(ov.Core().available_devices)


def native_bf16(core=None) -> bool:
    """Whether the CPU computes bf16 natively (OpenVINO lists BF16 among its capabilities only then)."""
    import openvino as ov

    core = core or ov.Core()
    return "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def choose_precision(device: str, precision: str, bf16_native: bool) -> str:
    """The inference precision to ask for: bf16 on CPUs that have it natively (with the net's
    tail in f32, within 0.02 dB of f32 on every set and clip condition measured), f32 on other
    CPUs, f16 on GPUs and NPUs."""
    if precision != "auto":
        return precision
    if device.startswith("CPU"):
        return "bf16" if bf16_native else "f32"
    return "f16"


class OpenVinoUpscaler(Upscaler):
    name = "openvino"

    def __init__(self, model_path: Path, device: str = "CPU", precision: str = "auto", threads: int = 0):
        try:
            import openvino as ov
        except ImportError:
            raise VcamError("the openvino backend needs the openvino package; run pip install "
                            "'vcam-sr[openvino]'") from None
        if precision not in PRECISIONS:
            raise VcamError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
        self.core = ov.Core()
        if device.split(".")[0] not in {d.split(".")[0] for d in self.core.available_devices}:
            raise VcamError(f"OpenVINO has no {device} device here (it has "
                            f"{', '.join(self.core.available_devices)}); choose one of those")
        try:
            self.model = self.core.read_model(str(model_path))
        except RuntimeError as exc:
            raise VcamError(f"model file {model_path} could not be loaded by OpenVINO "
                            f"({str(exc).strip().splitlines()[0][:200]}); use a bundled model") from None
        self.model_path, self.device, self.threads = Path(model_path), device, threads
        self.precision = choose_precision(device, precision, device.startswith("CPU") and native_bf16(self.core))
        self.input_name = self.model.inputs[0].get_any_name()
        self.conditioned = any(CONDITION in i.get_names() for i in self.model.inputs)
        self.compiled: dict[tuple[int, int], tuple] = {}  # input size -> (body, tail) infer requests

    def _requests(self, h: int, w: int) -> tuple:
        """(body, tail) infer requests for this input size; tail is None when the whole net runs
        at the chosen precision."""
        if (h, w) not in self.compiled:
            model = self.model.clone()
            shapes = {self.input_name: [1, 1, h, w]}
            if self.conditioned:
                shapes[CONDITION] = [1, int(self.model.input(CONDITION).get_partial_shape()[1].get_length())]
            model.reshape(shapes)
            config = {"INFERENCE_PRECISION_HINT": self.precision, "PERFORMANCE_HINT": "LATENCY"}
            if self.threads and self.device.startswith("CPU"):
                config["INFERENCE_NUM_THREADS"] = self.threads
            parts = self._split(model) if self.precision in ("bf16", "f16") else None
            if parts is None:
                self.compiled[(h, w)] = (self.core.compile_model(model, self.device, config).create_infer_request(),
                                         None)
            else:
                exact = {**config, "INFERENCE_PRECISION_HINT": "f32"}
                self.compiled[(h, w)] = (self.core.compile_model(parts[0], self.device, config).create_infer_request(),
                                         self.core.compile_model(parts[1], self.device, exact).create_infer_request())
        return self.compiled[(h, w)]

    def _split(self, model) -> tuple | None:
        """The net's body, and its tail in f32: the anchor (a convolution of the input itself),
        the sum and the pixel shuffle. In bf16 the input and the sum keep 8 significant bits,
        about a code value: whole-net bf16 moved mean Y by +0.26 and cost 0.15 dB on clean
        video; split, the shift is 0.001 for a quarter more time. None for a net of another
        shape (it then runs whole)."""
        import openvino as ov

        lr = model.input(self.input_name).get_node().get_friendly_name()
        for op in reversed(model.get_ordered_ops()):  # the last such sum: the first conv's bias is one too
            if op.get_type_name() != "Add":
                continue
            sources = [op.input_value(i).get_node() for i in range(2)]
            anchors = [i for i, s in enumerate(sources) if s.get_type_name() == "Convolution"
                       and s.input_value(0).get_node().get_friendly_name() == lr]
            if len(anchors) != 1:
                continue
            body = ov.Model([op.input_value(1 - anchors[0])], model.get_parameters(), "body")
            tail_model = model.clone()
            add = next(o for o in tail_model.get_ordered_ops() if o.get_friendly_name() == op.get_friendly_name())
            residual = ov.opset13.parameter(add.input_value(1 - anchors[0]).get_partial_shape(), ov.Type.f32,
                                            name="residual")
            add.input(1 - anchors[0]).replace_source_output(residual.output(0))
            lr_input = next(p for p in tail_model.get_parameters() if p.get_friendly_name() == lr)
            return body, ov.Model(tail_model.get_results(), [lr_input, residual], "tail")
        return None

    def upscale_y(self, y: np.ndarray, condition: np.ndarray | None = None) -> np.ndarray:
        body, tail = self._requests(*y.shape)
        feed = {self.input_name: to_model_input(y)}
        if self.conditioned:
            feed[CONDITION] = condition if condition is not None else condition_vector(y)[None]
        # The inputs are read in place, and the body's output, which only the tail reads, is not
        # copied out: 2 ms a frame at 960x540.
        out = body.infer(feed, share_inputs=True, share_outputs=tail is not None)[0]
        if tail is not None:
            out = tail.infer({self.input_name: feed[self.input_name], "residual": out}, share_inputs=True)[0]
        return out[0, 0]

    def describe(self) -> str:
        import openvino as ov

        return (f"openvino {ov.__version__.split('-')[0]}, model {self.model_path.name}, {self.device} "
                f"{self.precision}, threads {self.threads or 'auto'}")
