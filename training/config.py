"""The training configuration: YAML files in training/configs/, checked by pydantic (as the
runtime's config.yaml is), with `--set section.key=value` overrides from the command line."""
from __future__ import annotations

import re
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from vcam_sr.models.networks import PRESETS
from training.degradations import parse_mix
from vcam_sr.config import yaml_problem


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _no_booleans(cls, value):
        """No setting here is true/false, and pydantic would read `true` as the number 1."""
        if isinstance(value, bool):
            raise ValueError("must be a number or a name, not true or false")
        return value


class Data(Section):
    train: str = "../shared/data/train"       # folders of images and/or clips, searched recursively
    exclude: list[str] = []                   # file names under `train` left out (a held-out split)
    val: str = "../shared/data/val"           # holds SET/HR and SET/LR_x2
    val_sets: list[str] = []                  # scored every train.val_every steps
    val_clips: str | list[str] | None = None  # a folder of clips, or clip files, scored under val_conditions
    val_conditions: list[Literal["clean", "webcam", "call"]] = ["webcam", "call"]
    val_clip_frames: int = Field(12, ge=2)
    frames_per_video: int = Field(16, ge=1)
    lr_patch: int = Field(64, ge=8)
    context: int = Field(8, ge=0)             # LR pixels around each crop that the degradation sees
    bank: int = Field(0, ge=0)                # > 0: crops made up front on every core (GPU runs)
    batch: int = Field(32, ge=1)              # global batch, split across DDP processes
    degradation: dict[str, float] = {"clean": 1.0}
    scales: list[float] = [1.0]

    @field_validator("degradation")
    @classmethod
    def _mix(cls, value):
        parse_mix(value)
        return value

    @field_validator("scales")
    @classmethod
    def _scales(cls, value):
        if not value or not all(0 < s <= 1 for s in value):
            raise ValueError("data.scales must be a list of factors in (0, 1], such as [1.0, 0.5]")
        return value


class Train(Section):
    steps: int = Field(ge=1)
    lr: float = Field(5e-4, gt=0)             # peak Adam learning rate (cosine decay to min_lr)
    min_lr: float = Field(1e-6, ge=0)
    warmup: int = Field(100, ge=0)
    pixel_loss: Literal["l1", "charbonnier", "l2"] = "l2"
    init_from: str | None = None              # a .pt to warm-start from, or null
    ema: float = Field(0.999, ge=0, lt=1)
    log_every: int = Field(50, ge=1)
    val_every: int = Field(1000, ge=1)
    ckpt_every: int = Field(250, ge=1)


class TrainConfig(Section):
    preset: str
    seed: int = 0
    data: Data
    train: Train

    @field_validator("preset")
    @classmethod
    def _preset(cls, value):
        if value not in PRESETS:
            raise ValueError(f"must be one of {', '.join(PRESETS)}")
        return value


class ConfigLoader(yaml.SafeLoader):
    """YAML with `2e-4` and `1e5` read as floats: YAML 1.1 wants a dot and a signed exponent
    (`2.0e-4`) and otherwise returns a string."""


ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"))


def load_config(path: str, overrides: list[str] = ()) -> TrainConfig:
    """The YAML file at `path` with `key=value` / `section.key=value` overrides, validated;
    ValueError with one sentence otherwise."""
    try:
        with open(path) as f:
            raw = yaml.load(f, Loader=ConfigLoader)
    except OSError as exc:
        raise ValueError(f"cannot read config {path} ({exc.strerror}); pass a YAML file such as "
                         "training/configs/fast.yaml") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"config {path} is not valid YAML ({yaml_problem(exc)}); fix its syntax") from None
    if not isinstance(raw, dict):
        raise ValueError(f"config {path} needs preset, data and train; start from training/configs/fast.yaml")
    for item in overrides:
        key, sep, value = item.partition("=")
        *sections, name = key.split(".")
        node = raw
        for section in sections:
            node = node.get(section) if isinstance(node, dict) else None
        if not sep or not isinstance(node, dict) or name not in node:
            raise ValueError(f"unknown config key {key!r} in --set {item!r}")
        new = yaml.load(value, Loader=ConfigLoader)
        if isinstance(node[name], dict) and not isinstance(new, dict):
            raise ValueError(f"{key!r} is a section; set one of its keys, such as {key}."
                             f"{next(iter(node[name]), 'KEY')}=... (in --set {item!r})")
        node[name] = new
    try:
        return TrainConfig.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        raise ValueError(f"config {path}: {key} {msg[0].lower() + msg[1:]} (got {err.get('input')!r})") from None
