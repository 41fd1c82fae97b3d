"""Deliberately worsen any source (downscale, JPEG) to simulate a poor camera or link."""
from __future__ import annotations

from typing import Callable

import cv2
import numpy as np

from vcam_sr.media.colour import to_rgb
from vcam_sr.sources.base import Source


def degrade(frame, size: tuple[int, int], jpeg_quality: int | None) -> np.ndarray:
    """`frame` (RGB or YUV) as uint8 RGB scaled down to `size` (w, h), then JPEG-compressed at
    `jpeg_quality` if given."""
    frame = to_rgb(frame)
    if (frame.shape[1], frame.shape[0]) != size:
        frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
    if jpeg_quality:  # OpenCV's JPEG codec takes and returns BGR
        bgr = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
        frame = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return frame


class DegradedSource(Source):
    def __init__(self, inner: Source, factor: float, jpeg_quality: int | None = None):
        self.inner, self.factor, self.jpeg_quality = inner, factor, jpeg_quality
        self.width = max(1, round(inner.width * factor))
        self.height = max(1, round(inner.height * factor))
        self.fps = inner.fps
        self.frame_count = getattr(inner, "frame_count", None)

    @property
    def compressed(self) -> str:
        return self.inner.compressed

    def read(self) -> np.ndarray | None:
        frame = self.inner.read()
        return None if frame is None else degrade(frame, (self.width, self.height), self.jpeg_quality)

    def describe(self) -> str:
        jpeg = f", JPEG q{self.jpeg_quality}" if self.jpeg_quality else ""
        return f"{self.inner.describe()}, degraded x{self.factor:g} to {self.width}x{self.height}{jpeg}"

    def close(self) -> None:
        self.inner.close()


class SimulatedLink(Source):
    """A live source seen through a link whose quality may change while it runs: each frame is
    degraded as `quality()` says now (factor, JPEG quality). The pipeline upscales the smaller
    frames and scales its output to the size it opened its sinks at, so the virtual camera
    keeps its frame size whether the link is poor or not, and turning it on or off needs no
    restart."""

    def __init__(self, inner: Source, quality: Callable[[], tuple[float, int | None]]):
        self.inner, self.quality = inner, quality
        self.width, self.height, self.fps = inner.width, inner.height, inner.fps

    @property
    def losses(self) -> int:
        return self.inner.losses

    @property
    def compressed(self) -> str:
        return self.inner.compressed

    def read(self) -> np.ndarray | None:
        frame = self.inner.read()
        factor, jpeg_quality = self.quality()
        if frame is None or (factor == 1.0 and not jpeg_quality):
            return frame
        h, w = frame.shape[:2]
        return degrade(frame, (max(2, round(w * factor)), max(2, round(h * factor))), jpeg_quality)

    def describe(self) -> str:
        factor, jpeg_quality = self.quality()
        if factor == 1.0 and not jpeg_quality:
            return self.inner.describe()
        jpeg = f", JPEG q{jpeg_quality}" if jpeg_quality else ""
        return f"{self.inner.describe()} through a simulated poor link (x{factor:g}{jpeg})"

    def close(self) -> None:
        self.inner.close()
