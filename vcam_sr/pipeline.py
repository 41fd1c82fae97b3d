"""Source -> Upscaler -> Sink(s), in real time with bounded latency.

Three threads, so that reading, inference and writing overlap: a capture thread keeps only the
newest source frame (when the upscaler is slower than the source, older frames are dropped and
counted, never queued, so latency cannot grow); the calling thread upscales; a writer thread
feeds the sinks (H.264 encoding and device writes) from a two-frame outbox, which in real time
drops its oldest frame when the sinks fall behind. With `realtime=False` every frame is
processed and written in order (offline file conversion).
"""
from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from typing import Sequence

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from vcam_sr.media.geometry import fit
from vcam_sr.sinks.base import Sink
from vcam_sr.slot import Slot
from vcam_sr.sources.base import Pacer, Source
from vcam_sr.stats import Stats
from vcam_sr.upscalers.base import SCALE, Upscaler

log = logging.getLogger("vcam_sr.pipeline")
SOURCE_GRACE_S = 10.0  # how long close() waits for a blocked read() (a stream times out in 5 s)
OUTBOX = 2             # upscaled frames waiting for the writer thread


class Pipeline:
    def __init__(self, source: Source, upscaler: Upscaler, sinks: Sequence[Sink],
                 fps: float | None = None, max_frames: int | None = None,
                 stats_every: float | None = None, realtime: bool = True, progress: bool = False):
        """`progress`: show a tqdm bar (for offline conversion of a whole file)."""
        self.source, self.upscaler, self.sinks = source, upscaler, list(sinks)
        self.progress = progress
        self.fps = fps or source.fps
        self.max_frames, self.stats_every, self.realtime = max_frames, stats_every, realtime
        self.stats = Stats()
        self._stop = threading.Event()
        self._frames = Slot()        # (frame, capture time, source number): the newest captured
        self._sources_opened = 0     # swaps so far: a frame of another source starts a new stream
        self._upscaled_source = -1   # the source number of the last frame upscaled
        self._error: BaseException | None = None
        self._opened: list[Sink] = []
        self._capture_thread: threading.Thread | None = None
        self._outbox: deque = deque()  # (upscaled, source frame, captured at, model seconds)
        self._out_cond = threading.Condition()
        self._handed = 0               # frames given to the writer and not dropped from the outbox
        self.interrupted = False  # stop() was called: by the user, a signal or another thread
        self.finished = False     # the source ended or max_frames were written
        self._swap_lock = threading.Lock()
        self._new_source: Source | None = None      # switched to by the capture thread
        self._new_upscaler: Upscaler | None = None  # switched to by the inference loop
        self.input_size = (source.width, source.height)  # sinks stay at 2x this whatever comes
        self.out_space = None  # the 4:2:0 space all sinks take, into which RGB frames are upscaled
        self._drops_checked, self._drops_seen, self._drops_warned = 0.0, None, False

    # -- public ---------------------------------------------------------------------------
    def run(self) -> Stats:
        """Process until the source ends, `max_frames` are written, a sink asks to stop, or
        `stop()` is called (from a signal handler or another thread)."""
        width, height = self.source.width * SCALE, self.source.height * SCALE
        for sink in self.sinks:
            sink.open(width, height, self.fps)
            self._opened.append(sink)
        spaces = {sink.yuv_space for sink in self.sinks if not sink.takes_any_frame} or {None}
        self.out_space = spaces.pop() if len(spaces) == 1 else None
        log.info("running: %s -> %s -> %s, %dx%d @ %g fps%s", self.source.describe(),
                 self.upscaler.name, ", ".join(s.describe() for s in self.sinks), width, height, self.fps,
                 f", RGB frames out as {self.out_space.describe()} 4:2:0" if self.out_space else "")
        self.stats = Stats()
        if self.realtime:
            self._capture_thread = threading.Thread(target=self._capture, name="capture", daemon=True)
            self._capture_thread.start()
        pacer = Pacer(self.fps) if self.realtime and self.fps < self.source.fps else None
        total = self.max_frames or self.source.frame_count
        bar = tqdm(total=total, unit="frame", desc="upscaling", disable=not self.progress)
        next_report = time.monotonic() + (self.stats_every or 0)
        with logging_redirect_tqdm() if self.progress else contextlib.nullcontext():  # logs above the bar
            self._loop(pacer, bar, next_report)
        if self._error is not None:
            raise self._error
        how = "stopped by the user" if self.interrupted else "finished"
        log.info("%s: %s", how, self.stats.summary_line())
        return self.stats

    def _loop(self, pacer: Pacer | None, bar: tqdm, next_report: float) -> None:
        writer = threading.Thread(target=self._write, name="writer", daemon=True)
        writer.start()
        try:
            while not self._stop.is_set():
                if self.realtime and not any(s.watched for s in self.sinks):
                    self._rest()
                    continue
                if pacer:
                    pacer.wait()
                item = self._next_frame()
                if item is None:
                    self.finished = not self.interrupted
                    break
                self._process(*item)
                bar.update(1)
                if self.max_frames and self._handed >= self.max_frames:
                    self.finished = True
                    break
                if any(s.wants_stop for s in self.sinks):
                    self.interrupted = True
                    break
                if self.stats_every and time.monotonic() >= next_report:
                    log.info("%s", self.stats.interval_line())
                    next_report = time.monotonic() + self.stats_every
                if self.realtime:
                    self._warn_on_drops()
        finally:
            bar.close()
            self._stop.set()
            self._frames.close()
            with self._out_cond:  # the writer drains the outbox, then ends
                self._out_cond.notify_all()
            writer.join()

    DROP_CHECK_S = 3.0  # seconds between looks at the drop rate

    def _warn_on_drops(self) -> None:
        """Say once, on the console, when the model cannot keep up (a fifth or more of the
        source's frames dropped over a few seconds), and what to do; again only after it
        recovered. Counted from the first frame on: before it, loading and timing the models
        dropped frames that say nothing of the speed."""
        now = time.monotonic()
        if self._drops_seen is None:
            self._drops_checked, self._drops_seen = now, (self.stats.frames, self.stats.dropped)
        if now < self._drops_checked + self.DROP_CHECK_S:
            return
        frames, dropped = self.stats.frames, self.stats.dropped
        new_frames, new_dropped = frames - self._drops_seen[0], dropped - self._drops_seen[1]
        self._drops_checked, self._drops_seen = now, (frames, dropped)
        slow = new_dropped > 0.25 * max(new_frames, 1)
        if slow and not self._drops_warned:
            log.warning("the model is too slow for this input: %.1f of %g fps, the rest dropped; "
                        "choose a smaller camera size (--width/--height) or --model fast",
                        new_frames / self.DROP_CHECK_S, self.fps)
        self._drops_warned = slow

    def swap_source(self, source: Source) -> None:
        """Read from `source` from the next frame on, without closing the sinks (the virtual
        camera stays; frames of another size are resized to the first source's)."""
        with self._swap_lock:
            self._new_source = source

    def swap_upscaler(self, upscaler: Upscaler) -> None:
        """Upscale with `upscaler` from the next frame on; the old one is closed."""
        with self._swap_lock:
            if self._new_upscaler is not None:
                self._new_upscaler.close()
            self._new_upscaler = upscaler

    def stop(self) -> None:
        """Ask `run` to finish after the current frame; safe from signal handlers and threads.
        A stop after the run has finished (a late Ctrl-C during the final flush) changes nothing."""
        if not self.finished:
            self.interrupted = True
        self._stop.set()

    def close(self) -> None:
        """Release sinks, upscaler and source (camera / device handles). A live run's outputs are
        kept however it ended; an offline conversion's only if it finished."""
        failed = None
        for sink in self._opened:  # each sink is closed, though another one failed to
            try:
                sink.close(complete=self.realtime or self.finished)
            except Exception as exc:
                failed = failed or exc
        self._opened.clear()
        with self._swap_lock:
            pending = [p for p in (self._new_source, self._new_upscaler) if p is not None]
            self._new_source = self._new_upscaler = None
        for part in pending:
            part.close()
        self.upscaler.close()
        capture = self._capture_thread
        if capture is not None:  # a camera must not be released while a read() is in progress
            capture.join(timeout=SOURCE_GRACE_S)
        if capture is not None and capture.is_alive():
            log.warning("the source did not return a frame within %g s of stopping; leaving it "
                        "to the operating system rather than releasing it mid-read", SOURCE_GRACE_S)
        else:
            self.source.close()
        if failed is not None:
            raise failed

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- internals ------------------------------------------------------------------------
    def _capture(self) -> None:
        try:
            while not self._stop.is_set():
                with self._swap_lock:
                    new, self._new_source = self._new_source, None
                if new is not None:
                    old, self.source = self.source, new
                    old.close()
                    self._sources_opened += 1
                    log.info("source now: %s", new.describe())
                frame = self.source.read()
                if frame is None:
                    self._frames.close()
                    return
                if self._frames.put((frame, time.monotonic(), self._sources_opened)):  # the loop had not taken the last
                    self.stats.drop()
        except BaseException as exc:  # surfaced to run() in the main thread
            self._error = exc
            self._frames.close()

    def _next_frame(self):
        if not self.realtime:
            frame = self.source.read()
            return None if frame is None else (frame, time.monotonic(), 0)
        while not self._stop.is_set():
            item = self._frames.take(timeout=0.5)
            if item is not None or self._frames.closed:
                return item
        return None

    def _rest(self) -> None:
        """Nobody watches any sink: skip inference, look again 50 times a second (so a new
        viewer gets frames within a frame or two), and let stale source frames go."""
        time.sleep(0.02)
        self._frames.discard()

    def _process(self, frame, captured: float, source_number: int) -> None:
        """Upscale, then hand the result to the writer thread."""
        with self._swap_lock:
            new, self._new_upscaler = self._new_upscaler, None
        if new is not None:
            old, self.upscaler = self.upscaler, new
            old.close()
            log.info("upscaler now: %s", new.describe())
            self._upscaled_source = -1  # told of the stream it takes over, below
        if source_number != self._upscaled_source:  # another source: its condition and frames afresh
            self.upscaler.new_stream(self.source.compressed)
            self._upscaled_source = source_number
        w, h = self.input_size
        if frame.shape[1] > w or frame.shape[0] > h:  # a switched source of a larger size
            frame = fit(frame, w, h)
        t0 = time.monotonic()
        up = self.upscaler.upscale(frame, self.out_space)
        if (frame.shape[1], frame.shape[0]) != (w, h):  # a smaller one (a simulated poor link):
            up = fit(up, SCALE * w, SCALE * h)          # upscaled, then shown at the sinks' size
        item = (up, frame, captured, time.monotonic() - t0)
        with self._out_cond:
            while not self.realtime and len(self._outbox) >= OUTBOX and self._error is None:
                self._out_cond.wait(timeout=0.5)  # offline: wait for the writer, drop nothing
            if len(self._outbox) >= OUTBOX:  # real time: the sinks are behind, drop the oldest
                self._outbox.popleft()
                self.stats.drop()
                self._handed -= 1
            self._outbox.append(item)
            self._handed += 1
            self._out_cond.notify_all()

    def _write(self) -> None:
        """The writer thread: every frame in the outbox to every sink, until run() ends."""
        try:
            while True:
                with self._out_cond:
                    while not self._outbox and not self._stop.is_set():
                        self._out_cond.wait(timeout=0.5)
                    if not self._outbox:
                        return
                    up, frame, captured, model_s = self._outbox.popleft()
                    self._out_cond.notify_all()
                t0 = time.monotonic()
                for sink in self.sinks:
                    sink.write(up, frame)
                t1 = time.monotonic()
                self.stats.record(model_s, t1 - t0, t1 - captured)
        except BaseException as exc:  # surfaced to run() in the main thread
            with self._out_cond:
                self._error = exc
                self._outbox.clear()
                self._out_cond.notify_all()
            self._stop.set()
