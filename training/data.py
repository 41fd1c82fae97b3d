"""Training and validation data: HR images from folders, frames sampled from video files,
random crops / flips / rotations, and LR made on the fly."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from vcam_sr.models.networks import LUMA_WEIGHTS
from training.degradations import degrade, parse_mix
from vcam_sr.upscalers.condition import condition_vector
from vcam_sr.media.colour import to_rgb
from vcam_sr.media.frames import from_av

log = logging.getLogger("training.data")
IMAGE_EXT = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}
VIDEO_EXT = {".mp4", ".mkv", ".mov", ".avi", ".webm"}


def read_rgb(path: str | Path) -> np.ndarray:
    """uint8 HxWx3 RGB."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def sample_video_frames(path: str | Path, count: int) -> list[np.ndarray]:
    """`count` frames spread evenly over a clip (PyAV decodes; OpenCV cannot seek H.264 reliably)."""
    import av

    with av.open(str(path)) as container:
        frames = [to_rgb(from_av(f)) for f in container.decode(video=0)]
    if not frames:
        return []
    idx = np.linspace(0, len(frames) - 1, num=min(count, len(frames))).round().astype(int)
    return [frames[i] for i in sorted(set(idx))]


def downscaled(img: np.ndarray, scale: float) -> np.ndarray:
    """Antialiased bicubic resize by `scale` (PIL filters over the whole footprint when shrinking)."""
    h, w = img.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(img).resize(size, Image.BICUBIC))


def load_hr_pool(root: str | Path, frames_per_video: int, min_size: int,
                 scales: list[float] = (1.0,), exclude: list[str] = ()) -> list[np.ndarray]:
    """Every image and sampled video frame under `root`, at each of `scales`, that is at least
    `min_size` on each side. Shrunk copies add the dense, clean texture that JPEG photos and
    H.264 frames lack at full size (their artifacts shrink below the pixel grid)."""
    if not (isinstance(scales, (list, tuple)) and scales and
            all(isinstance(s, (int, float)) and 0 < s <= 1 for s in scales)):
        raise ValueError(f"data.scales must be a list of factors in (0, 1], such as [1.0, 0.5], "
                         f"not {scales!r}")
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"training data folder {root} does not exist; pass --data with a "
                                "folder of images and/or videos")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXT | VIDEO_EXT
                   and p.name not in exclude)
    pool, skipped = [], 0
    for p in files:
        images = (sample_video_frames(p, frames_per_video) if p.suffix.lower() in VIDEO_EXT
                  else [read_rgb(p)])
        for img in (im if s == 1 else downscaled(im, s) for im in images for s in scales):
            if min(img.shape[:2]) >= min_size:
                pool.append(img)
            else:
                skipped += 1
    if not pool:
        raise ValueError(f"no usable training images or videos under {root} (need .png/.jpg images "
                         f"or .mp4 videos at least {min_size} px on each side)")
    log.info("training pool: %d images/frames from %d files under %s (%d too small, skipped)",
             len(pool), len(files), root, skipped)
    return pool


def bicubic_down(hr: torch.Tensor) -> torch.Tensor:
    """Antialiased bicubic 2x downscale with Keys a=-0.5 (torch uses it when antialias=True),
    the MATLAB imresize kernel behind the literature's LR_x2, rounded to 8 bits like a saved PNG."""
    lr = F.interpolate(hr, scale_factor=0.5, mode="bicubic", antialias=True, align_corners=False)
    return (lr.clamp(0, 1) * 255).round() / 255


def luma_of(rgb: torch.Tensor) -> torch.Tensor:
    """N x 3 x H x W RGB -> N x 1 x H x W luma (BT.601 weights, as vcam_sr.media.colour.luma)."""
    weights = torch.tensor(LUMA_WEIGHTS, dtype=rgb.dtype).view(1, 3, 1, 1)
    return (rgb * weights).sum(1, keepdim=True)


