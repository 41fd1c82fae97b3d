"""PyTorch backend (when torch is installed): CPU fp32, or CUDA fp16 channels_last."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from engine_build.networks import build_generator, fold, strip_compile_prefix
from vcam_sr.errors import VcamError
from vcam_sr.upscalers.base import Upscaler


class TorchUpscaler(Upscaler):
    name = "torch"

    def __init__(self, weights: Path, device: str = "cpu", threads: int = 0):
        try:
            ckpt = torch.load(weights, map_location="cpu", weights_only=False)
            state = ckpt.get("ema") or ckpt["generator"]
            model = build_generator(ckpt["preset"])
            model.load_state_dict(strip_compile_prefix(state))
        except Exception as exc:
            raise VcamError(f"weights file {weights} could not be loaded ({type(exc).__name__}); "
                            "pass a .pt written by training/train.py or a bundled preset") from None
        if threads:
            torch.set_num_threads(threads)
        self.device = torch.device(device)
        self.half = self.device.type == "cuda"
        model = fold(model).to(self.device, memory_format=torch.channels_last)
        self.model = model.half() if self.half else model
        self.weights, self.preset = Path(weights), ckpt["preset"]

    @torch.inference_mode()
    def upscale(self, frame: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(frame)).to(self.device)
        x = x.permute(2, 0, 1)[None].to(torch.float16 if self.half else torch.float32).div_(255)
        y = self.model(x.contiguous(memory_format=torch.channels_last))
        y = y[0].clamp_(0, 1).mul_(255).round_().to(torch.uint8).permute(1, 2, 0)
        return y.cpu().numpy()

    def describe(self) -> str:
        dtype = "fp16" if self.half else "fp32"
        return (f"torch {torch.__version__}, weights {self.weights.name} ({self.preset}), "
                f"device {self.device} {dtype}, threads {torch.get_num_threads()}")
