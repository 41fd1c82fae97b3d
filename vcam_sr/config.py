"""Runtime options: defaults, YAML loading, CLI overrides and validation (pydantic).

config.yaml at the repository root documents every key; a test keeps it equal to these defaults.
"""
from __future__ import annotations

import argparse
import stat
from pathlib import Path
from typing import Literal, Optional, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from vcam_sr.errors import VcamError


WIDTHS, HEIGHTS = (16, 7680), (16, 4320)  # frame sizes accepted anywhere
MAX_THREADS = 256  # each inference thread costs memory: 100,000 once took 16 GB


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CameraOptions(_Section):
    width: int = Field(640, ge=WIDTHS[0], le=WIDTHS[1])
    height: int = Field(360, ge=HEIGHTS[0], le=HEIGHTS[1])
    fps: float = Field(30, gt=0, le=240)
    mjpg: bool = True


class VirtualCamOptions(_Section):
    backend: Optional[str] = None
    device: Optional[str] = None


class WindowOptions(_Section):
    side_by_side: bool = False


class Config(_Section):
    source: Union[int, str] = 0
    loop: bool = False
    reconnect: bool = True
    camera: CameraOptions = CameraOptions()
    degrade: float = Field(1.0, ge=0.05, le=1.0)
    degrade_jpeg: Optional[int] = Field(None, ge=1, le=100)
    backend: Literal["auto", "tensorrt", "onnxruntime", "openvino", "torch", "bicubic"] = "auto"
    model: str = "auto"
    threads: int = Field(0, ge=0, le=MAX_THREADS)
    sinks: list[str] = Field(["virtualcam"], min_length=1)
    virtualcam: VirtualCamOptions = VirtualCamOptions()
    window: WindowOptions = WindowOptions()
    max_fps: Optional[float] = Field(None, gt=0, le=240)
    frames: Optional[int] = Field(None, ge=1)
    overwrite: bool = False
    keep_partial: bool = False
    stats: bool = False
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    @field_validator("sinks", mode="before")
    @classmethod
    def _bare_null_is_the_null_sink(cls, value):
        """YAML reads `sinks: [null]` as [None]; the user means the null sink."""
        return ["null" if v is None else v for v in value] if isinstance(value, list) else value

    @field_validator("source")
    @classmethod
    def _source_is_named(cls, value):
        if isinstance(value, str) and not value.strip():
            raise ValueError("the source is empty: give a camera index, 'test', 'screen', a video "
                             "file or a stream URL")
        return value


def parse_size(text: str) -> tuple[int, int]:
    """'320x180' -> (320, 180): a frame size within the camera limits, or one clear error."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise VcamError(f"expected WIDTHxHEIGHT such as 640x360, not {text!r}") from None
    if not (WIDTHS[0] <= w <= WIDTHS[1] and HEIGHTS[0] <= h <= HEIGHTS[1]):
        raise VcamError(f"{text} is out of range; width {WIDTHS[0]}-{WIDTHS[1]} and height "
                        f"{HEIGHTS[0]}-{HEIGHTS[1]}")
    return w, h


def bounded_int(low: int, high: int, low_means: str | None = None):
    """argparse type: a whole number from `low` to `high` (argparse names the flag);
    `low_means` says what the lowest value stands for, such as 'all physical cores'."""
    lowest = f"{low} ({low_means})" if low_means else str(low)

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"takes a whole number from {lowest} to {high}, not {text}")
        return value
    return parse


thread_count = bounded_int(0, MAX_THREADS, "all physical cores")  # argparse type for --threads


def yaml_problem(exc: yaml.YAMLError) -> str:
    """Where and what a YAML syntax error is, in one line ('line 2, column 1: expected ...')."""
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    return where + (getattr(exc, "problem", None) or str(exc).splitlines()[0])


def _explain(exc: ValidationError, origin: str) -> VcamError:
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err["loc"])
    msg = err["msg"].removeprefix("Value error, ")  # pydantic's prefix for a validator's ValueError
    msg = msg[0].lower() + msg[1:]
    return VcamError(f"invalid {origin} value {err.get('input')!r} for '{key}': {msg}; "
                     "see config.yaml for the accepted values")


MAX_CONFIG_BYTES = 1 << 20  # config.yaml is 3 kB; a larger file is not a config


def _check_config_file(path: Path) -> None:
    """A pipe or a device would block or never end (and is then deaf to Ctrl-C): only a
    regular file of a sensible size is read."""
    info = path.stat()  # FileNotFoundError and the rest are explained by the caller
    if stat.S_ISDIR(info.st_mode):
        raise IsADirectoryError(path)
    if not stat.S_ISREG(info.st_mode):
        raise VcamError(f"config file {path} is not a regular file (a pipe or a device); pass a YAML "
                        "file such as config.yaml")
    if info.st_size > MAX_CONFIG_BYTES:
        raise VcamError(f"config file {path} is {info.st_size / 2**20:.0f} MB, too large for a config; "
                        "pass a YAML file such as config.yaml")


def load_config(path: str | Path | None = None, overrides: dict | None = None) -> Config:
    """Defaults, then the YAML file at `path`, then `overrides` (CLI flags), validated."""
    data: dict = {}
    if path is not None:
        try:
            _check_config_file(Path(path))
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            raise VcamError(f"config file {path} does not exist; pass an existing file to --config") from None
        except IsADirectoryError:
            raise VcamError(f"config file {path} is a folder; pass a YAML file such as config.yaml") from None
        except UnicodeDecodeError:
            raise VcamError(f"config file {path} is not text; pass a YAML file such as config.yaml") from None
        except OSError as exc:
            raise VcamError(f"config file {path} cannot be read ({exc.strerror}); check its permissions") from None
        except yaml.YAMLError as exc:
            raise VcamError(f"config file {path} is not valid YAML ({yaml_problem(exc)}); fix its "
                            "syntax") from None
        if not isinstance(data, dict):
            raise VcamError(f"config file {path} must hold a mapping of option: value")
    try:
        Config.model_validate(data)
    except ValidationError as exc:
        raise _explain(exc, f"config file {path}") from None
    for key, value in (overrides or {}).items():
        section, _, name = key.partition(".")
        if name:
            data.setdefault(section, {})[name] = value
        else:
            data[key] = value
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise _explain(exc, "command-line") from None
