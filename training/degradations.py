"""What a webcam and a video call do to a frame: seeded random degradations of an LR image.

`degrade` returns what the model sees, the luma plane (float32, black 0, white 1). The steps
before a codec take and return uint8 HxWx3 RGB; each draws its strength from the range named
beside it, so tests can check the ranges and a seeded run repeats exactly. Every decode is
exact (training/codecs.py): no step may change the mean brightness.

- `webcam`: what a USB camera sends: optional mild blur, sensor noise, then MJPG (JPEG).
- `call`: what a receiver sees: a real codec round trip, half libx264 (zerolatency, CRF) and
  half VP8 (real-time, constant quantizer), usually as a P-frame coded against a slightly
  moved previous frame, as most frames of a call are; or a low-quality JPEG; after the
  sender's own mild blur or noise.
- `clean`: nothing (the literature's bicubic LR).
"""
from __future__ import annotations

import cv2
import numpy as np

from training.codecs import round_trip
from vcam_sr.media.colour import luma, normalized_luma

BLUR_SIGMA = (0.3, 1.0)
NOISE_SIGMA = (1.0, 8.0)       # grey levels
WEBCAM_JPEG_Q = (60, 95)
CALL_JPEG_Q = (30, 70)
CALL_CRF = (24, 40)             # x264; 32-42 dB on talking heads at 360p
CALL_VP8_Q = (12, 56)           # VP8's quantizer; ~ WebRTC's 200-1600 kbps at 360p
MOTION_PX = 2                  # largest shift between a P-frame and the frame before it
PROFILES = ("clean", "webcam", "call")


def blur(img: np.ndarray, rng: np.random.Generator, sigma=BLUR_SIGMA) -> np.ndarray:
    return cv2.GaussianBlur(img, (0, 0), sigmaX=rng.uniform(*sigma))


def sensor_noise(img: np.ndarray, rng: np.random.Generator, sigma=NOISE_SIGMA) -> np.ndarray:
    """Gaussian noise; a third of the time the same in all colours (luma-only noise)."""
    s = rng.uniform(*sigma)
    shape = img.shape[:2] + ((1,) if rng.random() < 1 / 3 else (3,))
    noisy = img.astype(np.float32) + rng.normal(0.0, s, shape).astype(np.float32)
    return np.clip(noisy.round(), 0, 255).astype(np.uint8)


def jpeg(img: np.ndarray, rng: np.random.Generator, quality=WEBCAM_JPEG_Q) -> np.ndarray:
    q = int(rng.integers(quality[0], quality[1] + 1))
    ok, buf = cv2.imencode(".jpg", img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, q])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].copy()


def moved(img: np.ndarray, rng: np.random.Generator, most: int = MOTION_PX) -> np.ndarray:
    """`img` shifted by up to `most` pixels each way (edges repeated): a previous frame."""
    dy, dx = (int(v) for v in rng.integers(-most, most + 1, 2))
    h, w = img.shape[:2]
    padded = np.pad(img, ((most, most), (most, most), (0, 0)), mode="edge")
    return padded[most + dy:most + dy + h, most + dx:most + dx + w]


def codec(img: np.ndarray, rng: np.random.Generator, previous: np.ndarray | None = None) -> np.ndarray:
    """Luma of `img` after an x264 or VP8 round trip at a call-like rate: as an I-frame, or as
    a P-frame after `previous`."""
    frames = [f for f in (previous, img) if f is not None]
    if rng.random() < 0.5:
        decoded = round_trip(frames, "h264", crf=int(rng.integers(CALL_CRF[0], CALL_CRF[1] + 1)))
    else:
        decoded = round_trip(frames, "vp8", q=int(rng.integers(CALL_VP8_Q[0], CALL_VP8_Q[1] + 1)))
    return normalized_luma(decoded[-1])


def webcam(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if rng.random() < 0.5:
        img = blur(img, rng)
    return jpeg(sensor_noise(img, rng), rng, WEBCAM_JPEG_Q)


def call(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Luma of `img` as a call's receiver decodes it."""
    if rng.random() < 0.3:
        img = blur(img, rng)
    if rng.random() < 0.3:
        img = sensor_noise(img, rng, (1.0, 4.0))
    if rng.random() < 0.3:
        return luma(jpeg(img, rng, CALL_JPEG_Q))
    return codec(img, rng, previous=moved(img, rng) if rng.random() < 0.8 else None)


def degrade(img: np.ndarray, profile: str, rng: np.random.Generator) -> np.ndarray:
    """The luma plane (float32 HxW, black 0, white 1) of uint8 RGB `img` as the named profile
    would deliver it."""
    if profile == "clean":
        return luma(img)
    if profile == "webcam":
        return luma(webcam(img, rng))
    if profile == "call":
        return np.ascontiguousarray(call(img, rng), dtype=np.float32)
    raise ValueError(f"unknown degradation profile {profile!r}; choose one of {', '.join(PROFILES)}")


def parse_mix(mix: dict) -> tuple[list[str], np.ndarray]:
    """{profile: weight} -> (profiles, probabilities); a clear error for anything else."""
    if not isinstance(mix, dict) or not mix or any(
            k not in PROFILES or isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0
            for k, v in mix.items()) or sum(mix.values()) <= 0:
        raise ValueError(f"data.degradation must map profiles ({', '.join(PROFILES)}) to "
                         f"non-negative weights, such as {{clean: 0.2, webcam: 0.4, call: 0.4}}, "
                         f"not {mix!r}")
    names = list(mix)
    weights = np.array([float(mix[k]) for k in names])
    return names, weights / weights.sum()
