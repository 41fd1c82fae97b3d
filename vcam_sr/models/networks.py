"""The vcam-sr generator family (torch only).

Shared by training/ (which trains them), export.py (which folds and exports them) and the
runtime's torch backend; it needs nothing but torch. Every net keeps vcam_sr/contract.py.
"""
from __future__ import annotations

import copy
import os
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from vcam_sr.contract import SCALE

PHASES = SCALE * SCALE  # sub-pixel channels per colour before PixelShuffle

# name -> (architecture, keyword arguments). `fast` is CPU real time (shipped); `balanced`, twice
# as deep, and `quality` are for GPU training (on 2 CPU cores balanced did not beat fast; see
# training/configs/MODELS.md). Each takes the measured noise and blocking of the frame as 3
# conditions (vcam_sr/upscalers/condition.py).
PRESETS = {
    "fast": ("plain", dict(channels=16, blocks=4, y_only=True, conditions=3)),
    "balanced": ("plain", dict(channels=16, blocks=8, y_only=True, conditions=3)),
    "quality": ("plain", dict(channels=48, blocks=12, y_only=True, conditions=3)),
}


def bicubic_upsample_kernel(channels: int = 3) -> torch.Tensor:
    """Per-colour (groups=channels) 5x5 conv weights (4*channels, 1, 5, 5) that, before
    PixelShuffle(2), equal a 2x bicubic upscale (Keys a=-0.5, the MATLAB/PIL kernel). Used to
    start the anchor at bicubic."""

    def keys(d: float, a: float = -0.5) -> float:
        d = abs(d)
        if d <= 1:
            return (a + 2) * d**3 - (a + 3) * d**2 + 1
        if d < 2:
            return a * d**3 - 5 * a * d**2 + 8 * a * d - 4 * a
        return 0.0

    # Output sub-pixel phase p (0 or 1) sits at input coordinate i - 0.25 + 0.5 * p.
    taps = torch.zeros(2, 5)
    for p in range(2):
        centre = -0.25 + 0.5 * p
        for k in range(5):
            taps[p, k] = keys(k - 2 - centre)
    phases = torch.stack([torch.outer(taps[py], taps[px]) for py in range(2) for px in range(2)])
    return phases[:, None].repeat(channels, 1, 1, 1)


