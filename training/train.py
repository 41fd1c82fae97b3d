"""Train a vcam-sr generator. Reads top to bottom: config, data, model, loop.

    python -m training.train --config training/configs/fast.yaml --out runs/fast
    torchrun --nproc_per_node 2 -m training.train --config ...   # DDP (NCCL on GPUs, gloo on CPU)

Phase 1 (train.steps) minimises a pixel loss; phase 2 (gan.steps, optional) is the Fast-SRGAN
recipe: pixel + VGG19 perceptual + adversarial. Checkpoints go to OUT/last.pt every
train.ckpt_every steps (`--resume` continues from it); OUT/best.pt keeps the best validation PSNR
of phase 1 (a GAN run's result is OUT/last.pt).
"""
from __future__ import annotations

import argparse
import logging
import math
import os
import re
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import yaml
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from engine_build.networks import (Discriminator, build_generator, generator_from_checkpoint,
                                   preset_args, strip_compile_prefix, warm_start)
from training import losses
from training.clips import ClipSet
from training.data import CropBank, PatchSampler, load_hr_pool, load_val_set
from training.evaluate import score_sets, torch_upscaler
from engine_build.atomic import atomic_path
from vcam_sr.config import yaml_problem

log = logging.getLogger("training.train")


class ConfigLoader(yaml.SafeLoader):
    """YAML with `2e-4` and `1e5` read as floats: YAML 1.1 wants a dot and a signed exponent
    (`2.0e-4`) and otherwise returns a string that only fails later, deep inside the optimiser."""


ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"))


def load_config(path: str, overrides: list[str]) -> dict:
    """YAML config plus `key=value` or `section.key=value` overrides from the command line."""
    try:
        with open(path) as f:
            cfg = yaml.load(f, Loader=ConfigLoader)
    except OSError as exc:
        raise ValueError(f"cannot read config {path} ({exc.strerror}); pass a YAML file such as "
                         "training/configs/fast.yaml") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"config {path} is not valid YAML ({yaml_problem(exc)}); fix its syntax") from None
    if not isinstance(cfg, dict) or not all(isinstance(cfg.get(s), dict) for s in ("data", "train", "gan")):
        raise ValueError(f"config {path} needs data, train and gan sections; start from "
                         "training/configs/fast.yaml")
    for item in overrides:
        key, _, value = item.partition("=")
        *sections, name = key.split(".")
        node = cfg
        for section in sections:
            node = node.get(section) if isinstance(node, dict) else None
        if not isinstance(node, dict) or name not in node:
            raise ValueError(f"unknown config key {key!r} in --set {item!r}")
        if isinstance(node[name], dict):
            raise ValueError(f"{key!r} is a section; set one of its keys, such as {key}."
                           f"{next(iter(node[name]))}=... (in --set {item!r})")
        new = yaml.load(value, Loader=ConfigLoader)
        if isinstance(node[name], float) and (isinstance(new, bool) or
                                              not isinstance(new, (int, float))):
            raise ValueError(f"{key} must be a number, not {value!r} (in --set {item!r})")
        node[name] = new
    check_ranges(cfg)
    return cfg


def check_ranges(cfg: dict) -> None:
    """Values that would end in a traceback or a run that does nothing, named before any work."""
    for key, least in (("data.batch", 1), ("data.lr_patch", 8), ("data.context", 0), ("data.bank", 0),
                       ("train.steps", 0), ("gan.steps", 0), ("train.val_every", 1),
                       ("train.ckpt_every", 1), ("train.log_every", 1)):
        section, name = key.split(".")
        value = cfg[section].get(name)
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"{key} must be a whole number of at least {least}, not {value!r}")
    if cfg["train"]["steps"] + cfg["gan"]["steps"] == 0:
        raise ValueError("train.steps and gan.steps are both 0, so there is nothing to train")


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


