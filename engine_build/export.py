"""Checkpoint -> ONNX (fp32; build.py makes the fp16 graph TensorRT needs) and weights-only .pt.

    python -m engine_build.export runs/fast/best.pt --out vcam_sr/models/fast.onnx

Re-parameterised blocks are folded first, `_orig_mod.` / `module.` prefixes are stripped, and
the result is checked with the ONNX checker and against PyTorch on random inputs.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from vcam_sr.upscalers.condition import FEATURES

from vcam_sr.models.networks import as_y_only, fold, load_checkpoint, plain_args, preset_args
from vcam_sr.atomic import atomic_path, check_output, same_file
from vcam_sr.contract import CONDITION, INPUT, OUTPUT
from vcam_sr.errors import VcamError

OPSET = 17


def describe(ckpt: dict) -> dict[str, str]:
    """The ONNX metadata a checkpoint's model carries, so the runtime can tell what each shipped
    file is (vcam_sr/models reads it): preset, variant, training degradation, step, commit."""
    mix = ((ckpt.get("config") or {}).get("data") or {}).get("degradation", "bicubic")
    if isinstance(mix, str):  # configs before the profile mix: 'bicubic' or 'call'
        mix = {"clean": 1.0} if mix == "bicubic" else {mix: 1.0}
    mix = {k: v for k, v in mix.items() if v}
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, cwd=Path(__file__).parent, timeout=10).stdout.strip()
    except OSError:
        commit = ""
    return {"vcam_sr_preset": ckpt["preset"], "scale": "2",
            "vcam_sr_variant": "clean" if set(mix) == {"clean"} else "robust",
            "vcam_sr_conditions": ",".join(FEATURES) if (ckpt.get("model_args") or {}).get("conditions") else "",
            "vcam_sr_degradation": json.dumps(mix),
            "vcam_sr_model_args": json.dumps(ckpt.get("model_args") or preset_args(ckpt["preset"])),
            "vcam_sr_step": str(ckpt.get("step")), "vcam_sr_commit": commit or "unknown"}


TOLERANCE = 1e-4  # largest |PyTorch - ONNX Runtime| accepted, on outputs in [0, 1]


def example_inputs(model: torch.nn.Module, h: int, w: int, gen: torch.Generator | None = None) -> tuple:
    """Random inputs of the luma net `model`: the Y plane, and its conditions if it takes them."""
    y = torch.rand(1, 1, h, w, generator=gen)
    return (y, torch.randn(1, model.conditions, generator=gen)) if model.conditions else (y,)


def export_onnx(model: torch.nn.Module, out: str | os.PathLike, metadata: dict[str, str] | None = None) -> Path:
    """Fold, export with dynamic height/width, and write atomically to `out` only if ONNX
    Runtime's output matches PyTorch's within TOLERANCE (otherwise ValueError, nothing written)."""
    out = Path(out)
    deploy = fold(model).float().eval()
    names = [INPUT, CONDITION][:1 + bool(model.conditions)]
    with atomic_path(out) as tmp:
        torch.onnx.export(
            deploy, example_inputs(model, 64, 96), tmp, opset_version=OPSET, dynamo=False,
            input_names=names, output_names=[OUTPUT],
            dynamic_axes={INPUT: {0: "batch", 2: "height", 3: "width"}, CONDITION: {0: "batch"},
                          OUTPUT: {0: "batch", 2: "height2", 3: "width2"}})
        import onnx

        proto = onnx.load(tmp)
        onnx.checker.check_model(proto)
        for key, value in (metadata or {}).items():
            proto.metadata_props.add(key=key, value=value)
        if metadata:
            onnx.save(proto, tmp)
        diff = max_abs_diff(model, tmp)
        if not diff <= TOLERANCE:  # also catches NaN
            raise ValueError(f"the exported graph differs from PyTorch by {diff:.2e} (more than "
                             f"{TOLERANCE:g}); {out} was not written")
    return out


def max_abs_diff(model: torch.nn.Module, onnx_path: str | os.PathLike, sizes=((48, 64), (37, 91))) -> float:
    """Largest |PyTorch - ONNX Runtime| over random inputs of several (odd) sizes."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    worst = 0.0
    gen = torch.Generator().manual_seed(0)
    for h, w in sizes:
        inputs = example_inputs(model, h, w, gen)
        with torch.no_grad():
            ref = model(*inputs).numpy()
        got = sess.run(None, {n: t.numpy() for n, t in zip(names, inputs)})[0]
        worst = max(worst, float(np.abs(ref - got).max()))
    return worst


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", help="a .pt checkpoint written by training/train.py")
    ap.add_argument("--out", required=True,
                    help="ONNX file to write; NAME.pt (weights only, for the runtime's torch "
                         "backend) is written beside it")
    ap.add_argument("--raw", action="store_true", help="export the raw weights, not the EMA copy")
    ap.add_argument("--overwrite", action="store_true",
                    help="replace existing outputs (never the input checkpoint)")
    args = ap.parse_args(argv)
    try:
        if Path(args.out).suffix.lower() != ".onnx":
            raise ValueError(f"--out names the ONNX file to write, such as model.onnx, not {args.out}")
        out = check_output(args.out, args.overwrite, example="model.onnx")
        if same_file(out.with_suffix(".pt"), Path(args.checkpoint)):
            raise ValueError(f"--out {out} would write its torch weights to {out.with_suffix('.pt')}, "
                             "the checkpoint being exported; give --out another name")
        weights = check_output(out.with_suffix(".pt"), args.overwrite)
        model, ckpt = load_checkpoint(args.checkpoint, use_ema=not args.raw)
        model = as_y_only(model)  # an older RGB-input checkpoint becomes the luma net
        ckpt = {**ckpt, "model_args": plain_args(model)}
        export_onnx(model, out, describe(ckpt))
    except (ValueError, VcamError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with atomic_path(weights) as tmp:
        torch.save({"preset": ckpt["preset"], "model_args": ckpt["model_args"],
                    "step": ckpt.get("step"), "config": ckpt.get("config"),
                    "generator": model.state_dict()}, tmp)
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KB), preset {ckpt['preset']}, "
          f"step {ckpt.get('step')}; max |torch - onnxruntime| = {max_abs_diff(model, out):.2e}")
    print(f"wrote {weights} ({weights.stat().st_size / 1024:.0f} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
