"""The GPU lane: everything a lent GPU is for, in one prepared run that fits in about 9 minutes.

    python -m training.gpu_lane --pack             # here: wheels (.whl) and a data pack (.lane)
    tools/gpu_lane.sh                              # there, through the device tool, carrying both
    python -m training.gpu_lane --dry-run --out /tmp/lane --data D --val V   # the rehearsal

Steps, each timed and written to OUT/lane.json and OUT/lane.md the moment it ends, so that a
run cut off still reports what it did:
  1. the machine (torch, the CUDA device);
  2. the CUDA tests (pytest -m gpu);
  3. the torch-cuda backend (fp16, channels_last, CUDA graphs) against ONNX Runtime fp32 on the
     CPU, per shipped model at several sizes, odd ones included: max and mean difference in grey
     levels;
  4. vcam-sr bench --gpu (640x360 and 960x540), and the same run's CPU figures;
  5. training: fast from its shipped weights, balanced grown from fast, quality from scratch, the
     crops made up front on every core and kept on the GPU, each run given its share of the
     time left and checkpointed every 200 steps;
  6. every trained checkpoint scored by training.evaluate beside the shipped models.
TensorRT cannot run on the lent machines (not in their image, too large to carry, and
TensorRT-RTX does not support the H100), so the lane checks the torch-cuda path. The dry run
does every step at toy size on the CPU, with the CPU standing in for CUDA.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
WHEELS = ["av==18.1.0", "pyvirtualcam", "platformdirs", "mss", "inotify_simple"]  # with --no-deps
WHEELS_WITH_DEPS = ["pydantic"]  # its core must match it exactly: let pip resolve it
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"]


class Lane:
    def __init__(self, out: Path, budget_s: float, dry: bool):
        self.out, self.dry, self.deadline = out, dry, time.monotonic() + budget_s
        self.results: dict = {"dry_run": dry, "steps": {}}
        out.mkdir(parents=True, exist_ok=True)

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def step(self, name: str, fn) -> None:
        """Run one step, record its result (or its error) and the seconds it took, write both."""
        start = time.monotonic()
        try:
            result, status = fn(), "ok"
        except Exception as exc:  # one failing step must not cost the others
            result, status = f"{type(exc).__name__}: {exc}", "failed"
        self.results["steps"][name] = {"status": status, "seconds": round(time.monotonic() - start, 1),
                                       "result": result}
        (self.out / "lane.json").write_text(json.dumps(self.results, indent=1, default=str))
        (self.out / "lane.md").write_text(self.markdown())
        print(f"[lane] {name}: {status} in {time.monotonic() - start:.0f} s", flush=True)

    def markdown(self) -> str:
        lines = [f"# GPU lane{' (dry run on the CPU)' if self.dry else ''}"]
        for name, s in self.results["steps"].items():
            lines += [f"\n## {name}: {s['status']} ({s['seconds']} s)\n"]
            r = s["result"]
            lines += [r if isinstance(r, str) else "```\n" + json.dumps(r, indent=1, default=str) + "\n```"]
        return "\n".join(lines) + "\n"


def run(cmd: list[str], timeout: float) -> str:
    """A subprocess's output tail; raises with it when the command fails."""
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=max(timeout, 10),
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})
    tail = (proc.stdout + proc.stderr)[-3000:]
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])}... exited {proc.returncode}: {tail}")
    return tail


def machine(device: str) -> dict:
    import torch

    info = {"torch": torch.__version__, "device": device, "cpus": os.cpu_count()}
    if device == "cuda":
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def backend_check(device: str, sizes) -> dict:
    """torch backend (CUDA: fp16, channels_last, graphs) vs ONNX Runtime fp32 on the CPU."""
    from vcam_sr.models import shipped
    from vcam_sr.sources.test_pattern import TestPatternSource
    from vcam_sr.upscalers.onnxruntime import OnnxRuntimeUpscaler
    from vcam_sr.upscalers.torch import TorchUpscaler

    out = {}
    for model in shipped():
        gpu = TorchUpscaler(model.path.with_suffix(".pt"), device)
        cpu = OnnxRuntimeUpscaler(model.path, ["CPUExecutionProvider"])
        for w, h in sizes:
            frame = TestPatternSource(w, h, realtime=False).read()
            diff = np.abs(gpu.upscale(frame).astype(int) - cpu.upscale(frame).astype(int))
            out[f"{model.name} {w}x{h}"] = {"max": int(diff.max()), "mean": round(float(diff.mean()), 4)}
        gpu.close()
    return out


def train_all(lane: Lane, args, device: str) -> dict:
    """fast from its shipped weights, balanced grown from fast, quality from scratch (as their
    configs say), each given its share of the time left minus what scoring needs."""
    runs, names = {}, ["fast", "balanced", "quality"]
    for i, name in enumerate(names):
        share = (lane.left() - args.score_reserve_s) / (len(names) - i)
        if share < 20:
            runs[name] = "skipped: no time left"
            continue
        init = REPO / "vcam_sr" / "models" / f"{name}.pt"  # else the config's own init_from
        sets = [f"train.init_from={init}"] if init.exists() else []
        sets += [f"data.train={args.data}",
                f"data.val={args.val}", f"data.val_clips={args.val / 'clips'}", "data.val_sets=[]",
                f"data.bank={args.bank}", "train.ckpt_every=200", "train.val_every=100000",
                "train.steps=20" if lane.dry else "train.steps=60000",
                "train.lr=1e-4" if init.exists() else "train.lr=5e-4", "train.warmup=20"]
        if lane.dry:
            sets += ["data.lr_patch=24", "data.batch=4", "data.frames_per_video=2", "data.val_clip_frames=3",
                     "data.scales=[1.0]"]
        out = lane.out.parent / "lane-runs" / name
        tail = run([sys.executable, "-m", "training.train", "--config", f"training/configs/{name}.yaml",
                    "--out", str(out), "--device", device, "--max-minutes", f"{(share - 15) / 60:.2f}",
                    "--set", *sets], share + 60)
        best = out / "best.pt"
        shutil.copy(best, lane.out / f"{name}.pt")
        runs[name] = tail.strip().splitlines()[-1]
    return runs


