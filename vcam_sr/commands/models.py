"""`vcam-sr models`: the shipped models, what each was trained for, and which one `--model auto`
would pick on this machine for clean and for noisy or compressed input."""
from __future__ import annotations

import json
import logging

from vcam_sr.commands import apply_log_level, parser
from vcam_sr.config import load_config, thread_count
from vcam_sr.models import shipped
from vcam_sr.sources.test_pattern import TestPatternSource
from vcam_sr.media.colour import luma
from vcam_sr.upscalers import builder, pick_backend
from vcam_sr.upscalers.auto import AutoUpscaler

USE = {"clean": "clean input only (sharpens noise and blocks)",
       "robust": "clean, webcam-like and call-like input"}


def aligned(rows: list[list[str]]) -> list[str]:
    """Rows as plain text columns, each as wide as its widest cell."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]


def model_rows(models) -> list[dict]:
    """Each shipped model and what its file says about it (step and commit for --json)."""
    return [{"model": m.name, "size": m.preset, "for": USE.get(m.variant, m.variant),
             "trained on": ", ".join(f"{k} {v:g}" for k, v in m.metadata.get("vcam_sr_degradation", {}).items()),
             "step": m.metadata.get("vcam_sr_step"), "commit": m.metadata.get("vcam_sr_commit")}
            for m in models]


def model_table(models) -> list[str]:
    keys = ("model", "size", "for", "trained on")
    return aligned([list(keys)] + [[str(r[k]) for k in keys] for r in model_rows(models)])


def auto_picks(width: int, height: int, fps: float, backend: str = "auto", threads: int = 0) -> dict:
    """What --model auto picks here for clean and for degraded input, with the times it saw."""
    backend, reason = pick_backend(backend)
    frame = luma(TestPatternSource(width, height, realtime=False).read())
    build = builder(backend, threads, (width, height))
    with AutoUpscaler(shipped(), lambda m: build(m.name), fps) as auto:
        picks = {}
        for variant in sorted(auto.ladders):
            chosen, times = auto.pick(frame, variant)
            picks["clean input" if variant == "clean" else "noisy or compressed input"] = {
                "model": chosen.name, "ms": {n: round(ms, 1) for n, ms in times.items()},
                "fits": times[chosen.name] <= auto.HEADROOM * auto.budget_ms}
        return {"backend": backend, "why": reason, "size": f"{width}x{height}", "fps": fps,
                "budget_ms": round(auto.HEADROOM * auto.budget_ms, 1), "picks": picks}


def auto_choice(width: int, height: int, fps: float, backend: str = "auto", threads: int = 0) -> list[str]:
    """auto_picks in words, with what to do when no model keeps up."""
    found = auto_picks(width, height, fps, backend, threads)
    lines = [f"--model auto at {found['size']}, {fps:g} fps ({reason_words(found)}): a model may take "
             f"{found['budget_ms']:.0f} ms of each {1000 / fps:.0f} ms frame"]
    for kind, pick in found["picks"].items():
        timed = ", ".join(f"{n} {ms:.1f} ms" for n, ms in pick["ms"].items())
        lines.append(f"  {kind}: {pick['model']} ({timed})")
        if not pick["fits"]:
            half = f"--width {width // 2 // 2 * 2} --height {height // 2 // 2 * 2}"
            lines.append(f"    no model fits that budget here, so frames will be dropped; use a smaller "
                         f"input ({half}) or a lower --fps")
    return lines


def reason_words(found: dict) -> str:
    return found["why"].removeprefix("auto: ")


def main(argv=None) -> int:
    ap = parser("models", "The models that come with vcam-sr, what each is for, and which one "
                          "--model auto picks on this machine for clean and for noisy or compressed "
                          "input at a given camera size.", models=("backend", "threads"))
    ap.add_argument("--width", type=int, default=640, help="input width to time auto's pick at (640)")
    ap.add_argument("--height", type=int, default=360, help="input height (360)")
    ap.add_argument("--fps", type=float, default=30, help="target frame rate (30)")
    ap.add_argument("--json", action="store_true", help="print JSON (with each model's training step and commit)")
    args = ap.parse_args(argv)
    apply_log_level(args)
    load_config(None, {"camera.width": args.width, "camera.height": args.height,  # same limits
                       "camera.fps": args.fps, "threads": args.threads})
    logging.getLogger("vcam_sr").setLevel(logging.WARNING)
    if args.json:
        print(json.dumps({"models": model_rows(shipped()), "auto": auto_picks(
            args.width, args.height, args.fps, args.backend, args.threads)}, indent=1))
        return 0
    print("\n".join(model_table(shipped())))
    print("\n" + "\n".join(auto_choice(args.width, args.height, args.fps, args.backend, args.threads)))
    return 0
