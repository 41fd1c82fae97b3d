"""The Upscaler interface every inference backend implements, and the one place where a frame
is split into what the model sees (luma) and what a filter upscales (chroma)."""
from __future__ import annotations

import time
from abc import ABC, abstractmethod

import cv2
import numpy as np

from vcam_sr.contract import SCALE
from vcam_sr.errors import VcamError
from vcam_sr.upscalers.condition import ConditionTracker
from vcam_sr.upscalers.temporal import TemporalDenoiser
from vcam_sr.media.colour import ColourSpace, YuvPicture, luma, luma_codes, normalized_luma, rgb8_chroma


class Upscaler(ABC):
    """A backend implements `upscale_y`: float32 luma in [0, 1], HxW -> (2H)x(2W) float32,
    unclipped; a `conditioned` one also takes the frame's condition (vcam_sr/upscalers/condition.py) and
    measures it itself when given None. `upscale` takes whole frames (uint8 RGB, or a
    YuvPicture) of one stream and returns the same kind at twice the size, with the model's
    luma and the chroma of a bicubic scale; given an 8-bit `space`, a uint8 RGB frame comes back
    as 4:2:0 planes in that space instead, its chroma the frame's own (what the sinks take). It
    tracks the stream's condition (measured every few frames, smoothed) and averages its noise
    over frames (vcam_sr/upscalers/temporal.py), so one Upscaler serves one source at a time."""

    name: str = "?"
    conditioned: bool = False
    denoise: bool = True  # average a noisy stream's noise over frames before the model
    TILE = 2048     # larger luma planes (photos) are upscaled in tiles of this size (bounded memory)
    OVERLAP = 16    # LR pixels of context around each tile: more than the nets' reach

    @abstractmethod
    def upscale_y(self, y: np.ndarray, condition: np.ndarray | None = None) -> np.ndarray: ...

    def upscale(self, frame: np.ndarray | YuvPicture, space: ColourSpace | None = None) -> np.ndarray | YuvPicture:
        if isinstance(frame, YuvPicture):
            return upscale_picture(self, frame)
        if space is not None and space.depth == 8 and frame.dtype == np.uint8:
            return upscale_rgb_to_yuv420(self, frame, space)
        return upscale_rgb(self, frame)

    def plan(self, sample: list[np.ndarray]) -> None:
        """Called before a whole file with luma planes sampled from it, so a choosing upscaler
        (auto) decides once for the file instead of as it goes."""

    def new_stream(self, compressed: str = "") -> None:
        """The next frame starts another stream (another image, clip or source): its condition
        is measured afresh, and its frames are not averaged with the last one's. `compressed`
        says why the stream is known to be hard compressed (a call captured from the screen, an
        H.264 video's quantizer), which its frames may not show; auto then takes the robust
        model."""
        self._tracker = self._denoiser = None

    def upscale_luma(self, y: np.ndarray) -> np.ndarray:
        """`upscale_y` of the plane denoised over this stream's frames, with the stream's
        condition, in tiles when the plane is large."""
        if self.denoise:
            if getattr(self, "_denoiser", None) is None:
                self._denoiser = TemporalDenoiser()
            y = self._denoiser(y)
        condition = None
        if self.conditioned:
            if getattr(self, "_tracker", None) is None:
                self._tracker = ConditionTracker()
            condition = self._tracker(y)
        h, w = y.shape
        if h <= self.TILE and w <= self.TILE:
            return self.upscale_y(y, condition)
        out = np.empty((h * SCALE, w * SCALE), np.float32)
        pad = self.OVERLAP
        for top in range(0, h, self.TILE):
            for left in range(0, w, self.TILE):
                y0, x0 = max(0, top - pad), max(0, left - pad)
                y1, x1 = min(h, top + self.TILE + pad), min(w, left + self.TILE + pad)
                tile = self.upscale_y(np.ascontiguousarray(y[y0:y1, x0:x1]), condition)
                bottom, right = min(h, top + self.TILE), min(w, left + self.TILE)
                out[top * SCALE:bottom * SCALE, left * SCALE:right * SCALE] = tile[
                    (top - y0) * SCALE:(bottom - y0) * SCALE, (left - x0) * SCALE:(right - x0) * SCALE]
        return out

    def describe(self) -> str:
        return self.name

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


BAND = 256  # LR rows per band when an RGB frame's result is composed