def score(lane: Lane, args) -> str:
    """Export each trained checkpoint and score it beside the shipped models (CPU ONNX Runtime)."""
    onnx = []
    for name in ("fast", "balanced", "quality"):
        pt = lane.out / f"{name}.pt"
        if pt.exists():
            target = lane.out.parent / "lane-onnx" / f"{name}-gpu.onnx"
            target.parent.mkdir(parents=True, exist_ok=True)
            run([sys.executable, "-m", "engine_build.export", str(pt), "--out", str(target), "--overwrite"], 120)
            onnx.append(str(target))
    shipped = [str(p) for p in sorted((REPO / "vcam_sr" / "models").glob("*.onnx"))]
    run([sys.executable, "-m", "training.evaluate", "--val", str(args.val), "--sets", *args.sets, "--clips",
         str(args.val / "clips"), "--clip-frames", "4" if lane.dry else "60", "--onnx", *shipped, *onnx,
         "--out", str(lane.out.parent / "lane-eval")], max(lane.left(), 60))
    shutil.copy(lane.out.parent / "lane-eval" / "results.md", lane.out / "eval.md")
    return (lane.out / "eval.md").read_text()


def pack(data: Path, val: Path, whl: Path, lane_dir: Path) -> None:
    """Here, before a lent session: the wheels the device lacks (38 MB), and a data subset to
    carry (~20 MB: the whole ../shared/data is larger than the 64 MiB a call may carry)."""
    from PIL import Image

    common = [sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:", "--python-version",
              "3.12", "--implementation", "cp", "-d", str(whl)] + [f"--platform={p}" for p in PLATFORMS]
    subprocess.run(common + ["--no-deps", *WHEELS], check=True)
    subprocess.run(common + WHEELS_WITH_DEPS, check=True)
    rng = np.random.default_rng(0)
    train = lane_dir / "train"
    train.mkdir(parents=True, exist_ok=True)
    pictures = sorted(p for p in data.rglob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    for p in rng.choice(pictures, size=min(120, len(pictures)), replace=False):
        with Image.open(p) as im:
            im = im.convert("RGB")
            im.thumbnail((640, 640))
            im.save(train / f"{p.parent.name}_{p.stem}.jpg", quality=92)
    for clip in sorted((data / "video").glob("*.mp4"), key=lambda p: p.stat().st_size)[:8]:  # the smallest
        shutil.copy(clip, train / clip.name)
    for item in ("clips", "Set5", "Set14"):
        shutil.copytree(val / item, lane_dir / "val" / item, dirs_exist_ok=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "/tmp/lane")))
    ap.add_argument("--dry-run", action="store_true", help="every step at toy size, on the CPU")
    ap.add_argument("--budget-s", type=float, default=530, help="the whole run's time (default 530)")
    ap.add_argument("--data", type=Path, default=REPO / ".lane" / "train")
    ap.add_argument("--val", type=Path, default=REPO / ".lane" / "val")
    ap.add_argument("--bank", type=int, default=40000, help="crops made up front per training run")
    ap.add_argument("--score-reserve-s", type=float, default=120)
    ap.add_argument("--sets", nargs="+", default=["Set5", "Set14"], help="image sets under --val to score")
    ap.add_argument("--pack", action="store_true", help="make .whl and .lane here, then stop")
    args = ap.parse_args(argv)
    if args.pack:
        pack(REPO.parent / "shared" / "data" / "train", REPO.parent / "shared" / "data" / "val",
             REPO / ".whl", REPO / ".lane")
        return 0
    import torch

    device = "cuda" if torch.cuda.is_available() and not args.dry_run else "cpu"
    if not args.dry_run and device != "cuda":
        print("error: no CUDA GPU here; run the rehearsal with --dry-run", file=sys.stderr)
        return 2
    lane = Lane(args.out, args.budget_s, args.dry_run)
    if args.dry_run:
        args.bank, args.score_reserve_s = 64, 30
    lane.step("machine", lambda: machine(device))
    lane.step("cuda tests", lambda: run([sys.executable, "-m", "pytest", "-q", "-m", "gpu", "tests"], 120)
              .strip().splitlines()[-1])
    sizes = [(64, 36), (37, 23)] if args.dry_run else [(640, 360), (333, 191), (960, 540)]
    lane.step("torch-cuda vs CPU fp32 (grey levels)", lambda: backend_check(device, sizes))
    bench = [sys.executable, "-m", "vcam_sr.cli", "bench", "--sizes",
             *(["64x36"] if args.dry_run else ["640x360", "960x540"]), "--rounds", "1"]
    gpu = ["--backends", "torch"] if args.dry_run else ["--gpu"]  # the CPU's torch stands in
    lane.step("bench", lambda: {"gpu": run(bench + gpu + ["--repeats", "5", "--frames", "5"], 180),
                                "cpu": run(bench + ["--backends", "onnxruntime", "--repeats", "3",
                                                    "--frames", "3"], 180)})
    lane.step("training", lambda: train_all(lane, args, device))
    lane.step("scores", lambda: score(lane, args))
    failed = [n for n, s in lane.results["steps"].items() if s["status"] != "ok"]
    print(f"[lane] done in {args.budget_s - lane.left():.0f} s; failed steps: {', '.join(failed) or 'none'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
