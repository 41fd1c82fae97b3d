"""Trained weights -> fp16 ONNX -> serialized TensorRT engine (`vcam-sr build-engine` is the
command line over this, vcam_sr/build_engine_command.py).

Two flavours with the same Python API shape:
  rtx       TensorRT-RTX (pip install tensorrt-rtx-cu12): builds a portable engine ahead of time,
            even without a GPU; it is specialised just in time on the user's RTX GPU.
  tensorrt  TensorRT (pip install tensorrt, NVIDIA's index): builds for the GPU it runs on.
Both get a strongly typed fp16 network from the fp16 ONNX (TensorRT 11 has no FP16 flag);
TensorRT 10 gets the fp32 ONNX plus BuilderFlag.FP16. The engine keeps the model contract's
float32 luma input and output (fp16 inside). Built engines are cached (see cache.py).
"""
from __future__ import annotations

import importlib
import importlib.util
import logging
import sys
import time
from pathlib import Path

from vcam_sr.engines import cache
from vcam_sr.atomic import atomic_path
from vcam_sr.contract import CONDITION, INPUT, OUTPUT
from vcam_sr.errors import VcamError

log = logging.getLogger("vcam_sr.engines")
MODULES = {"rtx": "tensorrt_rtx", "tensorrt": "tensorrt"}


def import_flavour(flavour: str = "auto"):
    """(flavour name, imported module). auto prefers standard TensorRT (data-centre GPUs), then RTX."""
    order = ["tensorrt", "rtx"] if flavour == "auto" else [flavour]
    for name in order:
        if name not in MODULES:
            raise VcamError(f"unknown TensorRT flavour {name!r}; choose auto, rtx or tensorrt")
        if importlib.util.find_spec(MODULES[name]) is not None:
            return name, importlib.import_module(MODULES[name])
    raise VcamError("no TensorRT is installed; run pip install tensorrt-rtx-cu12 (RTX GPUs, builds "
                    "without a GPU) or install tensorrt from NVIDIA's index (data-centre GPUs)")


def gpu_target() -> str | None:
    """'<name> sm<major><minor>' of CUDA device 0, or None without a usable GPU."""
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        return None
    err, prop = cudart.cudaGetDeviceProperties(0)
    if err != cudart.cudaError_t.cudaSuccess:
        return None
    name = prop.name.decode() if isinstance(prop.name, bytes) else str(prop.name)
    return f"{name.strip(chr(0))} sm{prop.major}{prop.minor}"


