"""`vcam-sr models`: the shipped models, what each was trained for, and which one `--model auto`
would pick on this machine for clean and for noisy or compressed input."""
from __future__ import annotations

import argparse
import logging

from vcam_sr.config import load_config, thread_count
from vcam_sr.models import shipped
from vcam_sr.sources.test_pattern import TestPatternSource
from vcam_sr.media.colour import luma
from vcam_sr.upscalers import builder, pick_backend
from vcam_sr.upscalers.auto import AutoUpscaler

USE = {"clean": "clean input only (sharpens noise and blocks)",
       "robust": "clean, webcam-like and call-like input"}


def model_table(models) -> list[str]:
    """Markdown rows: each shipped model and what its file says about it."""
    lines = ["| model | preset | for | trained on (LR mix) | step | commit |", "|---|---|---|---|---|---|"]
    for m in models:
        mix = ", ".join(f"{k} {v:g}" for k, v in m.metadata.get("vcam_sr_degradation", {}).items())
        lines.append(f"| {m.name} | {m.preset} | {USE.get(m.variant, m.variant)} | {mix or '?'} | "
                     f"{m.metadata.get('vcam_sr_step', '?')} | {m.metadata.get('vcam_sr_commit', '?')} |")
    return lines


def auto_choice(width: int, height: int, fps: float, backend: str = "auto", threads: int = 0) -> list[str]:
    """What --model auto picks here for clean and for degraded input, with the times it saw."""
    backend, reason = pick_backend(backend)
    frame = luma(TestPatternSource(width, height, realtime=False).read())
    build = builder(backend, threads, (width, height))
    with AutoUpscaler(shipped(), lambda m: build(m.name), fps) as auto:
        lines = [f"auto here ({backend}, {reason}), {width}x{height} at {fps:g} fps, "
                 f"{auto.budget_ms:.0f} ms per frame, picks a model that takes at most "
                 f"{auto.HEADROOM:.0%} of it:"]
        for variant in sorted(auto.ladders):
            chosen, times = auto.pick(frame, variant)
            timed = ", ".join(f"{n} {ms:.1f} ms" for n, ms in times.items())
            kind = "clean input" if variant == "clean" else "noisy or compressed input"
            lines.append(f"  {kind}: {chosen.name} ({timed})")
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="vcam-sr models", description=__doc__)
    ap.add_argument("--width", type=int, default=640, help="input width to time auto's pick at (640)")
    ap.add_argument("--height", type=int, default=360, help="input height (360)")
    ap.add_argument("--fps", type=float, default=30, help="target frame rate (30)")
    ap.add_argument("--backend", default="auto", help="backend to time on (auto)")
    ap.add_argument("--threads", type=thread_count, default=0, help="inference threads; 0 = all physical cores")
    args = ap.parse_args(argv)
    load_config(None, {"camera.width": args.width, "camera.height": args.height,  # same limits
                       "camera.fps": args.fps, "threads": args.threads})
    logging.getLogger("vcam_sr").setLevel(logging.WARNING)

    print("\n".join(model_table(shipped())))
    print("\n" + "\n".join(auto_choice(args.width, args.height, args.fps, args.backend, args.threads)))
    return 0