class BicubicAnchor(nn.Module):
    """Learnable linear 2x path, initialised to bicubic, so the body learns only the residual.
    Per colour (groups=3): bicubic mixes no colours, and the grouped 5x5 is ~2 ms cheaper."""

    def __init__(self, channels: int = 3):
        super().__init__()
        self.conv = nn.Conv2d(channels, 4 * channels, 5, padding=2, groups=channels, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(bicubic_upsample_kernel(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class ShuffleToRGB(nn.Module):
    """PixelShuffle(2) from 4 sub-pixel channels per colour to the colours (RGB, or Y alone).
    After fold() it runs as a stride-2 ConvTranspose with 0/1 weights: the same numbers, ~4 ms
    faster than ONNX Runtime's DepthToSpace at 640x360 on 2 cores."""

    def __init__(self, colours: int = 3):
        super().__init__()
        self.as_conv_transpose = False
        # Channel i of the identity, pixel-shuffled: the (colours, 2, 2) block PixelShuffle puts i in.
        n = colours * PHASES
        select = F.pixel_shuffle(torch.eye(n).view(n, n, 1, 1), SCALE)
        self.register_buffer("select", select, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.as_conv_transpose:
            return F.conv_transpose2d(x, self.select, stride=SCALE)
        return F.pixel_shuffle(x, SCALE)


def _sequential_kernel(w1, b1, w2, b2):
    """Fold a 1x1 conv (w1, b1) followed by a 3x3 conv (w2, b2) into one 3x3 conv.

    Exact because the training-time branch pads the 1x1 output with its bias (see ECB)."""
    weight = torch.einsum("omhw,mi->oihw", w2, w1[:, :, 0, 0])
    bias = b2 + torch.einsum("omhw,m->o", w2, b1)
    return weight, bias


class ECB(nn.Module):
    """Edge-oriented conv block (ECBSR): multi-branch while training, one 3x3 conv after fold().

    Branches: 3x3; 1x1; 1x1 -> 3x3 (expanded); 1x1 -> Sobel-x / Sobel-y / Laplacian (learnable
    per-channel scale); identity when in == out. All are linear, so their sum is one 3x3 conv.
    """

    EDGE_MASKS = {
        "sobel_x": [[1, 0, -1], [2, 0, -2], [1, 0, -1]],
        "sobel_y": [[1, 2, 1], [0, 0, 0], [-1, -2, -1]],
        "laplacian": [[0, 1, 0], [1, -4, 1], [0, 1, 0]],
    }

    def __init__(self, cin: int, cout: int, expand: int = 2):
        super().__init__()
        self.cin, self.cout = cin, cout
        self.conv3 = nn.Conv2d(cin, cout, 3, padding=1)
        self.conv1 = nn.Conv2d(cin, cout, 1)
        self.exp1 = nn.Conv2d(cin, cout * expand, 1)
        self.exp3 = nn.Conv2d(cout * expand, cout, 3)
        self.edge1 = nn.ModuleDict({k: nn.Conv2d(cin, cout, 1) for k in self.EDGE_MASKS})
        self.edge_scale = nn.ParameterDict(
            {k: nn.Parameter(torch.randn(cout) * 1e-3) for k in self.EDGE_MASKS})
        self.edge_bias = nn.ParameterDict(
            {k: nn.Parameter(torch.zeros(cout)) for k in self.EDGE_MASKS})
        for k, m in self.EDGE_MASKS.items():
            self.register_buffer(f"mask_{k}", torch.tensor(m, dtype=torch.float32), persistent=False)

    @staticmethod
    def _pad_with_bias(y: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b = bias.view(1, -1, 1, 1)
        return F.pad(y - b, (1, 1, 1, 1)) + b

    def _edge_weight(self, k: str) -> torch.Tensor:
        """Depthwise (cout, 1, 3, 3) kernel: the fixed edge mask times a learnable scale."""
        return self.edge_scale[k].view(-1, 1, 1, 1) * getattr(self, f"mask_{k}")

    def zero_output_(self) -> None:
        """Start the block at zero output (the anchor then starts the net at bicubic). Only the
        last conv of each sequential branch is zeroed, so gradients still reach the first."""
        with torch.no_grad():
            for p in (self.conv3.weight, self.conv3.bias, self.conv1.weight, self.conv1.bias,
                      self.exp3.weight, self.exp3.bias, *self.edge_scale.values(),
                      *self.edge_bias.values(), self.exp1.bias, *[m.bias for m in self.edge1.values()]):
                p.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv3(x) + self.conv1(x)
        y = y + self.exp3(self._pad_with_bias(self.exp1(x), self.exp1.bias))
        for k in self.EDGE_MASKS:
            t = self._pad_with_bias(self.edge1[k](x), self.edge1[k].bias)
            y = y + F.conv2d(t, self._edge_weight(k), self.edge_bias[k], groups=self.cout)
        if self.cin == self.cout:
            y = y + x
        return y

    @torch.no_grad()
    def fold(self) -> nn.Conv2d:
        weight = self.conv3.weight.clone()
        bias = self.conv3.bias.clone()
        weight += F.pad(self.conv1.weight, (1, 1, 1, 1))
        bias += self.conv1.bias
        w, b = _sequential_kernel(self.exp1.weight, self.exp1.bias, self.exp3.weight, self.exp3.bias)
        weight += w
        bias += b
        idx = torch.arange(self.cout)
        for k in self.EDGE_MASKS:
            dense = torch.zeros(self.cout, self.cout, 3, 3, device=weight.device)
            dense[idx, idx] = self._edge_weight(k)[:, 0]
            w, b = _sequential_kernel(self.edge1[k].weight, self.edge1[k].bias, dense, self.edge_bias[k])
            weight += w
            bias += b
        if self.cin == self.cout:
            weight[idx, idx, 1, 1] += 1.0
        conv = nn.Conv2d(self.cin, self.cout, 3, padding=1).to(weight.device)
        conv.weight.copy_(weight)
        conv.bias.copy_(bias)
        return conv


class PlainSR(nn.Module):
    """CPU-first generator: a few 3x3 convs on the low-resolution grid, PixelShuffle at the end,
    plus a learnable bicubic anchor, so inference is `blocks + 2` plain convs and one 5x5.
    ReLU, not ECBSR's PReLU: ONNX Runtime fuses ReLU into the conv, while a separate PReLU
    pass cost 19 ms of 77 ms at 640x360 on 2 cores.

    With `luma=True` the body predicts one residual per output pixel (4 sub-pixel channels, not
    12) and adds it to R, G and B alike: that changes only luma (Y's weights sum to one, Cb's and
    Cr's to zero), so chroma stays the anchor's. Y-PSNR and the eye care about luma; the smaller
    tail saves ~1 ms at 640x360 on 2 cores.

    With `y_only=True` the net takes the Y plane alone and returns Y at twice the size: the
    runtime upscales a video's own Y plane and its chroma planes with a plain filter, so no
    colour conversion happens per frame and chroma is never changed (the runtime's contract).

    With `conditions=K` (Y-only nets) the net also takes K numbers per frame, the measured
    noise and blocking of the input (vcam_sr/upscalers/condition.py), as K constant planes beside Y, as
    FFDNet takes its noise map: one net then serves clean, webcam and call frames, and how it
    treats a frame changes smoothly with the measurement instead of switching between models.
    The planes cost one wider first conv (~1% of the time).
    """

    def __init__(self, channels: int = 16, blocks: int = 4, luma: bool = False, y_only: bool = False,
                 conditions: int = 0):
        super().__init__()
        if conditions and not y_only:
            raise ValueError("only a Y-only PlainSR takes condition inputs")
        self.luma, self.y_only, self.conditions = luma and not y_only, y_only, conditions
        colours = 1 if y_only else 3
        layers = [ECB(colours + conditions, channels), nn.ReLU(inplace=True)]
        for _ in range(blocks):
            layers += [ECB(channels, channels), nn.ReLU(inplace=True)]
        layers.append(ECB(channels, (1 if luma or y_only else 3) * PHASES))
        layers[-1].zero_output_()
        self.body = nn.Sequential(*layers)
        self.anchor = BicubicAnchor(colours)
        self.shuffle = ShuffleToRGB(colours)

    def forward(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        """`x`: N x colours x H x W; `condition`: N x K, for a net with K conditions."""
        if self.conditions:
            planes = condition.reshape(-1, self.conditions, 1, 1).expand(-1, -1, *x.shape[2:])
            residual = self.body(torch.cat([x, planes.to(x.dtype)], dim=1))
        else:
            residual = self.body(x)
        anchor = self.anchor(x)
        if self.luma:  # (N, 3, 4, H, W) + (N, 1, 4, H, W): one residual for all three colours
            n, _, h, w = x.shape
            anchor = anchor.reshape(n, 3, PHASES, h, w) + residual.unsqueeze(1)
            return self.shuffle(anchor.reshape(n, 3 * PHASES, h, w))
        return self.shuffle(residual + anchor)


def preset_args(preset: str) -> dict:
    """{"arch": ..., **kwargs} of a preset: what a checkpoint stores as its `model_args`."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    arch, kwargs = PRESETS[preset]
    return {"arch": arch, **kwargs}


def build_generator(preset: str, model_args: dict | None = None) -> nn.Module:
    """The generator of `preset`, or exactly the net `model_args` describes (as nanoGPT's
    checkpoints do), so a checkpoint rebuilds its own net even after PRESETS has changed."""
    args = dict(model_args or preset_args(preset))
    arch = args.pop("arch", None)
    if arch != "plain":
        raise ValueError(f"unknown architecture {arch!r} in model_args {model_args!r}")
    return PlainSR(**args)


def generator_from_checkpoint(ckpt: dict) -> nn.Module:
    """The generator a checkpoint dict was saved from (older checkpoints carry only a preset)."""
    return build_generator(ckpt["preset"], ckpt.get("model_args"))


def fold(model: nn.Module) -> nn.Module:
    """A copy of `model` for inference: every ECB replaced by its single equivalent 3x3 conv,
    the final PixelShuffle run as a ConvTranspose."""
    model = copy.deepcopy(model).eval()
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, ECB):
                setattr(parent, name, child.fold())
            elif isinstance(child, ShuffleToRGB):
                child.as_conv_transpose = True
    return model


LUMA_WEIGHTS = (0.299, 0.587, 0.114)  # BT.601; scaled to sum to one, as Y-PSNR's weights are


@torch.no_grad()
def warm_start(model: nn.Module, state_dict: dict) -> None:
    """Start `model` from another checkpoint of its family. Same-shaped tensors are copied; a
    full-colour anchor keeps its per-colour part; an RGB tail becomes a luma tail that adds the
    same Y change (its folded 3x3 conv, Y-weighted over colours), other branches at zero; a
    shallower PlainSR grows to this depth starting as the same function (`_grow_depth`)."""
    state = strip_compile_prefix(state_dict)
    if isinstance(model, PlainSR):
        state = _grow_depth(model, state)
        if model.y_only and state["body.0.conv3.weight"].shape[1] == 3:
            state = _y_input(state)
        if model.conditions and state["body.0.conv3.weight"].shape[1] == 1:
            state = {k: (F.pad(v, (0, 0, 0, 0, 0, model.conditions)) if k.startswith("body.0.") and
                         v.ndim == 4 and v.shape[1] == 1 else v) for k, v in state.items()}
    own = model.state_dict()
    loadable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    anchor = state.get("anchor.conv.weight")
    if anchor is not None and anchor.shape[1] == 3 and own["anchor.conv.weight"].shape[1] == 1:
        rows = torch.arange(anchor.shape[0])
        loadable["anchor.conv.weight"] = anchor[rows, rows // PHASES, None]
    if len(loadable) < len(own) // 2:
        raise ValueError(f"only {len(loadable)} of {len(own)} tensors match: the checkpoint is "
                         "from a different preset")
    model.load_state_dict(loadable, strict=False)
    if not (isinstance(model, PlainSR) and (model.luma or model.y_only)):
        return
    tail_prefix = f"body.{len(model.body) - 1}."
    rgb_tail = {k[len(tail_prefix):]: v for k, v in state.items() if k.startswith(tail_prefix)}
    if not rgb_tail or rgb_tail["conv3.weight"].shape[0] != 3 * PHASES:
        return
    source = ECB(rgb_tail["conv3.weight"].shape[1], 3 * PHASES)
    source.load_state_dict(rgb_tail)
    folded = source.fold()
    weight = sum(w * folded.weight[c * PHASES:(c + 1) * PHASES] for c, w in enumerate(LUMA_WEIGHTS))
    bias = sum(w * folded.bias[c * PHASES:(c + 1) * PHASES] for c, w in enumerate(LUMA_WEIGHTS))
    tail = model.body[-1]
    tail.zero_output_()
    tail.conv3.weight.copy_(weight)
    tail.conv3.bias.copy_(bias)


def _y_input(state: dict) -> dict:
    """An RGB-input PlainSR's weights for the Y-only net that computes the same luma on a grey
    frame (R = G = B = Y): the first block's input weights summed over colours, the per-colour
    anchor Y-weighted into one. On colour frames it sees less (no chroma), so fine-tune after."""
    state = dict(state)
    for key, value in state.items():
        if key.startswith("body.0.") and value.ndim == 4 and value.shape[1] == 3:
            state[key] = value.sum(dim=1, keepdim=True)
    anchor = state.get("anchor.conv.weight")
    if anchor is not None and anchor.shape[0] == 3 * PHASES:
        state["anchor.conv.weight"] = sum(w * anchor[c * PHASES:(c + 1) * PHASES]
                                          for c, w in enumerate(LUMA_WEIGHTS))
    return state


def _grow_depth(model: PlainSR, state: dict) -> dict:
    """Rename a shallower PlainSR checkpoint's tail to this model's tail and start the extra
    body blocks as identities (an ECB with zero output plus its identity branch; the ReLU after
    it passes the non-negative input unchanged), so the deeper net starts as the same function."""
    theirs = [int(k.split(".")[1]) for k in state if k.startswith("body.")]  # body.{i}.conv3...
    old_tail, new_tail = max(theirs, default=0), len(model.body) - 1
    if not theirs or old_tail >= new_tail:
        return state
    for i in range(old_tail, new_tail, 2):
        model.body[i].zero_output_()
    prefix = f"body.{old_tail}."
    return {(f"body.{new_tail}." + k[len(prefix):] if k.startswith(prefix) else k): v
            for k, v in state.items()}


def as_y_only(model: nn.Module) -> PlainSR:
    """The luma net the runtime runs, from a generator with RGB input (an older checkpoint):
    the same output on grey frames (see _y_input); a Y-only net is returned as it is."""
    if isinstance(model, PlainSR) and model.y_only:
        return model
    if not isinstance(model, PlainSR):
        raise ValueError(f"a {type(model).__name__} generator takes RGB and cannot become the luma "
                         "model the runtime runs; export a PlainSR (fast or balanced) checkpoint")
    luma_net = build_generator("", {**plain_args(model), "luma": False, "y_only": True, "conditions": 0})
    warm_start(luma_net, model.state_dict())
    return luma_net.eval()


def plain_args(model: PlainSR) -> dict:
    """The `model_args` that rebuild this (unfolded) PlainSR, as a checkpoint carries them."""
    blocks = sum(isinstance(m, ECB) for m in model.body) - 2
    return {"arch": "plain", "channels": model.body[0].cout, "blocks": blocks, "luma": model.luma,
            "y_only": model.y_only, "conditions": model.conditions}


def strip_compile_prefix(state_dict: dict) -> dict:
    """torch.compile and DDP wrap names in `_orig_mod.` / `module.`; checkpoints may carry either."""
    out = {}
    for k, v in state_dict.items():
        for prefix in ("_orig_mod.", "module."):
            while k.startswith(prefix):
                k = k[len(prefix):]
        out[k] = v
    return out


def load_checkpoint(path: str | os.PathLike, use_ema: bool = True) -> tuple[torch.nn.Module, dict]:
    """Load a training checkpoint into its generator; returns (model in eval mode, checkpoint)."""
    if not Path(path).is_file():
        raise ValueError(f"checkpoint {path} does not exist; pass a .pt file written by training/train.py")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for damaged files
        raise ValueError(f"cannot read checkpoint {path} ({type(exc).__name__}: it is damaged or "
                         "not a PyTorch file); pass a .pt file written by training/train.py") from None
    if not isinstance(ckpt, dict) or "generator" not in ckpt or "preset" not in ckpt:
        raise ValueError(f"{path} is not a vcam-sr checkpoint; pass a .pt written by training/train.py")
    model = generator_from_checkpoint(ckpt)
    state = ckpt.get("ema") if use_ema and ckpt.get("ema") else ckpt["generator"]
    model.load_state_dict(strip_compile_prefix(state))
    return model.eval(), ckpt
