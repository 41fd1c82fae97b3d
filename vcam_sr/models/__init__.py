"""Bundled generator weights (package data) and model-name resolution."""
from __future__ import annotations

from pathlib import Path

from vcam_sr.errors import VcamError

MODEL_DIR = Path(__file__).resolve().parent


def bundled(suffix: str = ".onnx") -> list[str]:
    """Preset names shipped with the package, e.g. ["fast"]."""
    return sorted(p.name[: -len(suffix)] for p in MODEL_DIR.glob(f"*{suffix}")
                  if not p.name.endswith(".fp16" + suffix))


def resolve_model(model: str, suffix: str = ".onnx") -> Path:
    """A bundled preset name or a file path -> an existing file."""
    path = Path(model).expanduser()
    if path.is_file():
        return path
    if path.suffix:  # looks like a path, not a preset name
        raise VcamError(f"model file {model} does not exist; pass an existing {suffix} file or a "
                        f"bundled preset ({', '.join(bundled(suffix)) or 'none installed'})")
    candidate = MODEL_DIR / f"{model}{suffix}"
    if not candidate.is_file():
        raise VcamError(f"no bundled model named {model!r} for this backend; choose one of "
                        f"{', '.join(bundled(suffix)) or 'none'} or pass a {suffix} file path")
    return candidate
