"""Keeps the newest before | after pair for the web page's Live tab, JPEG-encoded on demand."""
from __future__ import annotations

import cv2
import numpy as np

from vcam_sr.media.colour import to_rgb
from vcam_sr.sinks.base import Sink
from vcam_sr.slot import Slot


class PreviewSink(Sink):
    name = "preview"
    takes_any_frame = True  # converted to RGB only when the page or the tray window shows one

    def __init__(self):
        self._pairs = Slot()  # (source frame, upscaled frame); its count lets readers wait for a new one

    def open(self, width, height, fps):
        pass

    def write(self, frame: np.ndarray, source_frame: np.ndarray) -> None:
        self._pairs.put((source_frame, frame))

    def newest(self) -> tuple[tuple[np.ndarray, np.ndarray] | None, int]:
        """The newest (source, upscaled) pair, or None before the first, and its count, without
        waiting (for a window's timer)."""
        return self._pairs.newest()

    def jpeg(self, after_count: int, timeout: float = 1.0) -> tuple[bytes | None, int]:
        """(JPEG of the source, bicubic-sized, beside the upscaled frame; its count), once a frame
        newer than `after_count` has come, or (None, after_count) after `timeout`."""
        pair, count = self._pairs.newer(after_count, timeout)
        if pair is None:
            return None, after_count
        before, after = pair
        before, after = to_rgb(before), to_rgb(after)
        h, w = after.shape[:2]
        side = np.concatenate([cv2.resize(before, (w, h), interpolation=cv2.INTER_CUBIC), after], axis=1)
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(side, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
        return buf.tobytes(), count
