r"""Evaluate upscalers: Y-PSNR / SSIM on the image sets, video-call behaviour on clips, and cost.

    python -m training.evaluate --val ../shared/data/val --clips ../shared/data/val/clips \
        --onnx vcam_sr/models/*.onnx --auto --peers ../shared/peers/opencv_dnn_superres --cost --out eval/

Methods: bicubic (PIL, Keys a=-0.5, the literature's baseline), cv2 INTER_CUBIC (a=-0.75, for
reference), PyTorch checkpoints, ONNX files, the runtime's `--model auto`, and the OpenCV
dnn_superres peers. Clips are scored clean, webcam-like and call-like with temporal flicker
(training/clips.py). Writes a markdown table and a JSON file; `--crops` writes
LR | bicubic | ours | HR side-by-sides.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
from PIL import Image
from tqdm import tqdm

from training.clips import CONDITIONS, ClipSet, clip_markdown, fresh
from training.data import load_val_set
from training.metrics import crop_hr, psnr_ssim
from vcam_sr.atomic import atomic_path
from vcam_sr.errors import VcamError
from vcam_sr.upscalers.base import time_calls
from vcam_sr.upscalers.onnxruntime import OnnxRuntimeUpscaler
from vcam_sr.upscalers.opencv_dnn import OpenCVDnnUpscaler, find_peer_models

Upscale = Callable[[np.ndarray], np.ndarray]  # uint8 RGB HxWx3 -> uint8 RGB 2Hx2Wx3


def pil_bicubic(lr: np.ndarray) -> np.ndarray:
    h, w = lr.shape[:2]
    return np.asarray(Image.fromarray(lr).resize((w * 2, h * 2), Image.BICUBIC))


def cv2_cubic(lr: np.ndarray) -> np.ndarray:
    return cv2.resize(lr, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)


def torch_upscaler(model) -> Upscale:
    """An in-memory generator through the runtime's torch backend, fp32 on its own device."""
    from vcam_sr.upscalers.torch import TorchUpscaler

    return TorchUpscaler(model, str(next(model.parameters()).device), fast_cuda=False).upscale


def onnx_upscaler(path: str | os.PathLike, threads: int = 2) -> Upscale:
    """The runtime's own ONNX Runtime backend on the CPU, so we score what users run."""
    return OnnxRuntimeUpscaler(Path(path), ["CPUExecutionProvider"], threads).upscale


class AutoPerSource:
    """The runtime's `--model auto` (shipped models on ONNX Runtime's CPU backend, 30 fps
    target), started afresh for every image or clip, as for a new source; `choices` records
    the model each one ended on."""

    def __init__(self, threads: int = 2, fps: float = 30.0):
        from vcam_sr.models import shipped

        self.models, self.threads, self.fps, self.choices = shipped(), threads, fps, []

    def new(self) -> Upscale:
        from vcam_sr.upscalers import build_backend
        from vcam_sr.upscalers.auto import AutoUpscaler

        auto = AutoUpscaler(self.models, lambda m: build_backend("onnxruntime", m.name, self.threads),
                            self.fps)
        self.choices.append(auto)
        return auto.upscale

    def __call__(self, lr: np.ndarray) -> np.ndarray:  # one image is one source
        return self.new()(lr)

    def chosen(self) -> dict[str, int]:
        names = [a.current.name for a in self.choices]
        self.choices = []
        return {n: names.count(n) for n in sorted(set(names))}


