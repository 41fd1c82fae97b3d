"""Bundled generator weights (package data), what each one is, and model-name resolution.

Each shipped .onnx describes itself in its metadata (written by engine_build/export.py):
its preset (the architecture: a rung of the speed ladder), its variant (`clean`: trained on the
literature's bicubic LR only; `robust`: also on webcam-like and call-like LR), the training
degradation mix, the training step and the commit.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from vcam_sr.errors import VcamError

MODEL_DIR = Path(__file__).resolve().parent
RUNGS = ("fast", "balanced", "quality")  # the speed ladder, cheapest first
AUTO = "auto"


@dataclass(frozen=True)
class ModelInfo:
    name: str
    path: Path
    preset: str
    variant: str  # clean or robust
    metadata: dict = field(default_factory=dict, compare=False)

    @property
    def rung(self) -> int:
        return RUNGS.index(self.preset) if self.preset in RUNGS else len(RUNGS)


def bundled(suffix: str = ".onnx") -> list[str]:
    """Model names shipped with the package, e.g. ["fast", "fast-clean"]."""
    return sorted(p.name[: -len(suffix)] for p in MODEL_DIR.glob(f"*{suffix}")
                  if not p.name.endswith(".fp16" + suffix))


def read_info(path: Path) -> ModelInfo:
    """A model file's self-description (ONNX metadata; an older file without it counts as a
    clean `fast`, which is what every model before the robust ones was)."""
    import onnxruntime as ort

    try:
        meta = dict(ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
                    .get_modelmeta().custom_metadata_map)
    except Exception as exc:  # ORT raises its own Fail/InvalidGraph/... types
        raise VcamError(f"model file {path} could not be read ({str(exc).splitlines()[0][:160]}); "
                        "re-export it with engine_build/export.py") from None
    for key in ("vcam_sr_degradation", "vcam_sr_model_args"):
        if key in meta:
            meta[key] = json.loads(meta[key])
    return ModelInfo(path.stem, path, meta.get("vcam_sr_preset", "fast"),
                     meta.get("vcam_sr_variant", "clean"), meta)


def shipped() -> list[ModelInfo]:
    """Every bundled model, cheapest rung first."""
    return sorted((read_info(MODEL_DIR / f"{n}.onnx") for n in bundled()), key=lambda m: (m.rung, m.name))


def resolve_model(model: str, suffix: str = ".onnx") -> Path:
    """A bundled model name or a file path -> an existing file."""
    path = Path(model).expanduser()
    if path.is_file():
        return path
    if path.suffix:  # looks like a path, not a model name
        raise VcamError(f"model file {model} does not exist; pass an existing {suffix} file or a "
                        f"bundled model ({', '.join(bundled(suffix)) or 'none installed'})")
    candidate = MODEL_DIR / f"{model}{suffix}"
    if not candidate.is_file():
        raise VcamError(f"no bundled model named {model!r} for this backend; choose auto, one of "
                        f"{', '.join(bundled(suffix)) or 'none'} or pass a {suffix} file path")
    return candidate
