"""A built-in moving test pattern so the whole path runs where there is no camera: a zone plate
(fine detail up to Nyquist) on a smooth ramp, text, hard edges, colour bars and a moving disc."""
from __future__ import annotations

import time

import cv2
import numpy as np

from vcam_sr.sources.base import Pacer, Source


class TestPatternSource(Source):
    __test__ = False  # not a pytest class, despite the name

    def __init__(self, width: int = 640, height: int = 360, fps: float = 30, realtime: bool = True):
        self.width, self.height, self.fps = width, height, fps
        self.pacer = Pacer(fps) if realtime else None
        self.index = 0
        y, x = np.mgrid[0:height, 0:width].astype(np.float32)
        cx, cy = width * 0.75, height * 0.5
        r2 = ((x - cx) ** 2 + (y - cy) ** 2) / (min(width, height) * 0.5) ** 2
        zone = 0.5 + 0.5 * np.cos(np.pi * r2 * min(width, height) * 0.25)
        # The zone plate fills a disc on a smooth ramp, as on a test chart: a frame that is
        # detail from edge to edge would read as noise to the clean-or-degraded gate.
        ramp = 0.25 + 0.5 * x / max(width - 1, 1)
        grey = np.where(r2 <= 0.8, zone, ramp)
        self.background = np.repeat(np.round(grey * 255).astype(np.uint8)[..., None], 3, axis=2)
        bars = [(255, 255, 255), (255, 255, 0), (0, 255, 255), (0, 255, 0), (255, 0, 255),
                (255, 0, 0), (0, 0, 255), (0, 0, 0)]
        bar_w = max(1, width // (2 * len(bars)))
        for i, colour in enumerate(bars):
            self.background[: height // 3, i * bar_w:(i + 1) * bar_w] = colour
        check = ((np.indices((height, width)).sum(axis=0) // 8) % 2 * 255).astype(np.uint8)
        lower = slice(5 * height // 6, height)
        self.background[lower, : width // 2] = check[lower, : width // 2, None]

    def read(self) -> np.ndarray:
        if self.pacer:
            self.pacer.wait()
        frame = self.background.copy()
        t = self.index / self.fps
        w, h = self.width, self.height
        centre = (int(w * (0.25 + 0.2 * np.sin(t))), int(h * (0.5 + 0.15 * np.cos(1.3 * t))))
        cv2.circle(frame, centre, max(4, h // 10), (230, 60, 40), -1, lineType=cv2.LINE_AA)
        scale = max(0.3, h / 720)
        cv2.putText(frame, f"vcam-sr {self.index:05d}  {time.strftime('%H:%M:%S')}",
                    (int(w * 0.02), int(h * 0.45)), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    (20, 20, 20), max(1, int(scale * 2)), cv2.LINE_AA)
        self.index += 1
        return frame

    def describe(self) -> str:
        return f"test pattern {self.width}x{self.height} @ {self.fps:g} fps"
