"""Deliberately worsen any source (downscale, JPEG) to simulate a poor camera or link."""
from __future__ import annotations

import cv2
import numpy as np

from vcam_sr.media.colour import to_rgb
from vcam_sr.sources.base import Source


class DegradedSource(Source):
    def __init__(self, inner: Source, factor: float, jpeg_quality: int | None = None):
        self.inner, self.factor, self.jpeg_quality = inner, factor, jpeg_quality
        self.width = max(1, round(inner.width * factor))
        self.height = max(1, round(inner.height * factor))
        self.fps = inner.fps

    @property
    def frame_count(self) -> int | None:
        return self.inner.frame_count

    @property
    def losses(self) -> int:
        return self.inner.losses

    def read(self) -> np.ndarray | None:
        frame = self.inner.read()
        if frame is None:
            return None
        frame = to_rgb(frame)
        if self.factor != 1.0:
            frame = cv2.resize(frame, (self.width, self.height), interpolation=cv2.INTER_AREA)
        if self.jpeg_quality:  # OpenCV's JPEG codec takes and returns BGR
            bgr = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
            ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
            frame = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        return frame

    def describe(self) -> str:
        jpeg = f", JPEG q{self.jpeg_quality}" if self.jpeg_quality else ""
        return f"{self.inner.describe()}, degraded x{self.factor:g} to {self.width}x{self.height}{jpeg}"

    def close(self) -> None:
        self.inner.close()
