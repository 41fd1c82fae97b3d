"""vcam-sr: real-time 2x super-resolution from a camera to a virtual camera.

Scripting use mirrors the CLI:

    import vcam_sr
    source = vcam_sr.open_source("test", 320, 180)
    upscaler = vcam_sr.create_upscaler("auto", "auto")  # backend, model
    with vcam_sr.Pipeline(source, upscaler, [vcam_sr.open_sink("file:out.mp4")], max_frames=90) as p:
        p.run()
"""
import importlib

__version__ = "0.1.0"
# name -> module: imported on first use, so `vcam-sr` (and a Ctrl-C during its start-up) does
# not pay for OpenCV, PyAV and ONNX Runtime before it knows what it will run.
_API = {"Config": "vcam_sr.config", "load_config": "vcam_sr.config", "VcamError": "vcam_sr.errors",
        "Pipeline": "vcam_sr.pipeline", "build_pipeline": "vcam_sr.controller",
        "open_sink": "vcam_sr.sinks", "open_source": "vcam_sr.sources",
        "create_upscaler": "vcam_sr.upscalers"}
__all__ = sorted(_API)


def __getattr__(name: str):
    if name not in _API:
        raise AttributeError(f"module 'vcam_sr' has no attribute {name!r}")
    return getattr(importlib.import_module(_API[name]), name)
