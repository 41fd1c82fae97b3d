"""Video-call scoring on talking-head clips: each clip is shrunk 2x, then delivered clean,
webcam-like or call-like (fixed seeds), upscaled by a method, and scored against the original
frames for Y-PSNR, SSIM and temporal flicker (tOF).

tOF (TecoGAN's temporal metric): the mean absolute difference between the Farneback optical
flow of consecutive outputs and that of consecutive originals. Lower is steadier; a method that
sharpens noise differently in every frame flickers and scores high.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import av
import cv2
import numpy as np

from training.codecs import round_trip
from training.data import VIDEO_EXT, downscaled
from training.metrics import crop_hr, psnr_ssim
from vcam_sr.media.colour import to_rgb, yuv_to_rgb
from vcam_sr.media.frames import from_av, hard_compression

Upscale = Callable[[np.ndarray], np.ndarray]

WEBCAM_NOISE, WEBCAM_JPEG_Q, CALL_CRF = 4.0, 85, 32
CONDITIONS = {
    "clean": "2x bicubic down only",
    "webcam": f"Gaussian noise sigma {WEBCAM_NOISE:g} grey levels, then JPEG q{WEBCAM_JPEG_Q}, "
              "per frame",
    "call": f"the whole clip through libx264 CRF {CALL_CRF} (veryfast, zerolatency, yuv420p)",
}


def fresh(upscale: Upscale, compressed: str = "") -> Upscale:
    """`upscale`, told that another clip or image starts: a runtime upscaler then forgets the
    last one's condition and frames (it averages a stream's noise over frames), and is told
    why the clip is known to be hard compressed, as the runtime tells it of a video file."""
    owner = getattr(upscale, "__self__", None)
    if hasattr(owner, "new_stream"):
        owner.new_stream(compressed)
    return upscale


def read_clip(path: str | Path, max_frames: int | None = None) -> tuple[list[np.ndarray], float]:
    """(RGB uint8 frames cropped to even sizes, fps), the first `max_frames` frames."""
    frames = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or 25)
        for frame in container.decode(stream):
            frames.append(crop_hr(to_rgb(from_av(frame))))
            if max_frames and len(frames) >= max_frames:
                break
    if len(frames) < 2:
        raise ValueError(f"{path} has fewer than 2 decodable frames; clip scoring needs a video")
    return frames, fps


def find_clips(where: str | Path | list) -> list[Path]:
    """The clips of a folder, or the listed clip files."""
    if isinstance(where, (list, tuple)):
        missing = [p for p in where if not Path(p).is_file()]
        if missing:
            raise FileNotFoundError(f"clip {missing[0]} does not exist; list existing video files")
        return [Path(p) for p in where]
    folder = Path(where)
    if not folder.is_dir():
        raise FileNotFoundError(f"clip folder {folder} does not exist; pass a folder of .mp4 clips")
    clips = sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_EXT)
    if not clips:
        raise FileNotFoundError(f"no video clips (.mp4, .mkv, ...) in {folder}")
    return clips


def h264_round_trip(frames: list[np.ndarray], fps: float, crf: int = CALL_CRF,
                    quantizers: list[int] | None = None) -> list[np.ndarray]:
    """Encode the frames as one H.264 stream (P-frames and all, as a call sends them), decode,
    convert back exactly; `quantizers` receives each frame's quantizer."""
    return [yuv_to_rgb(p) for p in round_trip(frames, "h264", fps, crf=crf, threads=2,
                                              quantizers=quantizers)]


def degrade_clip(hr: list[np.ndarray], fps: float, condition: str, seed: int,
                 quantizers: list[int] | None = None) -> list[np.ndarray]:
    """The LR frames a method gets under `condition` (see CONDITIONS); `quantizers` receives
    the call condition's H.264 quantizers."""
    lr = [downscaled(f, 0.5) for f in hr]
    if condition == "clean":
        return lr
    if condition == "webcam":
        rng = np.random.default_rng(seed)
        out = []
        for f in lr:
            noisy = np.clip(f + rng.normal(0, WEBCAM_NOISE, f.shape), 0, 255).round().astype(np.uint8)
            ok, buf = cv2.imencode(".jpg", noisy[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, WEBCAM_JPEG_Q])
            out.append(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].copy())
        return out
    if condition == "call":
        return h264_round_trip(lr, fps, quantizers=quantizers)
    raise ValueError(f"unknown condition {condition!r}; choose one of {', '.join(CONDITIONS)}")


def flows(frames: list[np.ndarray]) -> list[np.ndarray]:
    """Farneback optical flow between each pair of consecutive frames (on luma)."""
    grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
    return [cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5, 1.2, 0)
            for a, b in zip(grey, grey[1:])]


