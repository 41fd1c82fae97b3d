"""Temporal denoising of a stream's luma before the model: a webcam's sensor noise is new in
every frame, so where a pixel has not changed by more than that noise, it is averaged with its
past (a motion-adaptive recursive filter); where it moved, the new frame is taken as it is, so
motion leaves no trail. One frame cannot tell such noise from detail; a few frames can.

It works only on a stream that reads as noisy or degraded in a single frame (measured every
second or so by vcam_sr/upscalers/condition.py: a luma noise sigma of 1 grey level or more, or the
clean-or-degraded estimate), so a clean camera is not averaged (unless fine texture reads as
noise and the camera pans: below). Its noise level is read from the frames themselves: the
local change between a frame and the running average that a quarter of the picture stays under
(a call's background holds still). A received call, whose codec repeats unchanged blocks
exactly, shows almost none and passes untouched; a scene cut or another source shows far more
than noise, and starts the average afresh. Not handled: a camera that pans over a noisy or
compressed picture raises the noise level read, so its low-contrast parts are averaged while
they move (by at most 1.5x that level).
"""
from __future__ import annotations

import logging

import cv2
import numpy as np

from vcam_sr.upscalers.condition import Condition, estimate

log = logging.getLogger("vcam_sr.temporal")


class TemporalDenoiser:
    """Call it with each frame's luma (float32, [0, 1]) of one stream, in order."""

    KEEP = 0.3                 # the share of a new frame taken where nothing moved
    STILL, MOVED = 1.5, 3.0    # local change, in noise levels: up to STILL still, from MOVED moved
    NOISY = 1.0 / 255          # the noise level (a grey level) from which a stream is noisy
    CUT = 16.0 / 255           # a noise level above this is a new picture, not noise
    CHECK = 30                 # frames between estimates of whether the stream is degraded
    SIGMA = 1.0                # a frame's measured noise (grey levels) from which it is noisy

    def __init__(self):
        self.past: np.ndarray | None = None
        self.until_check, self.degraded, self.noted = 0, False, False
        self.noise = 0.0  # the last frame-to-frame noise level read, 0 when none was

    @property
    def noisy(self) -> bool:
        """Whether the stream's last frames carried noise that changes from frame to frame: a
        surer sign of sensor noise than one frame's, which fine texture imitates."""
        return self.NOISY <= self.noise <= self.CUT

    def __call__(self, y: np.ndarray) -> np.ndarray:
        y = np.asarray(y, np.float32)
        if self.until_check <= 0:
            self.judge(estimate(y))
        self.until_check -= 1
        if not self.degraded:  # nothing kept: a clean stream (or a photo) costs no copy
            self.past, self.noise = None, 0.0
            return y
        if self.past is None or self.past.shape != y.shape:
            self.past = y.copy()
            return y
        change = cv2.blur(cv2.absdiff(y, self.past), (5, 5))
        noise = self.noise = float(np.percentile(change[::4, ::4], 25))
        if not self.noisy:
            np.copyto(self.past, y)
            return y
        if not self.noted:
            log.info("the input is noisy from frame to frame (%.1f grey levels): still pixels are "
                     "averaged over frames before the model", noise * 255)
            self.noted = True
        take = (change - self.STILL * noise) * np.float32(1 / ((self.MOVED - self.STILL) * noise))
        np.clip(take, self.KEEP, 1, out=take)
        self.past += take * (y - self.past)
        return self.past.copy()

    def judge(self, measured: Condition) -> None:
        """Whether the stream reads noisy or degraded, from a measurement of its current frame
        (its own, or the one auto's gate just made: the next is CHECK frames on, so the two
        never measure the same frame, 5 ms each)."""
        self.degraded = measured.degraded or measured.noise_sigma >= self.SIGMA
        self.until_check = self.CHECK
