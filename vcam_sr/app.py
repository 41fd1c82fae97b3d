"""Build a Pipeline from a Config: the glue between options and the parts."""
from __future__ import annotations

import logging
from pathlib import Path

from vcam_sr.config import Config
from vcam_sr.errors import VcamError
from vcam_sr.pipeline import Pipeline
from vcam_sr.sinks import open_sink
from vcam_sr.sources import open_source
from vcam_sr.upscalers import create_upscaler

log = logging.getLogger("vcam_sr")


def _check_not_overwriting_input(cfg: Config) -> None:
    if not isinstance(cfg.source, str) or cfg.source == "test" or "://" in cfg.source:
        return
    for spec in cfg.sinks:
        if spec.startswith("file:") and Path(spec[5:]).resolve() == Path(cfg.source).resolve():
            raise VcamError(f"the output file {spec[5:]} is the input video; choose another output name")


def build_pipeline(cfg: Config, realtime: bool = True) -> Pipeline:
    """Open source, upscaler and sinks as configured; closes what was opened if a later part fails."""
    _check_not_overwriting_input(cfg)
    sinks = [open_sink(s, cfg.virtualcam.backend, cfg.virtualcam.device, cfg.window.side_by_side,
                       realtime) for s in cfg.sinks]
    cam = cfg.camera
    source = open_source(cfg.source, cam.width, cam.height, cam.fps, cam.mjpg, cfg.loop,
                         cfg.degrade, cfg.degrade_jpeg, realtime)
    try:
        upscaler = create_upscaler(cfg.backend, cfg.model, cfg.threads, cfg.max_fps or source.fps)
    except BaseException:
        source.close()
        raise
    log.info("source: %s", source.describe())
    return Pipeline(source, upscaler, sinks, fps=cfg.max_fps, max_frames=cfg.frames,
                    stats_every=1.0 if cfg.stats else None, realtime=realtime, progress=not realtime)
