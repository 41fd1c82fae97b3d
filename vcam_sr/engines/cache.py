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
from vcam_sr.errors import VcamError

log = logging.getLogger("vcam_sr.engines.cache")


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


def usable_folder(folder: Path | None) -> Path:
    """The cache folder, created if needed; a clear error when it cannot be."""
    folder = Path(folder) if folder else cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise VcamError(f"cannot use {folder} as the engine cache ({exc.strerror}); pass a "
                        "writable folder with --cache-dir or VCAM_SR_CACHE") from None
    if not os.access(folder, os.W_OK):
        raise VcamError(f"the engine cache {folder} is not writable; pass another with --cache-dir")
    return folder


def find_covering(folder: Path, flavour: str, version: str, target: str, onnx_sha256: str,
                  size: tuple[int, int]) -> Path | None:
    """A valid cached engine of this model, flavour and GPU whose profile covers a `size`
    (w, h) input, the one optimised nearest that size first; None when there is none."""
    found = []
    for meta_path in Path(folder).glob(f"*-{flavour}-*.json"):
        try:
            data = json.loads(meta_path.read_text())["key"]
            key = EngineKey(**{**data, "profile": tuple(map(tuple, data["profile"]))})
            (w0, h0), (w1, h1), (w2, h2) = key.profile
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not a sidecar of ours
        path = meta_path.with_suffix(".engine")
        if ((key.version, key.target, key.onnx_sha256) == (version, target, onnx_sha256)
                and w0 <= size[0] <= w2 and h0 <= size[1] <= h2 and reason_to_rebuild(path, key) is None):
            found.append((abs(w1 - size[0]) + abs(h1 - size[1]), str(path)))
    return Path(min(found)[1]) if found else None


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
