"""Build a Pipeline from a Config: the glue between options and the parts."""
from __future__ import annotations

import logging
from typing import Sequence
from vcam_sr.config import Config
from engine_build.errors import VcamError
from engine_build.atomic import same_file
from vcam_sr.locations import local_file
from vcam_sr.pipeline import Pipeline
from vcam_sr.sinks import Sink, open_sink
from vcam_sr.sources import open_source
from vcam_sr.upscalers import create_upscaler

log = logging.getLogger("vcam_sr")


def _check_outputs(cfg: Config) -> None:
    """No file sink may write over the input (however either is spelled) or another sink's file."""
    source = local_file(cfg.source)
    outputs = [local_file(s) for s in cfg.sinks if s.startswith("file:") and len(s) > 5]
    for i, out in enumerate(outputs):
        if source is not None and same_file(out, source):
            raise VcamError(f"the output file {out} is the input video; choose another output name")
        if any(same_file(out, other) for other in outputs[:i]):
            raise VcamError(f"two file sinks write {out}; give each its own name")


def _never_ends(cfg: Config) -> bool:
    """A looped file, the test pattern, the screen and a camera deliver frames until stopped."""
    return cfg.loop or local_file(cfg.source) is None and "://" not in str(cfg.source)


def build_pipeline(cfg: Config, realtime: bool = True, extra_sinks: Sequence[Sink] = ()) -> Pipeline:
    """Open source, upscaler and sinks as configured (plus `extra_sinks`, such as the web page's
    preview); closes what was opened if a later part fails."""
    _check_outputs(cfg)
    if not realtime and cfg.frames is None and _never_ends(cfg):
        raise VcamError(f"source {cfg.source}{' looped' if cfg.loop else ''} never ends, so a "
                        "--no-realtime run of it could never finish; give --frames N")
    sinks = [open_sink(s, cfg.virtualcam.backend, cfg.virtualcam.device, cfg.window.side_by_side,
                       realtime, cfg.overwrite, cfg.keep_partial) for s in cfg.sinks] + list(extra_sinks)
    cam = cfg.camera
    source = open_source(cfg.source, cam.width, cam.height, cam.fps, cam.mjpg, cfg.loop,
                         cfg.degrade, cfg.degrade_jpeg, realtime, cfg.reconnect)
    try:
        upscaler = create_upscaler(cfg.backend, cfg.model, cfg.threads, cfg.max_fps or source.fps,
                                   (source.width, source.height))
    except BaseException:
        source.close()
        raise
    log.info("source: %s", source.describe())
    return Pipeline(source, upscaler, sinks, fps=cfg.max_fps, max_frames=cfg.frames,
                    stats_every=1.0 if cfg.stats else None, realtime=realtime, progress=not realtime)
