"""Losses: pixel (L1, Charbonnier, or L2 for a final PSNR fine-tune), VGG19 perceptual and the
adversarial term of the Fast-SRGAN recipe."""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from engine_build.networks import LUMA_WEIGHTS

# torchvision's published file name; it sits in the torch hub cache once a user has used VGG19.
VGG19_FILE = "vgg19-dcbb9e9d.pth"
VGG19_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
             512, 512, 512, 512, "M"]


class Charbonnier(nn.Module):
    def __init__(self, eps: float = 1e-3):
        super().__init__()
        self.eps2 = eps * eps

    def forward(self, sr, hr):
        return torch.sqrt((sr - hr) ** 2 + self.eps2).mean()


class OnLuma(nn.Module):
    """A pixel loss on Y only: what Y-PSNR scores, and all a luma-residual generator changes."""

    def __init__(self, loss: nn.Module):
        super().__init__()
        self.loss = loss
        self.register_buffer("weights", torch.tensor(LUMA_WEIGHTS).view(1, 3, 1, 1), persistent=False)

    def forward(self, sr, hr):
        return self.loss((sr * self.weights).sum(1), (hr * self.weights).sum(1))


def pixel_loss(name: str, on: str = "rgb") -> nn.Module:
    losses = {"l1": nn.L1Loss(), "charbonnier": Charbonnier(), "l2": nn.MSELoss()}
    if name not in losses:
        raise ValueError(f"pixel_loss must be one of {sorted(losses)}, not {name!r}")
    if on not in ("rgb", "y"):
        raise ValueError(f"loss_on must be rgb or y, not {on!r}")
    return OnLuma(losses[name]) if on == "y" else losses[name]


def find_vgg19_weights(configured: str | None) -> Path:
    """The configured path, else the torch hub cache; a clear error when neither has the file."""
    if configured:
        path = Path(configured).expanduser()
    else:
        path = Path(torch.hub.get_dir()) / "checkpoints" / VGG19_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"the perceptual loss needs ImageNet VGG19 weights ({VGG19_FILE}) and none were found "
            f"at {path}; copy that file there or set gan.vgg_weights in the training config")
    return path


class VGGPerceptual(nn.Module):
    """L1 between VGG19 conv5_4 features (before ReLU), as in SRGAN / Fast-SRGAN.
    The network is built here (torchvision is not a dependency) and loads torchvision's file."""

    def __init__(self, weights: Path, last_layer: int = 34):
        super().__init__()
        layers, cin = [], 3
        for v in VGG19_CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(cin, v, 3, padding=1), nn.ReLU(inplace=True)]
                cin = v
        self.features = nn.Sequential(*layers[: last_layer + 1])
        state = torch.load(weights, map_location="cpu", weights_only=True)
        state = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
        self.features.load_state_dict({k: v for k, v in state.items()
                                       if int(k.split(".")[0]) <= last_layer})
        self.requires_grad_(False).eval()
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def forward(self, sr, hr):
        f = lambda x: self.features((x - self.mean) / self.std)
        return F.l1_loss(f(sr), f(hr.detach()))


def adversarial(logits: torch.Tensor, real: bool) -> torch.Tensor:
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits, target)
