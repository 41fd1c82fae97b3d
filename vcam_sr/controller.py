"""The background service: one live pipeline in its own thread, behind the small API that the
tray, the command line and the web page share (start, stop, switch_source, switch_model,
status), and the one place a pipeline is built from a Config. Switching source or model happens
between two frames: the virtual camera stays open."""
from __future__ import annotations

import logging
import threading
import time
from typing import Sequence

from vcam_sr.errors import VcamError
from vcam_sr.atomic import same_file
from vcam_sr.config import Config
from vcam_sr.locations import local_file
from vcam_sr.pipeline import Pipeline
from vcam_sr.sinks import Sink, open_sink
from vcam_sr.sources import open_source
from vcam_sr.sources.degrade import SimulatedLink
from vcam_sr.upscalers import create_upscaler

log = logging.getLogger("vcam_sr.controller")
STOPPED, STARTING, RUNNING, ERROR = "stopped", "starting", "running", "error"
LINK_OPTIONS = {"degrade", "degrade_jpeg"}  # a live run applies these to its source as it runs


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


class Controller:
    def __init__(self, cfg: Config, extra_sinks: Sequence[Sink] = (), realtime: bool = True,
                 log_errors: bool = True):
        """`extra_sinks` join the configured ones on every start (the web page's preview).
        `realtime=False` converts a file as fast as possible, every frame; `log_errors=False`
        is for a caller that prints the error sentence itself (the command line)."""
        self.cfg, self.extra_sinks = cfg, list(extra_sinks)
        self.realtime, self.log_errors = realtime, log_errors
        self.state, self.error = STOPPED, None
        self.last_run: Pipeline | None = None  # the latest run's pipeline (None if called off)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pipeline: Pipeline | None = None
        self._ready = threading.Event()
        self._stop_asked = threading.Event()

    # -- the API ----------------------------------------------------------------------------
    def start(self, wait: bool = False) -> None:
        """Start the pipeline in the background (a no-op while running). With `wait`, return
        once it runs or has failed; either way `status()` says which."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self.state, self.error = STARTING, None
            self._ready.clear()
            self._stop_asked = threading.Event()  # fresh, not clear(): a signal handler may set it
            self.last_run = None
            self._thread = threading.Thread(target=self._run, name="pipeline", daemon=True)
            self._thread.start()
        if wait:
            self._ready.wait()

    def stop(self, timeout: float = 20.0) -> None:
        """Stop and release camera, model and sinks; returns when they are released (or after
        `timeout`). A start still loading is called off."""
        self.request_stop()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        with self._lock:
            if self.state != ERROR and (thread is None or not thread.is_alive()):
                self.state = STOPPED

    def request_stop(self) -> None:
        """Ask the pipeline to stop and return at once; takes no lock, so a signal handler may
        call it. `_run` checks the flag after publishing its pipeline, so no stop is missed."""
        self._stop_asked.set()
        pipeline = self._pipeline
        if pipeline is not None:
            pipeline.stop()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the pipeline ends (its file or `frames` done, stopped, or failed), or
        for at most `timeout` seconds; True once it has ended."""
        with self._lock:
            thread = self._thread
        deadline = None if timeout is None else time.monotonic() + timeout
        while thread is not None and thread.is_alive():
            if deadline is not None and time.monotonic() >= deadline:
                return False
            thread.join(0.2)  # in slices: before Python 3.14 a bare join() defers Ctrl-C on Windows
        return True

    def switch_source(self, spec: int | str) -> None:
        """Read from another camera, file, stream, the screen or the test pattern."""
        self.cfg = Config.model_validate({**self.cfg.model_dump(), "source": spec})
        pipeline = self._running()
        if pipeline is not None:
            cam = self.cfg.camera
            pipeline.swap_source(SimulatedLink(open_source(spec, cam.width, cam.height, cam.fps, cam.mjpg,
                                                           self.cfg.loop, reconnect=self.cfg.reconnect),
                                               self._link_quality))

    def switch_model(self, model: str) -> None:
        """Upscale with another model ('auto' or a shipped name) from the next frame on."""
        self.cfg = Config.model_validate({**self.cfg.model_dump(), "model": model})
        pipeline = self._running()
        if pipeline is not None:
            size = pipeline.input_size
            pipeline.swap_upscaler(create_upscaler(self.cfg.backend, model, self.cfg.threads,
                                                   pipeline.fps, size))

    def reconfigure(self, **changes) -> None:
        """Options that need a fresh pipeline (sinks, camera mode): stop, then start again if it
        was running. A live run takes the simulated link (degrade, degrade_jpeg) as it runs, at
        the same frame size, so a virtual camera in a call neither closes nor changes size."""
        was_running = self._running() is not None
        self.cfg = Config.model_validate({**self.cfg.model_dump(), **changes})
        if was_running and not (self.realtime and changes.keys() <= LINK_OPTIONS):
            self.stop()
            self.start()

    def status(self) -> dict:
        """state (stopped, starting, running, error), the error sentence, and live figures."""
        pipeline = self._running()
        out = {"state": self.state, "error": self.error, "source": str(self.cfg.source),
               "model": self.cfg.model}
        if pipeline is not None:
            upscaler = pipeline.upscaler
            out.update(fps=round(pipeline.stats.recent_fps(), 1), frames=pipeline.stats.frames,
                       dropped=pipeline.stats.dropped, upscaler=upscaler.describe(),
                       model=getattr(getattr(upscaler, "current", None), "name", self.cfg.model),
                       losses=pipeline.source.losses)
        return out

    # -- the pipeline thread ----------------------------------------------------------------
    def _running(self) -> Pipeline | None:
        with self._lock:
            return self._pipeline if self.state == RUNNING else None

    def _link_quality(self) -> tuple[float, int | None]:
        cfg = self.cfg  # one read: reconfigure() replaces the whole Config
        return cfg.degrade, cfg.degrade_jpeg

    def _run(self) -> None:
        try:
            cfg = self.cfg
            if self.realtime:  # the link is simulated on the opened source (SimulatedLink)
                cfg = Config.model_validate({**cfg.model_dump(), "degrade": 1.0, "degrade_jpeg": None})
            pipeline = build_pipeline(cfg, realtime=self.realtime, extra_sinks=self.extra_sinks)
            if self.realtime:
                pipeline.source = SimulatedLink(pipeline.source, self._link_quality)
        except VcamError as exc:
            self.report_error(str(exc))
            return
        except Exception as exc:  # shown in the tray's menu, not lost in a thread
            log.exception("could not start")
            self.report_error(f"could not start ({type(exc).__name__}: {exc})")
            return
        with self._lock:
            self._pipeline, self.state = pipeline, RUNNING
        if self._stop_asked.is_set():  # stopped while it was loading: release it, run nothing
            with self._lock:
                self._pipeline, self.state = None, STOPPED
            pipeline.close()
            self._ready.set()
            return
        self.last_run = pipeline
        self._ready.set()
        try:
            with pipeline:
                pipeline.run()
        except VcamError as exc:
            self.report_error(str(exc))
        except Exception as exc:
            log.exception("the pipeline failed")
            self.report_error(f"the pipeline failed ({type(exc).__name__}: {exc})")
        finally:
            with self._lock:
                self._pipeline = None
                if self.state == RUNNING:
                    self.state = STOPPED

    def report_error(self, message: str) -> None:
        """Put the service in the error state with `message` (status() shows it)."""
        if self.log_errors:
            log.error("%s", message)
        with self._lock:
            self.state, self.error = ERROR, message
        self._ready.set()
