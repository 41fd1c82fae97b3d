"""A live source that outlives its camera or stream: when frames stop (unplugged, stream
dropped, or frozen), it keeps delivering frames at the source's size and rate (the last good
frame while one is merely late, then a slate: "camera unavailable, reconnecting" over that
frame dimmed), retries the source every second, and resumes with real frames as soon as it
is back. Only the user stops it."""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable

import cv2
import numpy as np

from vcam_sr.media.colour import to_rgb
from vcam_sr.media.geometry import fit
from vcam_sr.slot import Slot
from vcam_sr.sources.base import Pacer, Source

log = logging.getLogger("vcam_sr.reconnect")
SLATE_TEXT = "camera unavailable, reconnecting"


def slate(last: np.ndarray | None, width: int, height: int) -> np.ndarray:
    """The frame shown while the source is away: the last good frame dimmed, or dark grey."""
    frame = (to_rgb(last) // 3) if last is not None else np.full((height, width, 3), 24, np.uint8)
    scale = max(0.3, width / 900)
    (tw, th), _ = cv2.getTextSize(SLATE_TEXT, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    org = (max(0, (width - tw) // 2), (height + th) // 2)
    cv2.putText(frame, SLATE_TEXT, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (235, 235, 235), 1, cv2.LINE_AA)
    return frame


class ResilientSource(Source):
    """Wraps the live source `open_source()` returns; reopens it with the same call."""

    def __init__(self, open_source: Callable[[], Source], retry_s: float = 1.0, frozen_s: float = 2.0):
        self.open_source, self.retry_s, self.frozen_s = open_source, retry_s, frozen_s
        self.inner: Source | None = open_source()
        self.width, self.height, self.fps = self.inner.width, self.inner.height, self.inner.fps
        self.pacer = Pacer(self.fps)
        self.losses = 0
        self._frames = Slot()  # the newest real frame from the reader thread
        self._last_good: np.ndarray | None = None
        self._last_time = time.monotonic()
        self._lost = False
        self._reader = threading.Thread(target=self._read_forever, name="source-reader", daemon=True)
        self._reader.start()

    @property
    def connected(self) -> bool:
        return time.monotonic() - self._last_time < self.frozen_s

    @property
    def compressed(self) -> str:
        return self.inner.compressed if self.inner is not None else ""

    def read(self) -> np.ndarray | None:
        """The next real frame; when it is late, the last one again; once the source is lost
        (or has sent nothing for `frozen_s`), a slate. Never blocks for long, so the virtual
        camera keeps its frame rate whatever the source does."""
        frame = self._frames.take(timeout=1.5 / self.fps)
        if frame is not None:
            return frame
        if self._frames.closed:
            return None
        self.pacer.wait()  # stand-in frames at the source's rate, not as fast as possible
        if self._lost or not self.connected or self._last_good is None:
            return slate(self._last_good, self.width, self.height)
        return self._last_good

    def _read_forever(self) -> None:
        while not self._frames.closed:
            frame, reason = None, "it ended"
            try:
                frame = self.inner.read() if self.inner is not None else None
            except Exception as exc:  # a camera or stream error is a loss, not the end
                reason = str(exc)
            if frame is not None:
                self._deliver(frame)
                continue
            self._reconnect(reason)

    def _deliver(self, frame: np.ndarray) -> None:
        if frame.shape[:2] != (self.height, self.width):  # reopened in another mode
            frame = fit(frame, self.width, self.height)
        self._last_good, self._last_time, self._lost = frame, time.monotonic(), False
        self._frames.put(frame)

    def _reconnect(self, reason: str) -> None:
        lost_at = time.monotonic()
        self._lost = True
        self.losses += 1
        log.warning("source lost (%s); showing a slate and retrying every %g s", reason, self.retry_s)
        if self.inner is not None:
            self.inner.close()
            self.inner = None
        while not self._frames.closed:
            time.sleep(self.retry_s)
            try:
                self.inner = self.open_source()
            except Exception as exc:  # still away
                log.debug("reconnect failed: %s", exc)
                continue
            gap = time.monotonic() - lost_at
            log.info("source back after %.1f s: %s", gap, self.inner.describe())
            return

    def describe(self) -> str:
        inner = self.inner.describe() if self.inner is not None else "reconnecting"
        return f"{inner} (reconnects when lost)"

    def close(self) -> None:
        self._frames.close()
        self._reader.join(timeout=10)
        if self.inner is not None and not self._reader.is_alive():
            self.inner.close()
