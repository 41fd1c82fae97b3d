"""Bicubic 2x (OpenCV): the no-model baseline and the last-resort fallback."""
from __future__ import annotations

import cv2
import numpy as np

from vcam_sr.upscalers.base import SCALE, Upscaler


class BicubicUpscaler(Upscaler):
    name = "bicubic"
    denoise = False  # the plain picture, to compare against: what a call shows without vcam-sr

    def upscale_y(self, y: np.ndarray, condition: np.ndarray | None = None) -> np.ndarray:
        h, w = y.shape
        return cv2.resize(y, (w * SCALE, h * SCALE), interpolation=cv2.INTER_CUBIC)

    def describe(self) -> str:
        return "bicubic (OpenCV INTER_CUBIC, no model)"
