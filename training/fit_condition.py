"""Fit the runtime's clean-or-degraded estimate (vcam_sr/condition.py) on training crops.

    python -m training.fit_condition --data ../shared/data/train --clips ../shared/data/val/clips \
        --out vcam_sr/models/condition.json

Crops of training images and frames are shrunk 2x and delivered clean, webcam-like or call-like
(training/degradations.py, the same profiles the robust models learn from); a logistic regression
on the logs of the three measurements separates clean from the other two, the classes weighted
equally. The held-out clips (training/clips.py conditions) are only scored, per frame and per
clip (measurements averaged over 8 frames, as the runtime does at start-up).
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np
from tqdm import tqdm

from training.clips import ClipSet
from training.data import downscaled, load_hr_pool
from training.degradations import PROFILES, degrade
from vcam_sr import condition
from vcam_sr.atomic import atomic_path


def sample_features(pool, count: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """(features, profile index) of `count` degraded LR crops, 160-320 px, profiles in turn."""
    features, labels = [], []
    for i in tqdm(range(count), desc="crops", unit="crop"):
        img = pool[rng.integers(len(pool))]
        h, w = img.shape[:2]
        side = int(min(h, w, rng.integers(320, 641))) // 2 * 2
        y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        lr = downscaled(img[y:y + side, x:x + side], 0.5)
        lr = degrade(lr, PROFILES[i % 3], rng)
        features.append(condition.feature_vector(condition.measure(lr)))
        labels.append(i % 3)
    return np.array(features), np.array(labels)


def fit_logistic(x: np.ndarray, degraded: np.ndarray, steps: int = 5000, l2: float = 1e-3) -> dict:
    """Gradient descent on the class-balanced log loss, on standardised features."""
    mean, scale = x.mean(0), x.std(0)
    z = (x - mean) / scale
    sample_weight = np.where(degraded, 0.5 / degraded.mean(), 0.5 / (1 - degraded.mean()))
    w, b = np.zeros(z.shape[1]), 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(z @ w + b)))
        g = sample_weight * (p - degraded) / len(z)
        w -= 0.5 * (z.T @ g + l2 * w)
        b -= 0.5 * g.sum()
    return {"features": list(condition.FEATURES), "mean": mean.tolist(), "scale": scale.tolist(),
            "weights": w.tolist(), "bias": float(b)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/data/train", help="training images and clips")
    ap.add_argument("--clips", help="held-out clips to score the fit on (never fitted)")
    ap.add_argument("--samples", type=int, default=900, help="crops to fit on (default 900)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="vcam_sr/models/condition.json")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    try:
        pool = load_hr_pool(args.data, 4, 320)
        clips = ClipSet(args.clips, max_frames=40, with_flicker=False) if args.clips else None
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    x, label = sample_features(pool, args.samples, rng)
    fit = fit_logistic(x, label > 0)
    with atomic_path(args.out) as tmp:
        tmp.write_text(json.dumps(fit, indent=1) + "\n")
    condition.classifier.cache_clear()
    score = ((x - fit["mean"]) / np.array(fit["scale"])) @ np.array(fit["weights"]) + fit["bias"]
    print("training crops, share called degraded: " + ", ".join(
        f"{p} {np.mean(score[label == i] > 0):.2f}" for i, p in enumerate(PROFILES)))
    if clips:
        for c in clips.conditions:
            frames = [condition.estimate(f).degraded for _, _, _, lr in clips.items for f in lr[c]]
            per_clip = [condition.estimate(lr[c][:8]).degraded for _, _, _, lr in clips.items]
            print(f"clips, {c}: frames called degraded {np.mean(frames):.2f}, clips (8-frame "
                  f"estimate) {sum(per_clip)} of {len(per_clip)}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
