"""Train a vcam-sr generator. Reads top to bottom: config, data, model, loop.

    python -m training.train --config training/configs/fast.yaml --out runs/fast
    torchrun --nproc_per_node 2 -m training.train --config ...   # DDP (NCCL on GPUs, gloo on CPU)

The generator takes the LR luma plane (and, for a conditioned preset, the measured noise and
blocking of the frame) and is trained with a pixel loss against the HR luma. Checkpoints go to
OUT/last.pt every train.ckpt_every steps (`--resume` continues from it); OUT/best.pt keeps the
best validation PSNR.
"""
from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from vcam_sr.atomic import atomic_path
from vcam_sr.models.networks import build_generator, generator_from_checkpoint, preset_args, warm_start
from training.clips import ClipSet
from training.config import TrainConfig, load_config
from training.data import CropBank, PatchSampler, load_hr_pool, load_val_set
from training.evaluate import score_sets, torch_upscaler

log = logging.getLogger("training.train")
PIXEL_LOSSES = {"l1": nn.L1Loss, "l2": nn.MSELoss,
                "charbonnier": lambda: lambda sr, hr: torch.sqrt((sr - hr) ** 2 + 1e-6).mean()}


def lr_at(step: int, total: int, peak: float, floor: float, warmup: int) -> float:
    """Linear warm-up, then cosine decay to `floor` (nanoGPT's schedule)."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return floor + 0.5 * (peak - floor) * (1 + math.cos(math.pi * progress))


def config_changes(old: dict, new: dict, prefix: str = "") -> list[str]:
    """`key: old -> new` for every dotted key whose value differs, so a resume that silently
    continues someone else's run (another lr, another patch size) is visible in the log."""
    changes = []
    for key in sorted(old.keys() | new.keys()):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            changes += config_changes(a, b, f"{prefix}{key}.")
        elif a != b:
            changes.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return changes


