"""Resizing frames of either kind (uint8 RGB, or YUV planes at their own subsampling)."""
from __future__ import annotations

import cv2
import numpy as np

from vcam_sr.media.colour import YuvPicture


def resize(frame: YuvPicture | np.ndarray, width: int, height: int) -> YuvPicture | np.ndarray:
    """`frame` scaled to width x height (area filter when shrinking, cubic when growing)."""
    if not isinstance(frame, YuvPicture):
        return _resize(frame, width, height)
    if frame.u is None:
        return YuvPicture(_resize(frame.y, width, height), None, None, frame.space)
    sx, sy = frame.subsampling
    cw, ch = -(-width // sx), -(-height // sy)
    y, u, v = (np.minimum(plane, frame.space.peak) for plane in  # cubic overshoots 10-bit codes
               (_resize(frame.y, width, height), _resize(frame.u, cw, ch), _resize(frame.v, cw, ch)))
    return YuvPicture(y, u, v, frame.space)


def _resize(plane: np.ndarray, width: int, height: int) -> np.ndarray:
    h, w = plane.shape[:2]
    if (w, h) == (width, height):
        return plane
    method = cv2.INTER_AREA if width <= w and height <= h else cv2.INTER_CUBIC
    return cv2.resize(plane, (width, height), interpolation=method)


def fit(frame: YuvPicture | np.ndarray, width: int, height: int) -> YuvPicture | np.ndarray:
    """`frame` scaled to fit inside width x height with its aspect kept, centred on black."""
    h, w = frame.shape[:2]
    scale = min(width / w, height / h)
    fw, fh = max(2, round(w * scale) // 2 * 2), max(2, round(h * scale) // 2 * 2)
    inner = resize(frame, fw, fh)
    x, y = (width - fw) // 2 // 2 * 2, (height - fh) // 2 // 2 * 2
    if not isinstance(frame, YuvPicture):
        out = np.zeros((height, width, 3), np.uint8)
        out[y:y + fh, x:x + fw] = inner
        return out
    black, grey = frame.space.luma_scale()[0], frame.space.chroma_scale()[0]
    out_y = np.full((height, width), black, frame.y.dtype)
    out_y[y:y + fh, x:x + fw] = inner.y
    if frame.u is None:
        return YuvPicture(out_y, None, None, frame.space)
    sx, sy = frame.subsampling
    planes = []
    for plane in (inner.u, inner.v):
        out = np.full((-(-height // sy), -(-width // sx)), grey, plane.dtype)
        out[y // sy:y // sy + plane.shape[0], x // sx:x // sx + plane.shape[1]] = plane
        planes.append(out)
    return YuvPicture(out_y, *planes, frame.space)
