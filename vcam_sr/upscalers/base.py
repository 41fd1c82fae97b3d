"""The Upscaler interface every inference backend implements."""
from __future__ import annotations

import time
from abc import ABC, abstractmethod

import numpy as np

from engine_build.contract import SCALE
from engine_build.errors import VcamError


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


def time_calls(upscale, frame: np.ndarray, repeats: int, clock=time.perf_counter) -> list[float]:
    """Milliseconds of each of `repeats` calls on `frame`, after one warm-up call (the first
    calls allocate memory and pick kernels). The one timing loop of bench, evaluate and auto."""
    upscale(frame)
    times = []
    for _ in range(repeats):
        t0 = clock()
        upscale(frame)
        times.append(1000 * (clock() - t0))
    return times


def probe_frame(height: int = 20, width: int = 28) -> np.ndarray:
    """A small, odd-aspect RGB frame with structure in every colour, for contract checks."""
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([(x * 9) % 256, (y * 13) % 256, ((x + y) * 7) % 256], axis=-1).astype(np.uint8)


def check_contract(upscaler: Upscaler, what: str) -> None:
    """The model contract at the boundary: RGB uint8 HxWx3 in, exactly (2H)x(2W)x3 uint8 out."""
    frame = probe_frame()
    out = upscaler.upscale(frame)
    h, w = frame.shape[:2]
    if out.ndim != 3 or out.shape[2] != 3:
        raise VcamError(f"{what} returns {out.shape} for a {w}x{h} RGB frame, not an RGB image; "
                        "vcam-sr needs 3 colours in and out")
    if out.shape[:2] != (SCALE * h, SCALE * w):
        raise VcamError(f"{what} turns a {w}x{h} frame into {out.shape[1]}x{out.shape[0]}, not "
                        f"{SCALE * w}x{SCALE * h}: vcam-sr needs a model that upscales exactly {SCALE}x")


def to_nchw_float(frame: np.ndarray) -> np.ndarray:
    """RGB uint8 HxWx3 -> float32 1x3xHxW in [0, 1], the model contract."""
    return np.ascontiguousarray(frame.transpose(2, 0, 1)[None], dtype=np.float32) * np.float32(1 / 255)


def to_hwc_uint8(output: np.ndarray) -> np.ndarray:
    """float32 1x3xHxW model output -> RGB uint8 HxWx3, rounded and clipped."""
    out = output[0].transpose(1, 2, 0) * np.float32(255)
    np.clip(out, 0, 255, out=out)
    return np.rint(out, out=out).astype(np.uint8)
