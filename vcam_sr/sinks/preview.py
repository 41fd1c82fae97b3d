"""Keeps the newest before | after pair for the web page's Live tab, JPEG-encoded on demand."""
from __future__ import annotations

import threading

import cv2
import numpy as np

from vcam_sr.media.colour import to_rgb
from vcam_sr.sinks.base import Sink


class PreviewSink(Sink):
    name = "preview"

    def __init__(self):
        self._cond = threading.Condition()
        self._pair: tuple[np.ndarray, np.ndarray] | None = None
        self.count = 0  # frames seen, so a reader can wait for a new one

    def open(self, width, height, fps):
        pass

    def write(self, frame: np.ndarray, source_frame: np.ndarray) -> None:
        with self._cond:
            self._pair, self.count = (source_frame, frame), self.count + 1
            self._cond.notify_all()

    def newest(self) -> tuple[tuple[np.ndarray, np.ndarray] | None, int]:
        """The newest (source, upscaled) pair, or None before the first, and its count, without
        waiting (for a window's timer)."""
        with self._cond:
            return self._pair, self.count

    def jpeg(self, after_count: int, timeout: float = 1.0) -> tuple[bytes | None, int]:
        """(JPEG of the source, bicubic-sized, beside the upscaled frame; its count), once a frame
        newer than `after_count` has come, or (None, after_count) after `timeout`."""
        with self._cond:
            if not self._cond.wait_for(lambda: self.count > after_count, timeout=timeout):
                return None, after_count
            (before, after), count = self._pair, self.count
        before, after = to_rgb(before), to_rgb(after)
        h, w = after.shape[:2]
        side = np.concatenate([cv2.resize(before, (w, h), interpolation=cv2.INTER_CUBIC), after], axis=1)
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(side, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
        return buf.tobytes(), count
