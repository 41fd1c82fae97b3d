"""Upscale whole files, as `vcam-sr upscale` and the web page do: videos with their audio and
subtitle streams copied untouched (PyAV remux) and their frame timing, rotation and colour
tags kept; still images (PNG, JPEG, WebP) into the same type. Every output is written under a
temporary name and appears only when complete; an existing file is never replaced unless asked."""
from __future__ import annotations

import fractions
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import av
import numpy as np
from PIL import Image, ImageOps
from tqdm import tqdm

from engine_build.atomic import AtomicOutput, check_output
from engine_build.errors import VcamError
from vcam_sr.sinks.file import CONTAINERS
from vcam_sr.upscalers.base import Upscaler

log = logging.getLogger("vcam_sr.upscale")
IMAGE_TYPES = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}
VIDEO_TYPES = {".mp4": ".mp4", ".m4v": ".m4v", ".mov": ".mov", ".mkv": ".mkv", ".webm": ".mkv",
               ".avi": ".mkv", ".ts": ".mkv"}  # input -> output: H.264/HEVC need mp4, mov or mkv
CODECS = {"h264": "libx264", "hevc": "libx265"}


@dataclass
class Done:
    path: Path
    frames: int
    seconds: float        # wall time spent
    media_seconds: float  # the video's duration (0 for an image)


def output_name(src: Path) -> str:
    suffix = src.suffix.lower()
    return src.stem + "_2x" + (VIDEO_TYPES.get(suffix) or suffix)


def kind(path: Path) -> str | None:
    suffix = path.suffix.lower()
    return "image" if suffix in IMAGE_TYPES else "video" if suffix in VIDEO_TYPES else None


def upscale_image(src: Path, dst: Path, upscaler: Upscaler) -> Done:
    """An image in the same format, upright (EXIF orientation applied), alpha kept by resizing."""
    start = time.monotonic()
    try:
        with Image.open(src) as im:
            im.load()
            im = ImageOps.exif_transpose(im)
            alpha = im.getchannel("A") if "A" in im.getbands() else None
            rgb = np.asarray(im.convert("RGB"))
    except (OSError, ValueError) as exc:
        raise VcamError(f"{src} is not a readable image ({exc}); pass a PNG, JPEG or WebP file") from None
    out = Image.fromarray(upscaler.upscale(rgb))
    if alpha is not None:
        out.putalpha(alpha.resize(out.size, Image.BICUBIC))
    fmt = IMAGE_TYPES[dst.suffix.lower()]
    output = AtomicOutput(dst)
    try:
        out.save(output.tmp, fmt, **({"quality": 95} if fmt in ("JPEG", "WEBP") else {}))
        output.commit()
    finally:
        output.discard()
    return Done(dst, 1, time.monotonic() - start, 0.0)


def _rotation(src: Path) -> float:
    """The first frame's display rotation (degrees counter-clockwise), 0 when none."""
    with av.open(str(src)) as container:
        for frame in container.decode(video=0):
            return float(frame.rotation or 0)
    return 0.0


