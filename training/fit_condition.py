r"""Fit the runtime's clean-or-degraded gate (vcam_sr/upscalers/condition.py) on training crops.

    python -m training.fit_condition --data ../shared/data/train --clips ../shared/data/val/clips \
        --clean-model vcam_sr/models/fast-clean.onnx --robust-model vcam_sr/models/fast.onnx \
        --out vcam_sr/models/condition.json

Crops of training images and frames are shrunk 2x and delivered clean, webcam-like or call-like
(training/degradations.py, the profiles the robust models learn from). Each crop is labelled by
what matters: whether the robust model beats the clean one on it (Y-PSNR against the original;
without the two models, whether it was degraded at all). A logistic regression (scikit-learn) on the
logs of the three measurements fits the labels, each crop weighted by the dB a wrong choice costs
there (or, without the models, both classes weighted equally). The held-out clips
(training/clips.py conditions) are only scored: the share of frames sent to the robust model,
and the Y-PSNR of the gate's choice per frame against always-clean and always-robust.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from training.clips import ClipSet, fresh
from training.data import downscaled, load_hr_pool
from training.degradations import PROFILES, degrade
from training.metrics import psnr_ssim
from vcam_sr.atomic import atomic_path
from vcam_sr.errors import VcamError
from vcam_sr.media.colour import luma
from vcam_sr.upscalers import condition
from vcam_sr.upscalers.base import Upscaler
from vcam_sr.upscalers.onnxruntime import OnnxRuntimeUpscaler


def sample_crops(pool, count: int, rng) -> list[tuple[np.ndarray, np.ndarray, int]]:
    """(degraded LR luma, HR luma, profile index) of `count` crops, LR 160-320 px, profiles in turn."""
    crops = []
    for i in tqdm(range(count), desc="crops", unit="crop"):
        img = pool[rng.integers(len(pool))]
        h, w = img.shape[:2]
        side = int(min(h, w, rng.integers(320, 641))) // 2 * 2
        y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        hr = img[y:y + side, x:x + side]
        crops.append((degrade(downscaled(hr, 0.5), PROFILES[i % 3], rng), luma(hr), i % 3))
    return crops


def y_psnr(sr: np.ndarray, hr: np.ndarray, border: int = 2) -> float:
    """PSNR of two luma planes in [0, 1], `border` pixels cropped, as the literature scores."""
    error = (sr - hr)[border:-border, border:-border]
    return float(10 * np.log10(1 / max(np.mean(error ** 2), 1e-12)))


def robust_gain(crops, clean: Upscaler, robust: Upscaler) -> np.ndarray:
    """dB by which the robust model beats the clean one on each crop (Y-PSNR vs the original)."""
    return np.array([y_psnr(robust.upscale_y(lr), hr) - y_psnr(clean.upscale_y(lr), hr)
                     for lr, hr, _ in tqdm(crops, desc="labels", unit="crop")])


def fit_logistic(x: np.ndarray, label: np.ndarray, weight: np.ndarray) -> dict:
    """scikit-learn's weighted logistic regression on standardised features, in the form
    vcam_sr/upscalers/condition.py reads."""
    from sklearn.linear_model import LogisticRegression

    mean, scale = x.mean(0), x.std(0)
    fit = LogisticRegression(C=10.0).fit((x - mean) / scale, label, sample_weight=weight / weight.mean())
    return {"features": list(condition.FEATURES), "mean": mean.tolist(), "scale": scale.tolist(),
            "weights": fit.coef_[0].tolist(), "bias": float(fit.intercept_[0])}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/data/train", help="training images and clips")
    ap.add_argument("--clips", help="held-out clips to score the fit on (never fitted)")
    ap.add_argument("--clean-model", help="the clean-input ONNX model the gate chooses against...")
    ap.add_argument("--robust-model", help="...the robust ONNX model (both or neither)")
    ap.add_argument("--samples", type=int, default=900, help="crops to fit on (default 900)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="vcam_sr/models/condition.json")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    try:
        if bool(args.clean_model) != bool(args.robust_model):
            raise ValueError("pass both --clean-model and --robust-model, or neither")
        models = [OnnxRuntimeUpscaler(Path(p), ["CPUExecutionProvider"], 2)
                  for p in (args.clean_model, args.robust_model)] if args.clean_model else None
        pool = load_hr_pool(args.data, 4, 320)
        clips = ClipSet(args.clips, max_frames=40, with_flicker=False) if args.clips else None
    except (FileNotFoundError, ValueError, VcamError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    crops = sample_crops(pool, args.samples, rng)
    profile = np.array([p for _, _, p in crops])
    if models:  # weigh each crop by the dB a wrong choice would cost there
        gain = robust_gain(crops, *models)
        if not gain.any():
            print("error: the two models give the same output; pass two different models",
                  file=sys.stderr)
            return 2
        label, weight = gain > 0, np.abs(gain)
    else:  # both classes weigh the same in all
        label = profile > 0
        weight = np.where(label, 0.5 / label.mean(), 0.5 / (1 - label.mean()))
    x = np.array([condition.feature_vector(condition.measure(lr)) for lr, _, _ in crops])
    fit = fit_logistic(x, label, weight)
    with atomic_path(args.out) as tmp:
        tmp.write_text(json.dumps(fit, indent=1) + "\n")
    robust = ((x - fit["mean"]) / np.array(fit["scale"])) @ np.array(fit["weights"]) + fit["bias"] > 0
    print(f"training crops: the gate agrees with the label on {np.mean(robust == label):.0%}; "
          "sent to the robust model: " + ", ".join(
              f"{p} {np.mean(robust[profile == i]):.0%}" for i, p in enumerate(PROFILES)))
    if models:
        print("training crops where the robust model wins: " + ", ".join(
            f"{p} {np.mean(label[profile == i]):.0%}" for i, p in enumerate(PROFILES)))
    if clips:
        for line in score_clips(clips, models, fit):
            print(line)
    print(f"wrote {args.out}")
    return 0


def score_clips(clips: ClipSet, models, fit: dict) -> list[str]:
    """Per condition: frames the gate sends to the robust model, and (with the models) the mean
    Y-PSNR of always-clean, always-robust and the gate's choice, frame by frame."""
    lines = []
    for c in clips.conditions:
        pairs = [(lr_frame, hr_frame) for _, hr, _, lr in clips.items for lr_frame, hr_frame in zip(lr[c], hr)]
        sent = np.array([condition.estimate(f, fit).degraded for f, _ in pairs])
        line = f"clips, {c}: {sent.mean():.0%} of frames to the robust model"
        if models:
            # each frame alone, as the gate judges it: not averaged with the one before
            psnr = np.array([[psnr_ssim(fresh(m.upscale)(f), h)[0] for m in models] for f, h in pairs])
            gated = np.where(sent, psnr[:, 1], psnr[:, 0])
            line += (f"; Y-PSNR always clean {psnr[:, 0].mean():.2f}, always robust "
                     f"{psnr[:, 1].mean():.2f}, gated {gated.mean():.2f} dB")
        lines.append(line)
    return lines


if __name__ == "__main__":
    sys.exit(main())