def _bicubic(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    return cv2.resize(image, (w * SCALE, h * SCALE), interpolation=cv2.INTER_CUBIC)


def upscale_rgb(upscaler: Upscaler, rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB at twice the size: a bicubic scale whose luma is replaced by the model's (the
    same change added to R, G and B moves Y by exactly that and leaves chroma alone). Composed
    in bands of rows, so a photo's float copies stay small (a 24-megapixel one took 3 GB)."""
    up_y = upscaler.upscale_luma(luma(rgb))
    h, w = rgb.shape[:2]
    out = np.empty((h * SCALE, w * SCALE, 3), np.uint8)
    margin = 4  # LR rows beyond the band: more than the cubic's reach, so bands join exactly
    for top in range(0, h, BAND):
        bottom, r0, r1 = min(h, top + BAND), max(0, top - margin), min(h, top + BAND + margin)
        rows = slice((top - r0) * SCALE, (bottom - r0) * SCALE)
        smooth = _bicubic(rgb[r0:r1].astype(np.float32) * np.float32(1 / 255))[rows]
        band = smooth + (up_y[top * SCALE:bottom * SCALE] - luma(smooth))[..., None]
        band *= np.float32(255)
        np.clip(band, 0, 255, out=band)
        out[top * SCALE:bottom * SCALE] = np.rint(band, out=band)
    return out


def upscale_rgb_to_yuv420(upscaler: Upscaler, rgb: np.ndarray, space: ColourSpace) -> YuvPicture:
    """uint8 RGB at twice the size as 8-bit 4:2:0 planes in `space`: the model's luma, and the
    frame's own chroma at full size, which is the 2x frame's 4:2:0 chroma (each chroma sample
    covers 2x2 output pixels: one input pixel). For a virtual camera or an encoder, which take
    4:2:0: the 2x RGB frame in between took 38 of 63 ms at 960x540, its conversion more."""
    u, v = rgb8_chroma(rgb, space)
    return YuvPicture(luma_codes(upscaler.upscale_luma(luma(rgb, space.matrix)), space), u, v, space)


def upscale_picture(upscaler: Upscaler, picture: YuvPicture) -> YuvPicture:
    """A YUV picture at twice the size, in its own colour space: the model's Y, bicubic chroma."""
    y = luma_codes(upscaler.upscale_luma(normalized_luma(picture)), picture.space)
    if picture.u is None:
        return YuvPicture(y, None, None, picture.space)
    (sx, sy), (h, w) = picture.subsampling, y.shape
    ch, cw = -(-h // sy), -(-w // sx)  # an odd-sized input's last chroma sample covers one pixel
    u, v = (np.minimum(_bicubic(c)[:ch, :cw], picture.space.peak) for c in (picture.u, picture.v))
    return YuvPicture(y, u, v, picture.space)  # bicubic overshoots; 10-bit codes live in uint16


def time_calls(upscale, frame, repeats: int, clock=time.perf_counter) -> list[float]:
    """Milliseconds of each of `repeats` calls on `frame`, after one warm-up call (the first
    calls allocate memory and pick kernels). The one timing loop of bench, evaluate and auto."""
    upscale(frame)
    times = []
    for _ in range(repeats):
        t0 = clock()
        upscale(frame)
        times.append(1000 * (clock() - t0))
    return times


TIMED = 1024  # planes larger than this are timed on a crop of this size


def time_luma(upscale_y, y: np.ndarray, repeats: int, clock=time.perf_counter) -> float:
    """Median ms of `upscale_y` on the plane `y`, timed on at most a 1024x1024 crop and scaled by
    area: timing a whole 24-megapixel photo took gigabytes, and seconds per candidate, and the
    memory a backend took to time it stayed taken."""
    tile = np.ascontiguousarray(y[:TIMED, :TIMED])
    return float(np.median(time_calls(upscale_y, tile, repeats, clock))) * y.size / tile.size


def probe_luma(height: int = 20, width: int = 28) -> np.ndarray:
    """A small, odd-aspect luma plane with structure, for contract checks."""
    y, x = np.mgrid[0:height, 0:width]
    return (((x * 9 + y * 13) % 256) / 255).astype(np.float32)


def check_contract(upscaler: Upscaler, what: str) -> None:
    """The model contract at the boundary: HxW luma in, exactly (2H)x(2W) finite luma out."""
    y = probe_luma()
    out = np.asarray(upscaler.upscale_y(y))
    h, w = y.shape
    if out.shape != (SCALE * h, SCALE * w):
        raise VcamError(f"{what} turns a {w}x{h} luma plane into {out.shape[::-1]}, not "
                        f"{SCALE * w}x{SCALE * h}: vcam-sr needs a model that upscales exactly {SCALE}x")
    if not np.isfinite(out).all():
        raise VcamError(f"{what} produces NaN or infinite values; it is broken (re-train or "
                        "re-export it) or not a vcam-sr model")


def to_model_input(y: np.ndarray) -> np.ndarray:
    """HxW luma -> the model's float32 1x1xHxW input."""
    return np.ascontiguousarray(y, dtype=np.float32)[None, None]