def upscale_video(src: Path, dst: Path, make_upscaler: Callable[[tuple[int, int], float], Upscaler],
                  crf: int = 18, codec: str = "h264", progress: bool = True,
                  on_frame: Callable[[int, int | None], None] | None = None,
                  should_stop: Callable[[], bool] | None = None) -> Done:
    """Decode, upscale every frame with the same timestamps, encode; copy every other stream.
    `on_frame(done, total)` follows progress; `should_stop()` true abandons the file."""
    start = time.monotonic()
    try:
        container = av.open(str(src))
    except (av.FFmpegError, OSError) as exc:
        raise VcamError(f"{src} is not a readable video ({exc}); pass a complete video file") from None
    output = AtomicOutput(dst)
    frames = 0
    try:
        with container:
            if not container.streams.video:
                raise VcamError(f"{src} has no video stream; pass a video file")
            video = container.streams.video[0]
            video.thread_type = "AUTO"
            ctx = video.codec_context
            fps = float(video.average_rate or video.guessed_rate or 30)
            upscaler = make_upscaler((ctx.width, ctx.height), fps)
            with av.open(str(output.tmp), "w", format=CONTAINERS[dst.suffix.lower()]) as out:
                encoder = out.add_stream(CODECS[codec], rate=video.average_rate or fractions.Fraction(30))
                encoder.width, encoder.height, encoder.pix_fmt = ctx.width * 2, ctx.height * 2, "yuv420p"
                encoder.time_base = video.time_base
                encoder.options = {"crf": str(crf), "preset": "medium"}
                for tag in ("color_primaries", "color_trc", "colorspace", "color_range"):
                    setattr(encoder.codec_context, tag, getattr(ctx, tag))
                rotation = _rotation(src)
                if rotation:
                    encoder.set_display_rotation(rotation)
                copies = {s.index: out.add_stream_from_template(s) for s in container.streams
                          if s.type in ("audio", "subtitle")}
                with tqdm(total=video.frames or None, unit="frame", desc=src.name,
                          disable=not progress) as bar:  # closed before any message
                    for packet in container.demux(video, *[container.streams[i] for i in copies]):
                        if packet.stream.index in copies:
                            if packet.dts is not None:  # not the demuxer's empty flush packet
                                packet.stream = copies[packet.stream.index]
                                out.mux(packet)
                            continue
                        for frame in packet.decode():
                            up = av.VideoFrame.from_ndarray(upscaler.upscale(frame.to_ndarray(format="rgb24")),
                                                            format="rgb24")
                            up.pts, up.time_base = frame.pts, frame.time_base
                            out.mux(encoder.encode(up))
                            frames += 1
                            bar.update(1)
                            if on_frame:
                                on_frame(frames, video.frames or None)
                            if should_stop and should_stop():
                                raise VcamError("vcam-sr stopped while this video was being upscaled; "
                                                "start it again")
                out.mux(encoder.encode(None))
                duration = float(video.duration * video.time_base) if video.duration else frames / fps
            upscaler.close()
        output.commit()
    except av.FFmpegError as exc:
        raise VcamError(f"{src} could not be upscaled into {dst.name} ({exc}); if a stream cannot "
                        f"be copied into {dst.suffix}, try -o with an .mkv name") from None
    finally:
        output.discard()
    return Done(dst, frames, time.monotonic() - start, duration)


def plan(inputs: list[Path], output: Path | None, overwrite: bool) -> list[tuple[Path, Path]]:
    """(source, destination) for each file to do, checked before any work: a folder gives every
    video and image in it, into the output folder; files already done there are skipped."""
    if len(inputs) > 1 and output is not None and output.suffix and not output.is_dir():
        raise VcamError(f"with several inputs, -o names a folder for their outputs, and {output} looks "
                        "like a file name; give a folder, or upscale one input at a time")
    jobs = []
    for src in inputs:
        if not src.exists():
            raise VcamError(f"{src} does not exist; pass video or image files, or a folder of them")
        if src.is_dir():
            folder = output or src.parent / f"{src.name}_2x"
            if folder.exists() and not folder.is_dir():
                raise VcamError(f"{folder} is a file; -o for a folder of inputs must be a folder")
            items = sorted(p for p in src.iterdir() if p.is_file() and kind(p))
            if not items:
                raise VcamError(f"folder {src} holds no videos ({', '.join(VIDEO_TYPES)}) or images "
                                f"({', '.join(IMAGE_TYPES)}); pass a folder of them")
            folder.mkdir(parents=True, exist_ok=True)
            for item in items:
                dst = folder / output_name(item)
                if dst.exists() and not overwrite:
                    log.info("skipping %s: %s is already done", item.name, dst)
                    continue
                jobs.append((item, check_output(dst, overwrite, [item])))
            continue
        if kind(src) is None:
            raise VcamError(f"{src.name} is neither a video ({', '.join(VIDEO_TYPES)}) nor an image "
                            f"({', '.join(IMAGE_TYPES)})")
        dst = output if output is not None and len(inputs) == 1 and not output.is_dir() else \
            (output or src.parent) / output_name(src)
        same_type = (IMAGE_TYPES.get(dst.suffix.lower()) == IMAGE_TYPES[src.suffix.lower()]
                     if kind(src) == "image" else dst.suffix.lower() in CONTAINERS)
        if not same_type:
            raise VcamError(f"{dst.name} cannot hold the upscaled {src.name} (images keep their type, "
                            f"videos go into .mp4, .mov or .mkv); name the output like {output_name(src)}")
        jobs.append((src, check_output(dst, overwrite, [src])))
    return jobs