def tof(out_flows: list[np.ndarray], hr_flows: list[np.ndarray]) -> float:
    return float(np.mean([np.abs(a - b).mean() for a, b in zip(out_flows, hr_flows)]))


class ClipSet:
    """The clips of a folder with their LR inputs under each condition, made once and shared by
    every method scored (so all methods see the very same degraded frames)."""

    def __init__(self, folder: str | Path | list, conditions=tuple(CONDITIONS), max_frames: int | None = 60,
                 seed: int = 0, with_flicker: bool = True):
        self.items = []  # (clip name, HR frames, HR flows or None, {condition: LR frames})
        self.compressed: dict[tuple[str, str], str] = {}  # (clip, condition): hard_compression
        for i, path in enumerate(find_clips(folder)):
            hr, fps = read_clip(path, max_frames)
            lr = {}
            for c in conditions:
                quantizers: list[int] = []
                lr[c] = degrade_clip(hr, fps, c, seed + i, quantizers)
                self.compressed[path.stem, c] = hard_compression(quantizers)
            self.items.append((path.stem, hr, flows(hr) if with_flicker else None, lr))
        self.conditions = list(conditions)

    def score(self, upscale: Upscale | None = None, per_source: Callable[[], Upscale] | None = None) -> dict:
        """{condition: {"psnr", "ssim", "tof", "clips": {name: [psnr, ssim, tof, Y, Cb, Cr]}}},
        each figure the mean over frames, then over clips (Y, Cb, Cr: the output's mean code
        values, BT.601 full range, for colour bias). `per_source` makes a new upscaler for each
        clip, as the runtime starts one per source (for methods that adapt to it), told what
        the runtime would know of it as a video file (its H.264 quantizer)."""
        result = {}
        for c in self.conditions:
            per_clip = {}
            for name, hr, hr_flows, lr in self.items:
                run = fresh(per_source() if per_source else upscale, self.compressed[name, c])
                out = [run(f) for f in lr[c]]
                values = np.array([psnr_ssim(o, h) for o, h in zip(out, hr)])
                flicker = tof(flows(out), hr_flows) if hr_flows is not None else float("nan")
                ycc = np.mean([ycbcr_means(o) for o in out], axis=0)
                per_clip[name] = [float(values[:, 0].mean()), float(values[:, 1].mean()), flicker, *map(float, ycc)]
            table = np.array(list(per_clip.values()))
            result[c] = {"psnr": float(table[:, 0].mean()), "ssim": float(table[:, 1].mean()),
                         "tof": float(table[:, 2].mean()), "clips": per_clip}
        return result


def ycbcr_means(rgb: np.ndarray) -> np.ndarray:
    """Mean Y, Cb, Cr code values (BT.601, full range) of a uint8 RGB frame."""
    r, g, b = (rgb[..., i].astype(np.float64).mean() for i in range(3))
    y = 0.299 * r + 0.587 * g + 0.114 * b
    return np.array([y, 128 + (b - y) / 1.772, 128 + (r - y) / 1.402])


def clip_markdown(results: dict[str, dict], conditions: list[str], baseline: str) -> str:
    """One row per method: PSNR / SSIM / tOF per condition with the PSNR gain over `baseline`
    (the mean over clips, and the worst clip's), then the colour bias against it: the mean
    difference in Y, Cb and Cr code values, the largest over conditions."""
    head = ("| method | " + " | ".join(f"{c}: PSNR / SSIM / tOF (gain; worst clip)" for c in conditions)
            + " | bias Y / Cb / Cr |")
    lines = [head, "|" + "---|" * (len(conditions) + 2)]
    base = results[baseline]
    for method, r in results.items():
        cells, bias = [], np.zeros(3)
        for c in conditions:
            gain = r[c]["psnr"] - base[c]["psnr"]
            gains = [r[c]["clips"][n][0] - base[c]["clips"][n][0] for n in r[c]["clips"]]
            cells.append(f"{r[c]['psnr']:.2f} / {r[c]['ssim']:.4f} / {r[c]['tof']:.3f} "
                         f"({gain:+.2f}; {min(gains):+.2f})")
            shift = np.mean([np.array(r[c]["clips"][n][3:6]) - base[c]["clips"][n][3:6] for n in r[c]["clips"]], axis=0)
            bias = np.where(np.abs(shift) > np.abs(bias), shift, bias)
        lines.append(f"| {method} | " + " | ".join(cells) + " | " + " / ".join(f"{v:+.2f}" for v in bias) + " |")
    return "\n".join(lines)
