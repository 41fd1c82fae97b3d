"""`vcam-sr bench --conversions`: what the frame conversions around the model cost per frame,
the way frames travelled before (RGB through swscale, an RGB model) and now (YUV planes as
decoded, the model on luma, chroma by a filter, I420 straight to the virtual camera)."""
from __future__ import annotations

import fractions
import time

import av
import cv2
import numpy as np

from vcam_sr.media.colour import ColourSpace, YuvPicture, luma_codes, normalized_luma, rgb_to_yuv
from vcam_sr.media.frames import from_av, to_av
from vcam_sr.sinks.virtualcam import i420
from vcam_sr.sources.test_pattern import TestPatternSource


def decoded_frame(width: int, height: int) -> av.VideoFrame:
    """A real decoded H.264 frame (yuv420p) of the test pattern."""
    codec = av.CodecContext.create("libx264", "w")
    codec.width, codec.height, codec.pix_fmt = width, height, "yuv420p"
    codec.time_base = fractions.Fraction(1, 30)
    picture = to_av(rgb_to_yuv(TestPatternSource(width, height, realtime=False).read(), ColourSpace()))
    picture.pts = 0
    packets = codec.encode(picture) + codec.encode(None)
    decoder = av.CodecContext.create("h264", "r")
    return next(f for p in [*packets, None] for f in decoder.decode(p))


def steps(frame: av.VideoFrame) -> dict[str, dict[str, callable]]:
    """{path: {step: call}} for the conversions of one frame, before and now."""
    h, w = frame.height, frame.width
    rgb, picture = frame.to_ndarray(format="rgb24"), from_av(frame)
    rgb_out = cv2.resize(rgb, (2 * w, 2 * h))
    model_rgb = np.random.default_rng(0).random((1, 3, 2 * h, 2 * w), dtype=np.float32)
    model_y = np.random.default_rng(0).random((2 * h, 2 * w), dtype=np.float32)
    up = lambda p: cv2.resize(p, (p.shape[1] * 2, p.shape[0] * 2), interpolation=cv2.INTER_CUBIC)  # noqa: E731
    up_picture = YuvPicture(up(picture.y), up(picture.u), up(picture.v), picture.space)
    return {
        "before": {
            "decode to RGB (swscale)": lambda: frame.to_ndarray(format="rgb24"),
            "RGB -> model input": lambda: np.ascontiguousarray(rgb.transpose(2, 0, 1)[None], np.float32) / 255,
            "model output -> RGB": lambda: np.rint(np.clip(model_rgb[0].transpose(1, 2, 0) * 255, 0, 255)).astype(np.uint8),
            "RGB -> encoder (swscale)": lambda: av.VideoFrame.from_ndarray(rgb_out, format="rgb24").reformat(format="yuv420p"),
            "RGB -> virtual camera I420": lambda: cv2.cvtColor(rgb_out, cv2.COLOR_RGB2YUV_I420),
        },
        "now": {
            "decode to planes": lambda: from_av(frame),
            "planes -> model input (luma)": lambda: normalized_luma(picture),
            "model output -> planes (+ chroma)": lambda: (luma_codes(model_y, picture.space), up(picture.u), up(picture.v)),
            "planes -> encoder": lambda: to_av(up_picture),
            "planes -> virtual camera I420": lambda: i420(up_picture),
        },
    }


def run(sizes, rounds: int = 5, repeats: int = 10) -> list[str]:
    lines = []
    for w, h in sizes:
        table = steps(decoded_frame(w, h))
        times = {(path, step): [] for path, calls in table.items() for step in calls}
        for _ in range(rounds):  # interleaved, so a busy moment hits both paths alike
            for path, calls in table.items():
                for step, call in calls.items():
                    call()
                    t0 = time.perf_counter()
                    for _ in range(repeats):
                        call()
                    times[(path, step)].append(1000 * (time.perf_counter() - t0) / repeats)
        lines += [f"\n{w}x{h} -> {2 * w}x{2 * h}, ms per frame (median of {rounds} rounds):",
                  "| path | step | ms |", "|---|---|---|"]
        totals = {}
        for (path, step), samples in times.items():
            ms = float(np.median(samples))
            totals[path] = totals.get(path, 0.0) + ms
            lines.append(f"| {path} | {step} | {ms:.2f} |")
        lines.append(f"| **total** | before {totals['before']:.2f}, now {totals['now']:.2f} | "
                     f"**{totals['now'] / totals['before']:.2f}x** |")
    return lines
