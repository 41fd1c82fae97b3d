"""The `call` degradation: what a poor video call does to a frame.

Mild blur, sensor noise, JPEG and a real H.264 round trip at a low bitrate (PyAV's libx264),
applied in random order and strength to an LR uint8 RGB image.
"""
from __future__ import annotations

import fractions

import cv2
import numpy as np


def blur(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    sigma = rng.uniform(0.3, 1.2)
    return cv2.GaussianBlur(img, (0, 0), sigmaX=sigma)


def sensor_noise(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    sigma = rng.uniform(1.0, 8.0)
    noisy = img.astype(np.float32) + rng.normal(0.0, sigma, img.shape).astype(np.float32)
    return np.clip(noisy.round(), 0, 255).astype(np.uint8)


def jpeg(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    quality = int(rng.integers(30, 91))
    ok, buf = cv2.imencode(".jpg", img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].copy()


def h264(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Encode and decode one frame with libx264 at a call-like bitrate (bits per pixel ~0.02-0.15)."""
    import av

    h, w = img.shape[:2]
    eh, ew = h + h % 2, w + w % 2  # yuv420p needs even sizes
    padded = np.pad(img, ((0, eh - h), (0, ew - w), (0, 0)), mode="edge")
    codec = av.CodecContext.create("libx264", "w")
    codec.width, codec.height, codec.pix_fmt = ew, eh, "yuv420p"
    codec.time_base = fractions.Fraction(1, 30)
    codec.bit_rate = int(ew * eh * 30 * rng.uniform(0.02, 0.15))
    codec.options = {"preset": "ultrafast", "tune": "zerolatency"}
    frame = av.VideoFrame.from_ndarray(padded, format="rgb24")
    packets = codec.encode(frame) + codec.encode(None)
    decoder = av.CodecContext.create("h264", "r")
    out = None
    for packet in packets:
        for decoded in decoder.decode(packet):
            out = decoded.to_ndarray(format="rgb24")
    for decoded in decoder.decode(None):
        out = decoded.to_ndarray(format="rgb24")
    return out[:h, :w] if out is not None else img


STEPS = (blur, sensor_noise, jpeg, h264)


def call_degrade(img: np.ndarray, rng: np.random.Generator, p: float = 0.6) -> np.ndarray:
    """Apply each step with probability `p`, in a random order."""
    for i in rng.permutation(len(STEPS)):
        if rng.random() < p:
            img = STEPS[i](img, rng)
    return np.ascontiguousarray(img)
