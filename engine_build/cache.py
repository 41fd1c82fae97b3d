"""The engine cache: where built engines live and when one may be reused.

Engines are keyed by flavour and version, target (GPU name and compute capability, or
"portable" for a TensorRT-RTX ahead-of-time engine), ONNX hash and optimisation profile. Each
engine has a JSON sidecar holding that key and the engine's own SHA-256, so a stale, foreign
or damaged file is noticed and rebuilt, never loaded.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from platformdirs import user_cache_dir

from vcam_sr.atomic import atomic_path

log = logging.getLogger("engine_build.cache")


def cache_dir() -> Path:
    override = os.environ.get("VCAM_SR_CACHE")
    return Path(override) if override else Path(user_cache_dir("vcam-sr")) / "engines"


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@dataclass(frozen=True)
class EngineKey:
    flavour: str            # "rtx" or "tensorrt"
    version: str
    target: str             # "portable" or "<gpu name> sm<major><minor>"
    onnx_sha256: str
    profile: tuple          # ((min w, h), (opt w, h), (max w, h))

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:20]


def engine_path(key: EngineKey, stem: str, folder: Path | None = None) -> Path:
    return (folder or cache_dir()) / f"{stem}-{key.flavour}-{key.digest()}.engine"


def reason_to_rebuild(path: Path, key: EngineKey) -> str | None:
    """None when `path` holds a usable engine for `key`; otherwise why it must be (re)built."""
    meta_path = path.with_suffix(".json")
    if not path.exists():
        return "no cached engine for this model, profile and GPU"
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError):
        return "its metadata file is missing or unreadable"
    if meta.get("key") != json.loads(json.dumps(asdict(key))):
        return "it was built for another flavour, version, GPU, model or profile"
    if meta.get("engine_sha256") != sha256(path):
        return "the engine file is damaged (checksum mismatch)"
    return None


def record(path: Path, key: EngineKey, extra: dict) -> None:
    """Write the sidecar last, so an interrupted build never looks complete."""
    meta = {"key": asdict(key), "engine_sha256": sha256(path), **extra}
    with atomic_path(path.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps(meta, indent=1))


def read_metadata(path: Path) -> dict:
    return json.loads(Path(path).with_suffix(".json").read_text())
