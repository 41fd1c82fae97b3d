"""vcam-sr: real-time 2x super-resolution from a camera to a virtual camera.

Scripting use mirrors the CLI:

    import vcam_sr
    source = vcam_sr.open_source("test", 320, 180)
    upscaler = vcam_sr.create_upscaler("auto", "auto")  # backend, model
    with vcam_sr.Pipeline(source, upscaler, [vcam_sr.open_sink("file:out.mp4")], max_frames=90) as p:
        p.run()
"""
from vcam_sr.app import build_pipeline
from vcam_sr.config import Config, load_config
from vcam_sr.errors import VcamError
from vcam_sr.pipeline import Pipeline
from vcam_sr.sinks import open_sink
from vcam_sr.sources import open_source
from vcam_sr.upscalers import create_upscaler

__version__ = "0.1.0"
__all__ = ["Config", "Pipeline", "VcamError", "build_pipeline", "create_upscaler", "load_config",
           "open_sink", "open_source"]