def default_profile(width: int, height: int) -> tuple:
    """min / opt / max input sizes around the camera size."""
    return ((max(16, width // 4), max(16, height // 4)), (width, height),
            (max(width, 960), max(height, 540)))


def progress_monitor(trt):
    """A TensorRT IProgressMonitor: one updating line on a terminal, top-level phases in logs."""
    tty = sys.stderr.isatty()

    class Monitor(trt.IProgressMonitor):
        def __init__(self):
            trt.IProgressMonitor.__init__(self)
            self.steps = {}

        def phase_start(self, phase_name, parent_phase, num_steps):
            self.steps[phase_name] = num_steps
            if parent_phase is None and not tty:
                log.info("building engine: %s", phase_name)

        def step_complete(self, phase_name, step):
            if tty:
                sys.stderr.write(f"\rbuilding engine: {phase_name} {step + 1}/{self.steps[phase_name]}\033[K")
            return True  # False would cancel the build

        def phase_finish(self, phase_name):
            self.steps.pop(phase_name, None)
            if tty and not self.steps:
                sys.stderr.write("\n")

    return Monitor()


def require_build_tools() -> None:
    """One sentence instead of an ImportError when the `trt` extra is not installed."""
    missing = [m for m in ("onnx", "onnxconverter_common") if importlib.util.find_spec(m) is None]
    if missing:
        raise VcamError(f"building engines needs {' and '.join(missing)}, which the plain install "
                        "leaves out; run pip install 'vcam-sr[trt]'")


def check_profile(profile: tuple) -> None:
    (w0, h0), (w1, h1), (w2, h2) = profile
    if not (w0 <= w1 <= w2 and h0 <= h1 <= h2):
        raise VcamError(f"the engine profile needs min <= opt <= max in both width and height, not "
                        f"min {w0}x{h0}, opt {w1}x{h1}, max {w2}x{h2}; fix --min, --opt or --max")


def _network_onnx(onnx_path: Path, strongly_typed: bool) -> bytes:
    """The graph to parse: fp16 inside for strongly typed builds (float32 at its edges), else fp32."""
    import onnx

    try:
        model = onnx.load(str(onnx_path))
    except Exception as exc:  # protobuf's DecodeError and friends
        raise VcamError(f"{onnx_path} is not a readable ONNX model ({type(exc).__name__}); "
                        "re-export it with engine_build/export.py") from None
    if strongly_typed:
        from onnxconverter_common import float16

        traced_casts = {n.name for n in model.graph.node if n.op_type == "Cast"}
        model = float16.convert_float_to_float16(model, keep_io_types=True)
        _cast_inside_to_fp16(model, traced_casts)
    return model.SerializeToString()


def _cast_inside_to_fp16(model, names: set[str]) -> None:
    """The converter keeps the model's own casts to float32 (the condition planes' `.to()` before
    they join the image): inside an fp16 graph they must cast to fp16, or the strongly typed Concat
    refuses them. The casts the converter added around fp32-only ops are left alone."""
    from onnx import TensorProto

    outputs = {o.name for o in model.graph.output}
    inner = [n for n in model.graph.node if n.name in names and not outputs.intersection(n.output)]
    for attr in (a for n in inner for a in n.attribute if a.name == "to"):
        if attr.i == TensorProto.FLOAT:
            attr.i = TensorProto.FLOAT16
    retyped = {o for n in inner for o in n.output}
    for info in model.graph.value_info:
        if info.name in retyped and info.type.tensor_type.elem_type == TensorProto.FLOAT:
            info.type.tensor_type.elem_type = TensorProto.FLOAT16


def _target(flavour: str) -> str:
    if flavour == "rtx":
        return "portable"  # AOT engines run on any supported RTX GPU; JIT specialises there
    target = gpu_target()
    if target is None:
        raise VcamError("standard TensorRT builds an engine for the GPU it runs on and no CUDA GPU "
                        "was found; use --flavour rtx to build a portable engine without a GPU")
    return target


def engine_for(onnx_path: str | Path, flavour: str = "auto", size: tuple[int, int] | None = None,
               folder: Path | None = None) -> Path:
    """An engine for a live input of `size` (w, h): any valid cached one whose profile covers
    it (such as one `vcam-sr build-engine --opt 1280x720` made), else one built around it."""
    require_build_tools()
    onnx_path = Path(onnx_path)
    if size and onnx_path.is_file():
        name, trt = import_flavour(flavour)
        found = cache.find_covering(cache.usable_folder(folder), name, trt.__version__,
                                    _target(name), cache.sha256(onnx_path), size)
        if found:
            log.info("engine cache hit for %dx%d input: %s", *size, found)
            return found
    return build_engine(onnx_path, flavour, default_profile(*size) if size else None, folder=folder)


def build_engine(onnx_path: str | Path, flavour: str = "auto", profile: tuple | None = None,
                 workspace_mb: int = 1024, folder: Path | None = None, force: bool = False) -> Path:
    """Return the path of a cached or freshly built engine for `onnx_path`."""
    require_build_tools()
    onnx_path = Path(onnx_path)
    if not onnx_path.is_file():
        raise VcamError(f"ONNX model {onnx_path} does not exist; export one with engine_build/export.py")
    flavour, trt = import_flavour(flavour)
    profile = tuple(tuple(s) for s in (profile or default_profile(640, 360)))
    check_profile(profile)
    key = cache.EngineKey(flavour, trt.__version__, _target(flavour), cache.sha256(onnx_path), profile)
    folder = cache.usable_folder(folder)
    path = cache.engine_path(key, onnx_path.stem, folder)
    reason = "--force was given" if force else cache.reason_to_rebuild(path, key)
    if reason is None:
        log.info("engine cache hit: %s", path)
        return path
    log.info("building engine (%s): %s, %s %s, target %s", reason, onnx_path.name, flavour,
             trt.__version__, key.target)

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    trt_major = int(trt.__version__.split(".")[0])
    strongly_typed = flavour == "rtx" or trt_major >= 11
    flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED) if strongly_typed else 0
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(_network_onnx(onnx_path, strongly_typed)):
        errors = "; ".join(parser.get_error(i).desc() for i in range(parser.num_errors))
        raise VcamError(f"TensorRT could not parse {onnx_path} ({errors}); re-export it")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mb << 20)
    if not strongly_typed:
        config.set_flag(trt.BuilderFlag.FP16)
    (w0, h0), (w1, h1), (w2, h2) = profile
    opt_profile = builder.create_optimization_profile()
    opt_profile.set_shape(INPUT, (1, 1, h0, w0), (1, 1, h1, w1), (1, 1, h2, w2))
    if any(network.get_input(i).name == CONDITION for i in range(network.num_inputs)):
        k = network.get_input(1).shape[1]
        opt_profile.set_shape(CONDITION, (1, k), (1, k), (1, k))
    config.add_optimization_profile(opt_profile)
    timing_path = folder / f"timing-{flavour}-{trt.__version__}.cache"
    if flavour == "tensorrt":  # TensorRT-RTX tunes just in time and has no timing cache
        timing = config.create_timing_cache(timing_path.read_bytes() if timing_path.exists() else b"")
        config.set_timing_cache(timing, ignore_mismatch=True)
    config.progress_monitor = progress_monitor(trt)

    start = time.monotonic()
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise VcamError(f"TensorRT failed to build an engine from {onnx_path}; its builder's own "
                        "messages above say why (often: give it more --workspace-mb)")
    seconds = time.monotonic() - start
    with atomic_path(path) as tmp:
        tmp.write_bytes(serialized)
    if flavour == "tensorrt":
        timing_path.write_bytes(bytes(config.get_timing_cache().serialize()))
    cache.record(path, key, {"onnx": onnx_path.name, "input": INPUT, "output": OUTPUT,
                             "precision": "fp16", "build_seconds": round(seconds, 2),
                             "bytes": path.stat().st_size})
    log.info("built %s engine in %.1f s: %s (%.0f KB), profile min %s opt %s max %s, target %s",
             flavour, seconds, path, path.stat().st_size / 1024, *profile, key.target)
    return path