def lr_at(step: int, total: int, peak: float, floor: float, warmup: int) -> float:
    """Linear warm-up, then cosine decay to `floor` (nanoGPT's schedule)."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return floor + 0.5 * (peak - floor) * (1 + math.cos(math.pi * progress))


def save_checkpoint(state: dict, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


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

    # ---- config and processes -------------------------------------------------------------
    try:
        cfg = load_config(args.config, args.set)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    data_cfg, train_cfg, gan_cfg = cfg["data"], cfg["train"], cfg["gan"]
    use_cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    if use_cuda and not torch.cuda.is_available():
        print("error: --device cuda, but PyTorch sees no CUDA GPU here; use --device cpu or auto",
              file=sys.stderr)
        return 2
    if Path(args.out).exists() and not Path(args.out).is_dir():
        print(f"error: --out {args.out} is a file; give a folder for the run", file=sys.stderr)
        return 2
    ddp = int(os.environ.get("WORLD_SIZE", "1")) > 1
    rank, world = 0, 1
    if ddp:
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
        rank, world = dist.get_rank(), dist.get_world_size()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device(f"cuda:{local_rank}" if use_cuda else "cpu")
    if use_cuda:
        torch.cuda.set_device(device)
    is_main = rank == 0
    torch.manual_seed(cfg["seed"] + rank)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    # ---- data ------------------------------------------------------------------------------
    try:
        pool = load_hr_pool(data_cfg["train"], data_cfg["frames_per_video"],
                            2 * (data_cfg["lr_patch"] + 2 * data_cfg["context"]), data_cfg["scales"])
        val_sets = {s: load_val_set(data_cfg["val"], s) for s in data_cfg["val_sets"]}
        val_clips = (ClipSet(data_cfg["val_clips"], data_cfg["val_conditions"],
                             data_cfg["val_clip_frames"], with_flicker=False)
                     if data_cfg["val_clips"] else None)
        if data_cfg["bank"]:  # a fast GPU: crops made up front on every core, kept on the GPU
            sampler = CropBank(pool, data_cfg["lr_patch"], data_cfg["degradation"], cfg["seed"] + rank,
                               data_cfg["context"], data_cfg["bank"], max(1, (os.cpu_count() or 2) - 1),
                               device)
        else:
            sampler = PatchSampler(pool, data_cfg["lr_patch"], data_cfg["degradation"], cfg["seed"] + rank,
                                   data_cfg["context"])
        pixel = losses.pixel_loss(train_cfg["pixel_loss"], train_cfg["loss_on"]).to(device)
        vgg = None
        if gan_cfg["steps"] > 0:
            vgg = losses.VGGPerceptual(losses.find_vgg19_weights(gan_cfg.get("vgg_weights"))).to(device)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    batch = data_cfg["batch"] // world  # the config gives the global batch

    # ---- model, optimisers, EMA ------------------------------------------------------------
    # channels_last: faster convs with oneDNN on CPU (~15% here) and with cuDNN on GPUs.
    last = out / "last.pt"
    resuming = args.resume and last.exists()
    ckpt = torch.load(last, map_location="cpu", weights_only=False) if resuming else None
    generator = generator_from_checkpoint(ckpt) if resuming else build_generator(cfg["preset"])
    model_args = (ckpt.get("model_args") if resuming else None) or preset_args(cfg["preset"])
    if train_cfg["init_from"] and not resuming:  # a resumed run has its own weights
        try:
            init = torch.load(train_cfg["init_from"], map_location="cpu", weights_only=False)
            warm_start(generator, init.get("ema") or init["generator"])
        except Exception as exc:  # torch.load raises several types for damaged files
            print(f"error: train.init_from {train_cfg['init_from']} is not a usable vcam-sr "
                  f"checkpoint ({exc}); point it at a .pt written by training or export, or null",
                  file=sys.stderr)
            return 2
        log.info("warm start from %s", train_cfg["init_from"])
    generator = generator.to(device, memory_format=torch.channels_last)
    ema = AveragedModel(generator, multi_avg_fn=get_ema_multi_avg_fn(train_cfg["ema"]))
    opt_g = torch.optim.Adam(generator.parameters(), lr=train_cfg["lr"], betas=(0.9, 0.99))
    disc = Discriminator().to(device) if gan_cfg["steps"] > 0 else None
    opt_d = torch.optim.Adam(disc.parameters(), lr=gan_cfg["lr"], betas=(0.9, 0.99)) if disc else None
    step, best_psnr = 0, -1.0
    history, recent = [], []  # history: [step, mean pixel loss over the last log_every steps]
    if resuming:
        generator.load_state_dict(strip_compile_prefix(ckpt["generator"]))
        ema.module.load_state_dict(strip_compile_prefix(ckpt["ema"]))
        ema.n_averaged.fill_(ckpt["ema_n"])
        opt_g.load_state_dict(ckpt["opt_g"])
        if disc and ckpt.get("disc"):
            disc.load_state_dict(ckpt["disc"])
            opt_d.load_state_dict(ckpt["opt_d"])
        step, best_psnr, history = ckpt["step"], ckpt["best_psnr"], ckpt.get("history", [])
        log.info("resumed from %s at step %d (best val PSNR %.3f)", last, step, best_psnr)
        changed = config_changes(ckpt.get("config", {}), cfg)
        if changed:
            log.warning("resuming with a config that differs from the checkpoint's: %s",
                        "; ".join(changed))
    model = torch.nn.parallel.DistributedDataParallel(generator) if ddp else generator
    disc_model = torch.nn.parallel.DistributedDataParallel(disc) if (ddp and disc) else disc

    writer = None
    if is_main:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(out / "tb")
        log.info("preset %s, %d parameters, device %s, world size %d, batch %d per process",
                 cfg["preset"], sum(p.numel() for p in generator.parameters()), device, world, batch)

    def checkpoint() -> dict:
        return {"preset": cfg["preset"], "model_args": model_args, "step": step,
                "best_psnr": best_psnr, "config": cfg, "history": history,
                "generator": generator.state_dict(), "ema": ema.module.state_dict(),
                "ema_n": int(ema.n_averaged), "opt_g": opt_g.state_dict(),
                "disc": disc.state_dict() if disc else None,
                "opt_d": opt_d.state_dict() if opt_d else None}

    # ---- loop ------------------------------------------------------------------------------
    total = train_cfg["steps"] + gan_cfg["steps"]
    bar = tqdm(total=total, initial=step, disable=not is_main, unit="step", dynamic_ncols=True)
    started, max_s = time.monotonic(), (args.max_minutes or 0) * 60
    while step < total:
        gan_phase = step >= train_cfg["steps"]
        by_time = int(train_cfg["steps"] * (time.monotonic() - started) / max_s) if max_s else 0
        if max_s and by_time >= train_cfg["steps"] and total > step + 1:
            total = step + 1  # time is up: one last step, then validate and save
        if gan_phase:
            lr = gan_cfg["lr"]
        else:
            lr = lr_at(max(step, by_time), train_cfg["steps"], train_cfg["lr"], train_cfg["min_lr"],
                       train_cfg["warmup"])
        for group in opt_g.param_groups:
            group["lr"] = lr
        lr_img, hr_img = (t.to(device, memory_format=torch.channels_last, non_blocking=True)
                          for t in sampler.batch(batch))
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=use_cuda):
            sr = model(lr_img)
            loss = pixel(sr.float(), hr_img)
            terms = {"pixel": loss.item()}
            if gan_phase:
                perceptual = vgg(sr.float(), hr_img)
                adv = losses.adversarial(disc_model(sr), real=True)
                loss = gan_cfg["pixel_weight"] * loss + gan_cfg["perceptual_weight"] * perceptual \
                    + gan_cfg["adversarial_weight"] * adv
                terms.update(perceptual=perceptual.item(), adversarial=adv.item())
        opt_g.zero_grad(set_to_none=True)
        loss.backward()
        opt_g.step()
        ema.update_parameters(generator)
        if gan_phase:
            with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=use_cuda):
                d_loss = losses.adversarial(disc_model(hr_img), True) + \
                    losses.adversarial(disc_model(sr.detach()), False)
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
            terms["disc"] = d_loss.item()
        step += 1
        bar.update(1)

        if not is_main:
            continue
        recent.append(terms["pixel"])  # only rank 0 logs, so only rank 0 collects
        if step % train_cfg["log_every"] == 0:
            bar.set_postfix(loss=f"{loss.item():.4f}", lr=f"{opt_g.param_groups[0]['lr']:.1e}")
            history.append([step, float(np.mean(recent))])
            recent.clear()
            for k, v in terms.items():
                writer.add_scalar(f"loss/{k}", v, step)
            writer.add_scalar("lr", opt_g.param_groups[0]["lr"], step)
        if step % train_cfg["val_every"] == 0 or step == total:
            ema.module.eval()
            upscale = torch_upscaler(ema.module)
            scores = score_sets(upscale, val_sets)
            if val_clips:
                scores.update({f"clips_{c}": s for c, s in val_clips.score(upscale).items()})
            mean_psnr = float(np.mean([s["psnr"] for s in scores.values()]))
            for name, s in scores.items():
                writer.add_scalar(f"val/{name}_psnr", s["psnr"], step)
                writer.add_scalar(f"val/{name}_ssim", s["ssim"], step)
            if val_sets:
                name, lr0, _ = val_sets[data_cfg["val_sets"][0]][0]
                writer.add_image(f"sample/{name}", upscale(lr0), step, dataformats="HWC")
            summary = ", ".join(f"{k} {v['psnr']:.3f} dB" for k, v in scores.items())
            tqdm.write(f"step {step}: val {summary}")
            if mean_psnr > best_psnr and not gan_phase:  # GAN results are judged by eye, not PSNR
                best_psnr = mean_psnr
                save_checkpoint(checkpoint(), out / "best.pt")
        if step % train_cfg["ckpt_every"] == 0 or step == total:
            save_checkpoint(checkpoint(), last)
    bar.close()
    if writer:
        writer.close()
        log.info("done: %d steps, best mean val PSNR %.3f dB, checkpoints in %s", step, best_psnr, out)
    if ddp:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
