"""Is a frame clean, or noisy / compressed? A cheap estimate, so the runtime can give clean
frames to the clean-input model and degraded ones to a robust model (a net this small cannot be
best at both).

Three measurements on luma, a few ms per frame:
- noise: Immerkaer's estimator (1996), the mean |response| of a mask that cancels smooth image
  structure, over the flattest half of the pixels so texture does not read as noise;
- blocking at 8 and 4 pixels: how much larger the luma steps across the JPEG / H.264 transform
  grid are than the steps between grid lines (1.0 = no grid).
A logistic regression over their logarithms, fitted by training/fit_condition.py on degraded
training crops, turns them into a score; its weights ship as models/condition.json.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np

from vcam_sr.media.colour import luma
from vcam_sr.models import MODEL_DIR

FEATURES = ("noise_sigma", "blocking8", "blocking4")
# What a conditioned model takes: the log features, standardised with these fixed constants
# (the spread of the training crops); changing them changes what every such model reads.
CONDITION_MEAN = np.array([0.1005, 0.1574, 0.1101], np.float32)
CONDITION_SCALE = np.array([1.0, 0.145, 0.0826], np.float32)
_MASK = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)


@dataclass(frozen=True)
class Condition:
    noise_sigma: float  # grey levels
    blocking8: float    # across-grid / off-grid luma step ratio
    blocking4: float
    score: float        # > 0: degraded (log-odds)

    @property
    def degraded(self) -> bool:
        return self.score > 0

    @property
    def kind(self) -> str:
        return "noisy or compressed" if self.degraded else "clean"

    @property
    def measured(self) -> str:
        return (f"noise sigma {self.noise_sigma:.2f}, blocking {self.blocking8:.2f} at 8 px, "
                f"{self.blocking4:.2f} at 4 px, score {self.score:+.1f}")

    def __str__(self) -> str:
        return f"{self.kind} ({self.measured})"


def noise_sigma(y: np.ndarray) -> float:
    """Immerkaer's sigma over the flattest 50% of pixels (by Sobel magnitude), grey levels."""
    response = np.abs(cv2.filter2D(y, -1, _MASK)[1:-1, 1:-1])
    edges = np.hypot(cv2.Sobel(y, cv2.CV_32F, 1, 0), cv2.Sobel(y, cv2.CV_32F, 0, 1))[1:-1, 1:-1]
    flat = edges <= np.median(edges)
    return float(np.sqrt(np.pi / 2) / 6 * response[flat].mean())


def blocking(y: np.ndarray, grid: int) -> float:
    """Mean |step| across grid lines over mean |step| elsewhere, columns and rows together."""
    on, off = [], []
    for steps in (np.abs(np.diff(y, axis=1)), np.abs(np.diff(y, axis=0)).T):
        at_grid = (np.arange(steps.shape[1]) % grid) == grid - 1
        on.append(steps[:, at_grid].mean())
        off.append(steps[:, ~at_grid].mean())
    return float(np.mean(on) / max(np.mean(off), 1e-6))


def centre(y: np.ndarray, height: int = 360, width: int = 640) -> np.ndarray:
    """At most height x width from the middle of the plane, on the 8-pixel coding grid (so that
    blocking is measured where it is): a measurement takes 5 ms there, 15 on a whole 960x540
    frame, which made the first frames of a live run late."""
    top, left = max(0, (y.shape[0] - height) // 16 * 8), max(0, (y.shape[1] - width) // 16 * 8)
    return y[top:top + height, left:left + width]


def measure(frame: np.ndarray) -> dict[str, float]:
    """The raw measurements of one luma plane (float, black 0, white 1) or uint8 RGB frame, in
    grey levels, on its centre (at most 640x360)."""
    frame = centre(frame)
    y = (luma(frame) if frame.ndim == 3 else np.asarray(frame, np.float32)) * np.float32(255)
    return {"noise_sigma": noise_sigma(y), "blocking8": blocking(y, 8), "blocking4": blocking(y, 4)}


def feature_vector(m: dict[str, float]) -> np.ndarray:
    return np.log(np.array([m[k] for k in FEATURES]) + 0.05)


def condition_vector(y: np.ndarray) -> np.ndarray:
    """A conditioned model's condition input for one luma plane: float32 (len(FEATURES),)."""
    return ((feature_vector(measure(y)) - CONDITION_MEAN) / CONDITION_SCALE).astype(np.float32)


class ConditionTracker:
    """The condition input for one stream of frames: measured on the first frame and every
    `every`-th after it (a measurement costs ~7 ms at 640x360), smoothed so that the model's
    treatment of a call drifts instead of jumping."""

    def __init__(self, every: int = 15, smoothing: float = 0.5):
        self.every, self.smoothing = every, smoothing
        self.frames, self.value = 0, None

    def __call__(self, y: np.ndarray) -> np.ndarray:
        if self.frames % self.every == 0:
            new = condition_vector(y)
            self.value = new if self.value is None else \
                (self.smoothing * self.value + (1 - self.smoothing) * new).astype(np.float32)
        self.frames += 1
        return self.value[None]


@cache
def classifier() -> dict:
    """{"mean", "scale", "weights", "bias"} fitted by training/fit_condition.py."""
    return json.loads((MODEL_DIR / "condition.json").read_text())


def estimate(frames: np.ndarray | list[np.ndarray], fit: dict | None = None) -> Condition:
    """The condition of a luma plane, or of several (their measurements averaged); `fit` replaces
    the shipped classifier (training/fit_condition.py scores a new fit with it)."""
    frames = [frames] if isinstance(frames, np.ndarray) else frames
    measured = [measure(f) for f in frames]
    mean = {k: float(np.mean([m[k] for m in measured])) for k in FEATURES}
    c = fit or classifier()
    z = (feature_vector(mean) - np.array(c["mean"])) / np.array(c["scale"])
    return Condition(**mean, score=float(z @ np.array(c["weights"]) + c["bias"]))