def peer_cost(pb_path: Path) -> dict:
    """Parameters and GFLOPs at 640x360 of an OpenCV peer (they run on the Y channel only)."""
    OpenCVDnnUpscaler(pb_path)  # registers the DepthToSpace layer the .pb needs
    net = cv2.dnn.readNet(str(pb_path))
    shape = (1, 1, 360, 640)
    return {"params": net.getMemoryConsumption(shape)[0] // 4, "gflops_640x360": net.getFLOPS(shape) / 1e9}


def score_sets(upscale: Upscale, sets: dict[str, list], crops_to: Path | None = None,
               label: str = "") -> dict:
    """{set: {"psnr", "ssim", "images": {name: [psnr, ssim]}}} for one method."""
    result = {}
    for set_name, items in sets.items():
        per_image = {}
        for name, lr, hr in items:
            sr = fresh(upscale)(lr)
            per_image[name] = psnr_ssim(sr, hr)
            if crops_to is not None:
                write_crop(crops_to / f"{set_name}_{name}_{label}.png", lr, sr, crop_hr(hr))
        values = np.array(list(per_image.values()))
        result[set_name] = {"psnr": float(values[:, 0].mean()), "ssim": float(values[:, 1].mean()),
                            "images": per_image}
    return result


def write_crop(path: Path, lr: np.ndarray, sr: np.ndarray, hr: np.ndarray, size: int = 128) -> None:
    """LR (nearest-upscaled) | bicubic | ours | HR around the image centre, side by side."""
    h, w = hr.shape[:2]
    y, x = max(0, h // 2 - size // 2), max(0, w // 2 - size // 2)
    tiles = [np.kron(lr, np.ones((2, 2, 1), np.uint8)), pil_bicubic(lr), sr, hr]
    strip = np.concatenate([t[y:y + size, x:x + size] for t in tiles], axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(strip).save(path)


def onnx_cost(path: str | os.PathLike, sizes=((320, 180), (640, 360)), repeats: int = 20,
              threads: int = 2) -> dict:
    """Parameters, GFLOPs (2 x MACs of the convs) at 640x360, ORT CPU ms at each input size."""
    import onnx
    from onnx import numpy_helper, shape_inference

    model = shape_inference.infer_shapes(onnx.load(str(path)))
    params = sum(numpy_helper.to_array(t).size for t in model.graph.initializer)
    shapes = {t.name: numpy_helper.to_array(t).shape for t in model.graph.initializer}
    for node in model.graph.node:  # int8 QDQ graphs feed convs through DequantizeLinear
        if node.op_type == "DequantizeLinear" and node.input[0] in shapes:
            shapes[node.output[0]] = shapes[node.input[0]]
    macs_per_lr_pixel = 0
    for node in model.graph.node:
        if node.op_type == "Conv":
            cout, cin_per_group, kh, kw = shapes[node.input[1]]
            macs_per_lr_pixel += cout * cin_per_group * kh * kw
    run = onnx_upscaler(path, threads)
    return {"params": int(params), "gflops_640x360": 2 * macs_per_lr_pixel * 640 * 360 / 1e9,
            **time_ms(run, sizes, repeats)}


def time_ms(upscale: Upscale, sizes, repeats: int) -> dict:
    """Median wall ms per call at each (w, h) input size, on a random frame."""
    rng = np.random.default_rng(0)
    return {f"ms_{w}x{h}": float(np.median(time_calls(upscale, rng.integers(0, 256, (h, w, 3), np.uint8),
                                                       repeats))) for w, h in sizes}


def markdown(results: dict[str, dict], sets: list[str]) -> str:
    head = "| method | " + " | ".join(f"{s} PSNR / SSIM" for s in sets) + " |"
    lines = [head, "|" + "---|" * (len(sets) + 1)]
    for method, r in results.items():
        cells = [f"{r[s]['psnr']:.2f} / {r[s]['ssim']:.4f}" for s in sets]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def cost_markdown(costs: dict[str, dict]) -> str:
    """Ratios to cv2 bicubic and, when it was timed, to OpenCV's FSRCNN-small_x2 (our budget)."""
    small = costs.get("opencv FSRCNN-small_x2")
    lines = ["| method | params | GFLOPs @640x360 | ms @320x180 | ms @640x360 | x bicubic @640x360 |"
             + (" x FSRCNN-small @320x180 / @640x360 |" if small else ""),
             "|---|---|---|---|---|---|" + ("---|" if small else "")]
    base = costs["bicubic (cv2)"]["ms_640x360"]
    for method, c in costs.items():
        params = f"{c['params']:,}" if "params" in c else "-"
        gflops = f"{c['gflops_640x360']:.2f}" if "gflops_640x360" in c else "-"
        ratio = (f" {c['ms_320x180'] / small['ms_320x180']:.2f} / {c['ms_640x360'] / small['ms_640x360']:.2f} |"
                 if small else "")
        lines.append(f"| {method} | {params} | {gflops} | {c['ms_320x180']:.1f} | "
                     f"{c['ms_640x360']:.1f} | {c['ms_640x360'] / base:.1f} |" + ratio)
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--val", default="../shared/data/val", help="folder holding SET/HR and SET/LR_x2")
    ap.add_argument("--sets", nargs="*", default=["Set5", "Set14", "B100"],
                    help="image sets to score (none: clips only)")
    ap.add_argument("--clips", help="folder of talking-head clips to score clean, webcam-like and "
                                    "call-like (training/clips.py), e.g. ../shared/data/val/clips")
    ap.add_argument("--clip-frames", type=int, default=60, help="first frames of each clip (60)")
    ap.add_argument("--auto", action="store_true",
                    help="also score the runtime's --model auto, new for every image and clip")
    ap.add_argument("--onnx", nargs="*", default=[], help="ONNX models to score")
    ap.add_argument("--openvino", nargs="*", default=[], choices=["f32", "bf16", "f16"],
                    help="also score each --onnx model through OpenVINO on the CPU at these "
                         "precisions (what each precision costs in quality)")
    ap.add_argument("--checkpoint", nargs="*", default=[], help="training checkpoints (.pt) to score")
    ap.add_argument("--peers", help="folder of OpenCV dnn_superres .pb models to score beside ours")
    ap.add_argument("--out", default="eval", help="folder for results.md and results.json")
    ap.add_argument("--crops", action="store_true", help="also write side-by-side PNG crops")
    ap.add_argument("--cost", action="store_true", help="also time every method at 320x180 and 640x360")
    args = ap.parse_args(argv)

    try:
        if Path(args.out).exists() and not Path(args.out).is_dir():
            raise ValueError(f"--out {args.out} is a file; give a folder for results.md and results.json")
        if args.clip_frames < 2:
            raise ValueError(f"--clip-frames must be at least 2 (flicker needs consecutive frames), "
                             f"not {args.clip_frames}")
        sets = {s: load_val_set(args.val, s) for s in args.sets}
        clips = ClipSet(args.clips, max_frames=args.clip_frames) if args.clips else None
        methods: dict[str, Upscale] = {"bicubic (PIL, a=-0.5)": pil_bicubic,
                                       "cv2 INTER_CUBIC (a=-0.75)": cv2_cubic}
        peers = find_peer_models(args.peers) if args.peers else []
        for path in peers:
            methods[f"opencv {path.stem}"] = OpenCVDnnUpscaler(path).upscale
        for path in args.checkpoint:
            from vcam_sr.models.networks import load_checkpoint

            model, ckpt = load_checkpoint(path)
            methods[f"{Path(path).name} ({ckpt['preset']}, torch)"] = torch_upscaler(model)
        for path in args.onnx:
            if not Path(path).is_file():
                raise FileNotFoundError(f"ONNX model {path} does not exist")
            methods[f"{Path(path).name} (onnxruntime)"] = onnx_upscaler(path)
            for precision in args.openvino:
                from vcam_sr.upscalers.openvino import OpenVinoUpscaler

                methods[f"{Path(path).name} (openvino {precision})"] = OpenVinoUpscaler(
                    Path(path), "CPU", precision, 2).upscale
        auto = AutoPerSource() if args.auto else None
    except (FileNotFoundError, ValueError, VcamError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if auto:
        methods["auto (runtime's --model auto)"] = auto

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results, clip_results, auto_choices = {}, {}, {}
    for label, fn in tqdm(methods.items(), desc="methods", unit="method"):
        crops = out / "crops" if args.crops else None
        results[label] = score_sets(fn, sets, crops, label.split()[0].replace("/", "_"))
        if fn is auto:
            auto_choices["sets"] = auto.chosen()
        if clips:
            clip_results[label] = (clips.score(per_source=auto.new) if fn is auto else clips.score(fn))
            if fn is auto:
                auto_choices["clips"] = auto.chosen()
    report = markdown(results, args.sets) if args.sets else ""
    if clips:
        report += "\n\nTalking-head clips (first %d frames of each), 2x down, then:\n%s\n\n%s" % (
            args.clip_frames, "\n".join(f"- {c}: {d}" for c, d in CONDITIONS.items()),
            clip_markdown(clip_results, clips.conditions, next(iter(methods))))
    if auto_choices:
        report += "\n\nauto chose (images of the sets / clips x conditions): " + "; ".join(
            f"{k}: " + ", ".join(f"{n} x{c}" for n, c in v.items()) for k, v in auto_choices.items())
    costs = {}
    if args.cost:
        sizes = ((320, 180), (640, 360))
        costs["bicubic (cv2)"] = time_ms(cv2_cubic, sizes, 20)
        for path in peers:
            label = f"opencv {path.stem}"
            costs[label] = {**peer_cost(path), **time_ms(methods[label], sizes, 5)}
        for path in args.onnx:
            costs[f"{Path(path).name} (onnxruntime, 2 threads)"] = onnx_cost(path)
        report += "\n\n" + cost_markdown(costs)
    with atomic_path(out / "results.md") as tmp:
        tmp.write_text(report.strip() + "\n")
    with atomic_path(out / "results.json") as tmp:
        tmp.write_text(json.dumps({"quality": results, "clips": clip_results, "auto": auto_choices,
                                   "cost": costs}, indent=1))
    print(report.strip())
    print(f"\nwrote {out / 'results.md'} and {out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
