"""`vcam-sr build-engine`: trained weights -> fp16 ONNX -> serialized TensorRT engine, with the
optimisation profile taken from the camera size in the config (vcam_sr/engines/build.py builds)."""
from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

from vcam_sr.commands import apply_log_level, parser
from vcam_sr.engines import build, cache
from vcam_sr.errors import VcamError
from vcam_sr.config import load_config, parse_size
from vcam_sr.models import resolve_model


def _size(text: str) -> tuple[int, int]:
    try:
        return parse_size(text)
    except VcamError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv=None) -> int:
    ap = parser("build-engine", "Prepare a TensorRT engine for an NVIDIA GPU ahead of time (vcam-sr "
                                "otherwise builds one on first use, which takes a minute). rtx: "
                                "GeForce and RTX cards, buildable without a GPU (pip install "
                                "'vcam-sr[trt]'); tensorrt: data-centre GPUs and Jetson, built on the "
                                "GPU it will run on. The engine's input sizes come from the camera "
                                "size in --config, or --min/--opt/--max.")
    ap.add_argument("--model", default="fast",
                    help="a shipped model (default fast), an .onnx file, or a training checkpoint .pt")
    ap.add_argument("--flavour", default="auto", choices=["auto", "rtx", "tensorrt"],
                    help="which TensorRT: rtx (GeForce/RTX), tensorrt (data-centre GPUs), or auto "
                         "(whichever is installed)")
    ap.add_argument("--config", help="vcam-sr config; its camera size sets the optimal profile")
    ap.add_argument("--min", type=_size, help="smallest input WxH (default: a quarter of the camera size)")
    ap.add_argument("--opt", type=_size, help="optimal input WxH (default: the camera size)")
    ap.add_argument("--max", type=_size, help="largest input WxH (default: at least 960x540)")
    ap.add_argument("--workspace-mb", type=int, default=1024, help="builder workspace limit (MiB, 64+)")
    ap.add_argument("--cache-dir", type=Path, help="engine cache folder (default: user cache dir)")
    ap.add_argument("--force", action="store_true", help="rebuild even when a cached engine fits")
    args = ap.parse_args(argv)
    apply_log_level(args)
    if args.workspace_mb < 64:
        raise VcamError(f"--workspace-mb {args.workspace_mb} is too small for any engine; give 64 or "
                        "more (the default is 1024)")
    build.require_build_tools()
    cfg = load_config(args.config)
    cam_w = round(cfg.camera.width * cfg.degrade)
    cam_h = round(cfg.camera.height * cfg.degrade)
    lo, opt, hi = build.default_profile(*(args.opt or (cam_w, cam_h)))
    profile = (args.min or lo, args.opt or opt, args.max or hi)
    build.check_profile(profile)
    folder = cache.usable_folder(args.cache_dir)
    model = Path(args.model)
    if model.suffix == ".pt":
        if importlib.util.find_spec("torch") is None or importlib.util.find_spec("engine_build") is None:
            raise VcamError("building from a .pt checkpoint needs PyTorch and the vcam-sr repository "
                            "(engine_build/); run python -m engine_build.export CHECKPOINT --out "
                            "model.onnx there, then pass the .onnx")
        from engine_build.export import describe, export_onnx
        from vcam_sr.models.networks import load_checkpoint

        try:
            net, ckpt = load_checkpoint(model)
        except (ValueError, FileNotFoundError) as exc:
            raise VcamError(str(exc)) from None
        onnx_path = export_onnx(net, folder / f"{model.stem}.onnx", describe(ckpt))
    else:
        onnx_path = resolve_model(args.model, ".onnx")
    path = build.build_engine(onnx_path, args.flavour, profile, args.workspace_mb, folder, args.force)
    meta = cache.read_metadata(path)
    print(f"engine: {path}\n  flavour {meta['key']['flavour']} {meta['key']['version']}, target "
          f"{meta['key']['target']}, {meta['precision']}, {meta['bytes'] / 1024:.0f} KB, built in "
          f"{meta['build_seconds']} s\n  profile min/opt/max {meta['key']['profile']}, "
          f"io {meta['input']} -> {meta['output']} (uint8 HWC)")
    return 0
