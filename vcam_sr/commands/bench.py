"""`vcam-sr bench`: how fast every backend is on this machine, beside bicubic and the peers.

For each input size and method: ms per frame (median) of what a live run does with a camera
frame (RGB in, the virtual camera's 4:2:0 planes out: the model and the colour work around
it), and end-to-end fps and latency of test pattern -> upscaler -> null sink. Methods are
measured interleaved, round by round, so a busy moment on the machine hits all of them alike.
Ratios are to bicubic.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
from pathlib import Path

import numpy as np
from tqdm import tqdm

from vcam_sr.commands import apply_log_level, parser
from vcam_sr.atomic import atomic_path, check_output
from vcam_sr.errors import VcamError
from vcam_sr.config import parse_size, thread_count
from vcam_sr.models import bundled, resolve_model
from vcam_sr.pipeline import Pipeline
from vcam_sr.sinks.null import NullSink
from vcam_sr.sinks.virtualcam import CAMERA_SPACE
from vcam_sr.sources.test_pattern import TestPatternSource
from vcam_sr.upscalers import openvino_devices, ort_providers, tensorrt_ready, torch_device
from vcam_sr.upscalers.base import Upscaler, time_calls
from vcam_sr.upscalers.bicubic import BicubicUpscaler

log = logging.getLogger("vcam_sr.commands.bench")
SIZES = ((160, 90), (320, 180), (640, 360))
BACKENDS = ("tensorrt", "onnxruntime", "openvino", "torch")
# CPU features that decide which precisions run fast (from /proc/cpuinfo's flags on Linux)
CPU_FEATURES = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_bf16", "amx_int8")
GPU_SIZES = ((640, 360), (960, 540))


def candidates(threads: int, peers: str | None, backends: list[str], gpu: bool = False) -> dict[str, Upscaler]:
    """Every bundled preset on every available backend (GPU ones only with `gpu`), bicubic,
    and the peers if given."""
    from vcam_sr.upscalers.onnxruntime import OnnxRuntimeUpscaler

    methods: dict[str, Upscaler] = {"bicubic": BicubicUpscaler()}
    for preset in bundled(".onnx"):
        if gpu and "tensorrt" in backends and tensorrt_ready():
            from vcam_sr.upscalers.tensorrt import load_tensorrt

            methods[f"{preset} tensorrt"] = load_tensorrt(resolve_model(preset, ".onnx"))
        if "onnxruntime" in backends and ort_providers():
            for provider in ort_providers():
                if gpu == (provider == "CPUExecutionProvider"):
                    continue
                short = provider.replace("ExecutionProvider", "")
                methods[f"{preset} onnxruntime-{short}"] = OnnxRuntimeUpscaler(
                    resolve_model(preset, ".onnx"), [provider], threads)
        if "openvino" in backends and not gpu and "CPU" in openvino_devices():
            from vcam_sr.upscalers.openvino import OpenVinoUpscaler, native_bf16

            for precision in ("f32", "bf16") if native_bf16() else ("f32",):
                methods[f"{preset} openvino-{precision}"] = OpenVinoUpscaler(
                    resolve_model(preset, ".onnx"), "CPU", precision, threads)
        if gpu and torch_device() != "cuda":
            continue
        if "torch" in backends and torch_device() and preset in bundled(".pt"):
            from vcam_sr.upscalers.torch import TorchUpscaler

            methods[f"{preset} torch-{torch_device()}"] = TorchUpscaler(
                resolve_model(preset, ".pt"), torch_device(), threads)
    if peers:
        from vcam_sr.upscalers.opencv_dnn import OpenCVDnnUpscaler, find_peer_models

        for path in find_peer_models(peers):
            methods[f"opencv {path.stem}"] = OpenCVDnnUpscaler(path, threads)
    return methods


def end_to_end(upscaler: Upscaler, width: int, height: int, frames: int) -> tuple[float, float]:
    """(fps, mean latency ms) of test pattern -> upscaler -> null sink, unpaced."""
    source = TestPatternSource(width, height, fps=30, realtime=False)
    stats = Pipeline(source, upscaler, [NullSink()], max_frames=frames, realtime=False).run()
    summary = stats.summary()
    return summary["fps"], summary["latency_ms_mean"]


def max_abs_diff_vs_cpu(methods: dict[str, Upscaler], size) -> dict[str, int]:
    """Largest per-pixel difference (0-255) of each model method from fp32 ONNX Runtime on the CPU."""
    from vcam_sr.upscalers.onnxruntime import OnnxRuntimeUpscaler

    frame = TestPatternSource(*size, realtime=False).read()
    out = {}
    for name, upscaler in methods.items():
        preset = name.split()[0]
        if preset in bundled(".onnx"):
            reference = OnnxRuntimeUpscaler(resolve_model(preset, ".onnx"), ["CPUExecutionProvider"])
            diff = np.abs(upscaler.upscale(frame).astype(int) - reference.upscale(frame).astype(int))
            out[name] = int(diff.max())
    return out


def run_bench(methods: dict[str, Upscaler], sizes, rounds: int, repeats: int, frames: int,
              gpu: bool = False) -> list[dict]:
    samples = {(m, s): {"ms": [], "fps": [], "lat": []} for m in methods for s in sizes}
    total = rounds * len(sizes) * len(methods)
    with tqdm(total=total, desc="bench", unit="run") as bar:
        for _ in range(rounds):
            for size in sizes:
                frame = TestPatternSource(*size, realtime=False).read()
                for name, upscaler in methods.items():
                    cell = samples[(name, size)]
                    cell["ms"] += time_calls(lambda f, u=upscaler: u.upscale(f, CAMERA_SPACE), frame, repeats)
                    fps, lat = end_to_end(upscaler, *size, frames)
                    cell["fps"].append(fps)
                    cell["lat"].append(lat)
                    bar.update(1)
    rows = []
    for size in sizes:
        diffs = max_abs_diff_vs_cpu(methods, size) if gpu else {}
        base = samples[("bicubic", size)]
        base_ms, base_fps = np.median(base["ms"]), np.median(base["fps"])
        for name in methods:
            cell = samples[(name, size)]
            ms, fps = float(np.median(cell["ms"])), float(np.median(cell["fps"]))
            rows.append({"input": f"{size[0]}x{size[1]}", "output": f"{2 * size[0]}x{2 * size[1]}",
                         "method": name, "model_ms": round(ms, 2),
                         "model_ms_x_bicubic": round(ms / base_ms, 2),
                         "e2e_fps": round(fps, 1), "e2e_fps_x_bicubic": round(fps / base_fps, 3),
                         "e2e_latency_ms": round(float(np.median(cell["lat"])), 2)})
            if name in diffs:
                rows[-1]["max_abs_diff_vs_cpu_fp32"] = diffs[name]
    return rows


def table(rows: list[dict]) -> str:
    gpu = any("max_abs_diff_vs_cpu_fp32" in r for r in rows)
    lines = ["| input -> output | method | model ms | x bicubic | end-to-end fps | x bicubic | latency ms |"
             + (" max abs diff vs CPU fp32 |" if gpu else ""), "|---|---|---|---|---|---|---|" + ("---|" if gpu else "")]
    for r in rows:
        lines.append(f"| {r['input']} -> {r['output']} | {r['method']} | {r['model_ms']:.1f} | "
                     f"{r['model_ms_x_bicubic']:.1f} | {r['e2e_fps']:.1f} | {r['e2e_fps_x_bicubic']:.2f} | "
                     f"{r['e2e_latency_ms']:.1f} |" + (f" {r.get('max_abs_diff_vs_cpu_fp32', '-')} |" if gpu else ""))
    return "\n".join(lines)


def cpu_features() -> list[str]:
    """Which of CPU_FEATURES this CPU has ([] where /proc/cpuinfo does not exist)."""
    try:
        flags = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags"))
    except (OSError, StopIteration):
        return []
    have = set(flags.split(":", 1)[1].split())
    return [f for f in CPU_FEATURES if f in have]


def cpu_name() -> str:
    try:
        line = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name"))
        return line.split(":", 1)[1].strip()
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def machine() -> dict:
    import onnxruntime

    return {"platform": platform.platform(), "processor": cpu_name(), "cpu_features": cpu_features(),
            "cpus": os.cpu_count(), "python": platform.python_version(),
            "onnxruntime": onnxruntime.__version__, "providers": ort_providers(),
            "openvino_devices": openvino_devices()}


def main(argv=None) -> int:
    ap = parser("bench", "How fast each model is on each backend and precision installed here, "
                         "beside bicubic (and OpenCV's ready-made models with --peers): model time "
                         "per frame and whole-pipeline frames per second at each input size. The "
                         "methods take turns, round by round, so a busy moment hits them alike; "
                         "compare the ratios.", models=("threads",))
    ap.add_argument("--peers", help="folder of OpenCV dnn_superres models (ESPCN_x2.pb, FSRCNN_x2.pb, ...)")
    ap.add_argument("--sizes", nargs="+", help="input sizes WxH (default: 160x90 320x180 640x360; "
                                               "with --gpu 640x360 960x540)")
    ap.add_argument("--backends", nargs="+", default=list(BACKENDS),
                    help=f"model backends to include (default: {' '.join(BACKENDS)})")
    ap.add_argument("--gpu", action="store_true",
                    help="GPU backends only, plus their max abs difference from fp32 ONNX Runtime on the CPU")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    ap.add_argument("--repeats", type=int, default=10, help="model-only calls per round (default 10)")
    ap.add_argument("--frames", type=int, default=20, help="end-to-end frames per round (default 20)")
    ap.add_argument("--out", help="also write the results to this JSON file (never over an existing "
                                  "file unless --overwrite)")
    ap.add_argument("--overwrite", action="store_true", help="let --out replace an existing file")
    ap.add_argument("--conversions", action="store_true",
                    help="instead: what the frame conversions around the model cost per frame, the way "
                         "frames travelled before (RGB, swscale) and now (YUV planes), at 640x360 and 1280x720")
    args = ap.parse_args(argv)
    apply_log_level(args)
    if args.conversions:
        from vcam_sr.commands.bench_io import run as conversions

        sizes = [parse_size(s) for s in args.sizes] if args.sizes else [(640, 360), (1280, 720)]
        print("\n".join(conversions(sizes, args.rounds, args.repeats)))
        return 0
    sizes = [parse_size(s) for s in args.sizes] if args.sizes else list(GPU_SIZES if args.gpu else SIZES)
    for flag in ("rounds", "repeats", "frames"):
        if getattr(args, flag) < 1:
            raise VcamError(f"--{flag} must be at least 1, not {getattr(args, flag)}")
    unknown = sorted(set(args.backends) - set(BACKENDS))
    if unknown:
        raise VcamError(f"unknown backend {', '.join(unknown)} in --backends; choose from "
                        f"{', '.join(BACKENDS)}")
    out = check_output(args.out, args.overwrite, example="bench.json") if args.out is not None else None
    logging.getLogger("vcam_sr.pipeline").setLevel(logging.WARNING)  # one line per run is noise here
    methods = candidates(args.threads, args.peers, args.backends, args.gpu)
    for backend in args.backends:
        if not any(f" {backend}" in name for name in methods):
            log.warning("skipping the %s backend: it cannot run here%s", backend,
                        " on a GPU" if args.gpu else "")
    if len(methods) == 1 + len([m for m in methods if m.startswith("opencv")]):
        raise VcamError(f"none of the requested backends ({', '.join(args.backends)}) can run "
                        "here" + (" on a GPU; run --gpu on a machine with an NVIDIA GPU" if args.gpu
                                  else "; install onnxruntime, or choose other --backends"))
    log.info("benchmarking %s at %s", ", ".join(methods), ", ".join(f"{w}x{h}" for w, h in sizes))
    rows = run_bench(methods, sizes, args.rounds, args.repeats, args.frames, args.gpu)
    info = machine()
    print(f"\nmachine: {info['processor']}, {info['cpus']} CPUs, features "
          f"{' '.join(info['cpu_features']) or 'unknown'}, {info['platform']}, threads {args.threads or 'auto'}")
    print(table(rows))
    if out is not None:
        with atomic_path(out) as tmp:
            tmp.write_text(json.dumps({"machine": info, "threads": args.threads, "rows": rows}, indent=1))
        print(f"\nwrote {out}")
    return 0
