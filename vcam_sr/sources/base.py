"""The Source interface: something that yields RGB uint8 frames."""
from __future__ import annotations

import time
from abc import ABC, abstractmethod

import numpy as np

from vcam_sr.media.colour import YuvPicture


class Source(ABC):
    """`read()` returns the next frame, or None when the source has ended: uint8 RGB HxWx3
    (cameras, the screen, the test pattern) or a YuvPicture in its own colour space (videos and
    streams). Frames are never changed after they are returned. Live sources (camera, test
    pattern, paced files) block until their next frame is due."""

    fps: float
    width: int
    height: int
    frame_count: int | None = None  # frames a file declares; None for live sources
    losses: int = 0                 # times a live source dropped and was reconnected
    compressed: str = ""            # why its frames are known to be hard compressed, if they are

    @abstractmethod
    def read(self) -> np.ndarray | YuvPicture | None: ...

    def describe(self) -> str:
        return f"{type(self).__name__} {self.width}x{self.height} @ {self.fps:g} fps"

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Pacer:
    """Sleeps so that successive `wait()` calls are 1/fps apart (no drift accumulation)."""

    def __init__(self, fps: float):
        self.interval = 1.0 / fps
        self.next = None

    def wait(self) -> None:
        now = time.monotonic()
        if self.next is None or now - self.next > self.interval:  # first call, or fell behind
            self.next = now
        elif self.next > now:
            time.sleep(self.next - now)
        self.next += self.interval