def save_checkpoint(state: dict, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


class Run:
    """One training run's state: the model and its EMA copy, the optimiser, the step and the
    best validation PSNR; `checkpoint()` is everything `--resume` needs."""

    def __init__(self, cfg: TrainConfig, device: torch.device, resume_from: Path | None):
        ckpt = torch.load(resume_from, map_location="cpu", weights_only=True) if resume_from else None
        self.cfg = cfg
        self.model_args = (ckpt or {}).get("model_args") or preset_args(cfg.preset)
        self.generator = generator_from_checkpoint(ckpt) if ckpt else build_generator(cfg.preset)
        if cfg.train.init_from and not ckpt:  # a resumed run has its own weights
            try:
                init = torch.load(cfg.train.init_from, map_location="cpu", weights_only=True)
                warm_start(self.generator, init.get("ema") or init["generator"])
            except Exception as exc:  # torch.load raises several types for damaged files
                raise ValueError(f"train.init_from {cfg.train.init_from} is not a usable vcam-sr "
                                 f"checkpoint ({exc}); point it at a .pt written by training or "
                                 "export, or null") from None
            log.info("warm start from %s", cfg.train.init_from)
        # channels_last: faster convs with oneDNN on CPU (~15% here) and with cuDNN on GPUs.
        self.generator = self.generator.to(device, memory_format=torch.channels_last)
        self.ema = AveragedModel(self.generator, multi_avg_fn=get_ema_multi_avg_fn(cfg.train.ema))
        self.opt = torch.optim.Adam(self.generator.parameters(), lr=cfg.train.lr, betas=(0.9, 0.99))
        self.step, self.best_psnr, self.history = 0, -1.0, []
        if ckpt:
            self.generator.load_state_dict(ckpt["generator"])
            self.ema.module.load_state_dict(ckpt["ema"])
            self.ema.n_averaged.fill_(ckpt["ema_n"])
            self.opt.load_state_dict(ckpt["opt"])
            self.step, self.best_psnr, self.history = ckpt["step"], ckpt["best_psnr"], ckpt["history"]
            log.info("resumed from %s at step %d (best val PSNR %.3f)", resume_from, self.step, self.best_psnr)
            changed = config_changes(ckpt.get("config", {}), cfg.model_dump())
            if changed:
                log.warning("resuming with a config that differs from the checkpoint's: %s", "; ".join(changed))

    def checkpoint(self) -> dict:
        return {"preset": self.cfg.preset, "model_args": self.model_args, "step": self.step,
                "best_psnr": self.best_psnr, "config": self.cfg.model_dump(), "history": self.history,
                "generator": self.generator.state_dict(), "ema": self.ema.module.state_dict(),
                "ema_n": int(self.ema.n_averaged), "opt": self.opt.state_dict()}


def make_sampler(cfg: TrainConfig, rank: int, device: torch.device):
    data = cfg.data
    pool = load_hr_pool(data.train, data.frames_per_video, 2 * (data.lr_patch + 2 * data.context), data.scales,
                        data.exclude)
    if data.bank:  # a fast GPU: crops made up front on every core, kept on the GPU
        return CropBank(pool, data.lr_patch, data.degradation, cfg.seed + rank, data.context, data.bank,
                        max(1, (os.cpu_count() or 2) - 1), device)
    return PatchSampler(pool, data.lr_patch, data.degradation, cfg.seed + rank, data.context)


def validate(run: Run, val_sets: dict, val_clips: ClipSet | None) -> dict:
    """{name: {"psnr", "ssim"}} of the EMA model through the runtime's torch path; clips get a
    fresh upscaler each, as the runtime starts one per source."""
    run.ema.module.eval()
    scores = score_sets(torch_upscaler(run.ema.module), val_sets)
    if val_clips:
        clip_scores = val_clips.score(per_source=lambda: torch_upscaler(run.ema.module))
        scores.update({f"clips_{c}": s for c, s in clip_scores.items()})
    return scores


def train(run: Run, sampler, batch: int, device: torch.device, out: Path, val_sets: dict,
          val_clips: ClipSet | None, is_main: bool, ddp: bool, max_minutes: float | None) -> None:
    cfg = run.cfg.train
    model = torch.nn.parallel.DistributedDataParallel(run.generator) if ddp else run.generator
    pixel = PIXEL_LOSSES[cfg.pixel_loss]()
    conditioned = bool(run.generator.conditions)
    writer = None
    if is_main:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(out / "tb")
        log.info("preset %s, %d parameters, device %s, batch %d per process", run.cfg.preset,
                 sum(p.numel() for p in run.generator.parameters()), device, batch)
    total, recent = cfg.steps, []
    bar = tqdm(total=total, initial=run.step, disable=not is_main, unit="step", dynamic_ncols=True)
    started, max_s = time.monotonic(), (max_minutes or 0) * 60
    while run.step < total:
        by_time = int(total * (time.monotonic() - started) / max_s) if max_s else 0
        if max_s and by_time >= total:
            total = run.step + 1  # time is up: one last step, then validate and save
        lr = lr_at(max(run.step, by_time), cfg.steps, cfg.lr, cfg.min_lr, cfg.warmup)
        for group in run.opt.param_groups:
            group["lr"] = lr
        lr_y, condition, hr_y = (t.to(device, non_blocking=True) for t in sampler.batch(batch))
        lr_y = lr_y.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
            sr = model(lr_y, condition) if conditioned else model(lr_y)
            loss = pixel(sr.float(), hr_y)
        run.opt.zero_grad(set_to_none=True)
        loss.backward()
        run.opt.step()
        run.ema.update_parameters(run.generator)
        run.step += 1
        bar.update(1)
        if not is_main:
            continue
        recent.append(loss.item())
        if run.step % cfg.log_every == 0:
            bar.set_postfix(loss=f"{np.mean(recent):.5f}", lr=f"{lr:.1e}")
            run.history.append([run.step, float(np.mean(recent))])
            writer.add_scalar("loss/pixel", float(np.mean(recent)), run.step)
            writer.add_scalar("lr", lr, run.step)
            recent.clear()
        if run.step % cfg.val_every == 0 or run.step == total:
            scores = validate(run, val_sets, val_clips)
            for name, s in scores.items():
                writer.add_scalar(f"val/{name}_psnr", s["psnr"], run.step)
            tqdm.write(f"step {run.step}: val " + ", ".join(f"{k} {v['psnr']:.3f} dB" for k, v in scores.items()))
            mean_psnr = float(np.mean([s["psnr"] for s in scores.values()]))
            if mean_psnr > run.best_psnr:
                run.best_psnr = mean_psnr
                save_checkpoint(run.checkpoint(), out / "best.pt")
        if run.step % cfg.ckpt_every == 0 or run.step == total:
            save_checkpoint(run.checkpoint(), out / "last.pt")
    bar.close()
    if writer:
        writer.close()
        log.info("done: %d steps, best mean val PSNR %.3f dB, checkpoints in %s", run.step, run.best_psnr, out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True, help="YAML file, e.g. training/configs/fast.yaml")
    ap.add_argument("--out", required=True, help="run folder: checkpoints, TensorBoard logs")
    ap.add_argument("--resume", action="store_true", help="continue from OUT/last.pt if present")
    ap.add_argument("--set", nargs="*", default=[], metavar="[SECTION.]KEY=VALUE",
                    help="override config values, e.g. train.steps=100 data.batch=8 seed=7")
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--max-minutes", type=float, help="end by this wall time (a lent GPU's lane): the "
                                                      "learning rate decays by time or steps, whichever "
                                                      "is further along, and the run ends validated")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    out = Path(args.out)
    try:
        cfg = load_config(args.config, args.set)
        if args.device == "cuda" and not torch.cuda.is_available():
            raise ValueError("--device cuda, but PyTorch sees no CUDA GPU here; use --device cpu or auto")
        if out.exists() and not out.is_dir():
            raise ValueError(f"--out {args.out} is a file; give a folder for the run")
        use_cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
        ddp = int(os.environ.get("WORLD_SIZE", "1")) > 1
        if ddp:
            dist.init_process_group(backend="nccl" if use_cuda else "gloo")
        rank, world = (dist.get_rank(), dist.get_world_size()) if ddp else (0, 1)
        device = torch.device(f"cuda:{os.environ.get('LOCAL_RANK', '0')}" if use_cuda else "cpu")
        if use_cuda:
            torch.cuda.set_device(device)
        torch.manual_seed(cfg.seed + rank)
        out.mkdir(parents=True, exist_ok=True)
        sampler = make_sampler(cfg, rank, device)
        val_sets = {s: load_val_set(cfg.data.val, s) for s in cfg.data.val_sets}
        val_clips = (ClipSet(cfg.data.val_clips, cfg.data.val_conditions, cfg.data.val_clip_frames,
                             with_flicker=False) if cfg.data.val_clips else None)
        last = out / "last.pt"
        run = Run(cfg, device, last if args.resume and last.exists() else None)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    train(run, sampler, cfg.data.batch // world, device, out, val_sets, val_clips, rank == 0, ddp,
          args.max_minutes)
    if ddp:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