class PatchSampler:
    """Draws training batches of random, augmented crops from an in-memory HR pool: the LR luma
    the model sees, its condition (the measured noise and blocking the runtime would give a
    conditioned model), and the HR luma target. Each LR crop is the HR crop shrunk by bicubic,
    then degraded by a profile drawn from `mix` ({clean|webcam|call: weight}); the target is
    always the clean HR crop. With `context`, the degradation and the measurement see that many
    LR pixels around the crop (a codec works on whole frames, not on 64-pixel tiles), which are
    cut away afterwards."""

    def __init__(self, pool: list[np.ndarray], lr_patch: int, mix: dict | None = None,
                 seed: int = 0, context: int = 0):
        self.profiles, self.probs = parse_mix(mix or {"clean": 1.0})
        self.context = context
        self.pool, self.lr_patch, self.hr_patch = pool, lr_patch, (lr_patch + 2 * self.context) * 2
        self.rng = np.random.default_rng(seed)
        # Larger images hold more distinct patches: sample them proportionally to area.
        area = np.array([im.shape[0] * im.shape[1] for im in pool], dtype=np.float64)
        self.weights = area / area.sum()

    def _crop(self) -> np.ndarray:
        img = self.pool[self.rng.choice(len(self.pool), p=self.weights)]
        h, w = img.shape[:2]
        y = self.rng.integers(0, h - self.hr_patch + 1)
        x = self.rng.integers(0, w - self.hr_patch + 1)
        patch = img[y:y + self.hr_patch, x:x + self.hr_patch]
        if self.rng.random() < 0.5:
            patch = patch[:, ::-1]
        if self.rng.random() < 0.5:
            patch = patch[::-1]
        return np.rot90(patch, k=int(self.rng.integers(4)))

    def batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(LR luma N x 1 x p x p, condition N x 3, HR luma N x 1 x 2p x 2p)."""
        hr = np.stack([self._crop() for _ in range(size)])
        hr = torch.from_numpy(hr).permute(0, 3, 1, 2).float() / 255
        lr_u8 = (bicubic_down(hr) * 255).round().byte().permute(0, 2, 3, 1).numpy()
        chosen = self.rng.choice(self.profiles, size=size, p=self.probs)
        lr = [degrade(im, p, self.rng) for im, p in zip(lr_u8, chosen)]
        condition = torch.from_numpy(np.stack([condition_vector(y) for y in lr]))
        lr = torch.from_numpy(np.stack(lr))[:, None]
        c, p = self.context, self.lr_patch
        lr, hr = lr[:, :, c:c + p, c:c + p], luma_of(hr)[:, :, 2 * c:2 * (c + p), 2 * c:2 * (c + p)]
        return lr.contiguous(), condition, hr.contiguous()


_BANK_SOURCE: dict = {}  # what forked bank workers sample from (shared by fork, never pickled)


def _bank_chunk(args: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    seed, count = args
    torch.set_num_threads(1)
    src = _BANK_SOURCE
    lr, condition, hr = PatchSampler(src["pool"], src["lr_patch"], src["mix"], seed, src["context"]).batch(count)
    return lr.half().numpy(), condition.numpy(), hr.half().numpy()


class CropBank:
    """Degraded training crops made once, by worker processes on every core, and kept (luma in
    float16) on the training device, so a fast GPU never waits for the CPU's codec round trips.
    Each batch is a random draw from the bank, flipped and rotated afresh."""

    def __init__(self, pool: list[np.ndarray], lr_patch: int, mix: dict | None, seed: int,
                 context: int, size: int, workers: int, device: torch.device, chunk: int = 64):
        import multiprocessing

        _BANK_SOURCE.update(pool=pool, lr_patch=lr_patch, mix=mix, context=context)
        jobs = [(seed * 100_003 + i, min(chunk, size - i * chunk)) for i in range(-(-size // chunk))]
        with multiprocessing.get_context("fork").Pool(max(1, workers)) as workers_pool:
            parts = workers_pool.map(_bank_chunk, jobs)
        self.lr, self.condition, self.hr = (torch.from_numpy(np.concatenate([p[i] for p in parts])).to(device)
                                            for i in range(3))
        self.generator = torch.Generator(device="cpu").manual_seed(seed)
        log.info("crop bank: %d crops made by %d processes, %.0f MB on %s", len(self.lr), workers,
                 2 * (self.lr.numel() + self.hr.numel()) / 2**20, device)

    def batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        idx = torch.randint(len(self.lr), (size,), generator=self.generator).to(self.lr.device)
        lr, hr = self.lr[idx].float(), self.hr[idx].float()
        flips, turns = torch.randint(2, (2,), generator=self.generator), int(torch.randint(4, (1,)))
        dims = [d for d, f in zip((2, 3), flips) if f]
        if dims:
            lr, hr = lr.flip(dims), hr.flip(dims)
        return (torch.rot90(lr, turns, (2, 3)).contiguous(), self.condition[idx],
                torch.rot90(hr, turns, (2, 3)).contiguous())


def load_val_set(root: str | Path, name: str) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """[(image name, LR uint8, HR uint8)] from ROOT/NAME/{LR_x2,HR}."""
    lr_dir, hr_dir = Path(root, name, "LR_x2"), Path(root, name, "HR")
    if not lr_dir.is_dir() or not hr_dir.is_dir():
        raise FileNotFoundError(f"validation set {name} needs {lr_dir} and {hr_dir}")
    items = []
    for lr_path in sorted(p for p in lr_dir.iterdir() if p.suffix.lower() in IMAGE_EXT):
        hr_path = hr_dir / lr_path.name
        if not hr_path.exists():
            raise FileNotFoundError(f"{lr_path} has no matching HR image {hr_path}")
        items.append((lr_path.stem, read_rgb(lr_path), read_rgb(hr_path)))
    return items
