"""PyTorch backend (when torch is installed): CPU fp32, or on CUDA (`torch-cuda`) fp16,
channels_last and one CUDA graph per input size, so a frame costs one graph replay. It is also
the one torch inference path of training and evaluation (an in-memory net, fp32, no graphs)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vcam_sr.models.networks import fold, load_checkpoint
from vcam_sr.errors import VcamError
from vcam_sr.upscalers.condition import FEATURES, condition_vector
from vcam_sr.upscalers.base import Upscaler


class TorchUpscaler(Upscaler):
    name = "torch"

    def __init__(self, weights: Path | torch.nn.Module, device: str = "cpu", threads: int = 0,
                 fast_cuda: bool = True):
        """`weights`: a .pt file or a generator already in memory. `fast_cuda`: on CUDA, fp16
        and CUDA graphs (the runtime); False keeps fp32 and plain calls (evaluation)."""
        if isinstance(weights, torch.nn.Module):
            model, self.weights, self.preset = weights, None, type(weights).__name__
        else:
            try:
                model, ckpt = load_checkpoint(weights)
            except ValueError as exc:
                raise VcamError(f"{exc} (or use a bundled model)") from None
            self.weights, self.preset = Path(weights), ckpt["preset"]
        if threads:
            torch.set_num_threads(threads)
        self.device = torch.device(device)
        self.cuda = self.device.type == "cuda" and fast_cuda
        if self.device.type == "cuda":
            self.name = "torch-cuda"
        self.conditioned = bool(getattr(model, "conditions", 0))
        model = fold(model).to(self.device, memory_format=torch.channels_last)
        self.model = model.half() if self.cuda else model
        self.dtype = torch.float16 if self.cuda else torch.float32
        self.graphs: dict = {}  # input shape -> (graph, static input, static output)

    def _graph(self, shape: torch.Size):
        """Capture the model for one input shape (PyTorch's documented warm-up-then-capture)."""
        static_in = torch.zeros(shape, dtype=torch.float32, device=self.device)
        static_cond = torch.zeros((1, len(FEATURES)), dtype=torch.float32, device=self.device)
        forward = lambda: self._forward(static_in, static_cond)  # noqa: E731
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                forward()
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_out = forward()
        return graph, static_in, static_cond, static_out

    def _forward(self, y: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        x = y[None, None].to(self.dtype).contiguous(memory_format=torch.channels_last)
        out = self.model(x, condition.to(self.dtype)) if self.conditioned else self.model(x)
        return out[0, 0].float()

    @torch.inference_mode()
    def upscale_y(self, y: np.ndarray, condition: np.ndarray | None = None) -> np.ndarray:
        x = torch.from_numpy(np.require(y, np.float32, requirements=["C", "W"]))
        if self.conditioned and condition is None:
            condition = condition_vector(y)[None]
        condition = torch.from_numpy(condition) if self.conditioned else torch.zeros(1, len(FEATURES))
        if not self.cuda:
            return self._forward(x.to(self.device), condition.to(self.device)).cpu().numpy()
        if x.shape not in self.graphs:
            self.graphs[x.shape] = self._graph(x.shape)
        graph, static_in, static_cond, static_out = self.graphs[x.shape]
        static_in.copy_(x, non_blocking=True)
        static_cond.copy_(condition, non_blocking=True)
        graph.replay()
        return static_out.cpu().numpy()

    def describe(self) -> str:
        extra = "fp16, channels_last, CUDA graphs" if self.cuda else f"fp32, threads {torch.get_num_threads()}"
        name = self.weights.name if self.weights else "in memory"
        return f"torch {torch.__version__}, weights {name} ({self.preset}), {self.device} {extra}"
