"""The Upscaler interface every inference backend implements."""
from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

SCALE = 2


class Upscaler(ABC):
    """`upscale` maps an RGB uint8 HxWx3 frame to RGB uint8 (2H)x(2W)x3, for any H and W."""

    name: str = "?"

    @abstractmethod
    def upscale(self, frame: np.ndarray) -> np.ndarray: ...

    def describe(self) -> str:
        return self.name

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def to_nchw_float(frame: np.ndarray) -> np.ndarray:
    """RGB uint8 HxWx3 -> float32 1x3xHxW in [0, 1], the model contract."""
    return np.ascontiguousarray(frame.transpose(2, 0, 1)[None], dtype=np.float32) * np.float32(1 / 255)


def to_hwc_uint8(output: np.ndarray) -> np.ndarray:
    """float32 1x3xHxW model output -> RGB uint8 HxWx3, rounded and clipped."""
    out = output[0].transpose(1, 2, 0) * np.float32(255)
    np.clip(out, 0, 255, out=out)
    return np.rint(out, out=out).astype(np.uint8)
