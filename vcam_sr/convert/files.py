"""Upscale whole files, as `vcam-sr upscale` and the web page do, through the one video I/O
layer (vcam_sr/media): videos with their audio, subtitles and cover pictures copied untouched,
their frame timing, colours (matrix, range, depth), aspect, rotation and stream tags kept; still
images in their own type, depth and colour profile. Every output is written under a temporary
name and appears only when complete; an existing file is never replaced unless asked."""
from __future__ import annotations

import errno
import logging
import os
import re
import stat
import time
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm import tqdm

from vcam_sr.atomic import (AtomicOutput, check_name_length, check_output, gone_error, remove_stale_partials,
                            same_file, write_error)
from vcam_sr.errors import VcamError
from vcam_sr.media.colour import YuvPicture, luma, normalized_luma
from vcam_sr.media.images import TYPES as IMAGE_TYPES
from vcam_sr.media.images import check_fits, read_still, save_image, upscaled_image
from vcam_sr.media.video import CONTAINERS, ENCODERS as CODECS, VideoFrame, VideoReader, VideoWriter
from vcam_sr.upscalers.base import Upscaler

log = logging.getLogger("vcam_sr.convert.files")
SAMPLE = 8  # first frames of a video that auto decides its model on
VIDEO_TYPES = {".mp4": ".mp4", ".m4v": ".m4v", ".mov": ".mov", ".mkv": ".mkv", ".webm": ".mkv",
               ".avi": ".mkv", ".ts": ".mkv"}  # input -> output: H.264/HEVC need mp4, mov or mkv


@dataclass
class Done:
    path: Path
    frames: int
    seconds: float        # wall time spent
    media_seconds: float  # the video's duration (0 for an image)
    warning: str | None = None  # what was wrong with the input, if only part of it was used


def output_name(src: Path) -> str:
    suffix = src.suffix.lower()
    return src.stem + "_2x" + (VIDEO_TYPES.get(suffix) or suffix)


def kind(path: Path) -> str | None:
    suffix = path.suffix.lower()
    return "image" if suffix in IMAGE_TYPES else "video" if suffix in VIDEO_TYPES else None


def luma_of(picture: YuvPicture | np.ndarray) -> np.ndarray:
    return normalized_luma(picture) if isinstance(picture, YuvPicture) else luma(picture)


def _commit(output: AtomicOutput, dst: Path, overwrite: bool) -> Path:
    final = output.commit(overwrite)
    if final != dst:
        log.warning("%s appeared while this ran (another program?); it was left alone and this "
                    "result is %s", dst, final.name)
    return final


def upscale_image(src: Path, dst: Path, upscaler: Upscaler, overwrite: bool = False) -> Done:
    """An image in the same format, upright, alpha and ICC profile kept, 16-bit stays 16-bit."""
    start = time.monotonic()
    still = read_still(src)
    check_fits((2 * still.size[0], 2 * still.size[1]), IMAGE_TYPES[dst.suffix.lower()], src.name)
    upscaler.new_stream()
    upscaler.plan([still.grey if still.grey is not None else luma(still.rgb)])
    if still.grey is not None:
        image = upscaled_image(still, None, upscaler.upscale_luma(still.grey))
    else:
        image = upscaled_image(still, upscaler.upscale(still.rgb), None)
    output = AtomicOutput(dst)
    try:
        save_image(image, output.tmp, IMAGE_TYPES[dst.suffix.lower()], still)
        final = _commit(output, dst, overwrite)
    except OSError as exc:
        raise write_error(exc, dst) from None
    except ValueError as exc:  # the encoder refused the picture
        raise VcamError(f"{dst.name} could not be encoded ({exc}); try a PNG output") from None
    finally:
        output.discard()
    return Done(final, 1, time.monotonic() - start, 0.0)


def upscale_video(src: Path, dst: Path, make_upscaler: Callable[[tuple[int, int], float], Upscaler],
                  crf: int = 18, codec: str = "h264", progress: bool = True,
                  on_frame: Callable[[int, int | None], None] | None = None,
                  should_stop: Callable[[], bool] | None = None, overwrite: bool = False) -> Done:
    """Decode, upscale every frame with its own timestamp, encode in the source's colour space;
    copy every audio and subtitle stream. `on_frame(done, total)` follows progress;
    `should_stop()` true abandons the file."""
    import av

    start = time.monotonic()
    output = AtomicOutput(dst)
    try:
        with VideoReader(src) as reader:
            info, copy = reader.info, reader.streams_to_copy()
            items = reader.items(copy)
            head = []  # the first frames: their colour space is kept, auto decides on them
            for item in items:
                head.append(item)
                if sum(isinstance(i, VideoFrame) for i in head) == SAMPLE:
                    break
            pictures = [i.picture for i in head if isinstance(i, VideoFrame)]
            if not pictures:
                raise VcamError(f"no frame of {src.name} could be decoded; check that the video plays")
            first = pictures[0]
            space = first.space if isinstance(first, YuvPicture) else None
            subsampling = first.subsampling if isinstance(first, YuvPicture) and first.u is not None else (2, 2)
            total = info.frames or (round(info.duration * info.fps) if info.duration else None)
            with make_upscaler((info.width, info.height), info.fps) as upscaler:
                upscaler.new_stream(reader.compressed)
                upscaler.plan([luma_of(p) for p in pictures])
                writer = VideoWriter(
                    output.tmp, CONTAINERS[dst.suffix.lower()], info.width * 2, info.height * 2, info.fps,
                    codec=codec, crf=crf, space=space, subsampling=subsampling, tags=info.tags,
                    time_base=info.time_base, sample_aspect_ratio=info.sample_aspect_ratio,
                    rotation=reader.rotation(), metadata=info.metadata, copy=copy,
                    container_metadata=dict(reader.container.metadata), chapters=reader.container.chapters(),
                    attachments=[s for s in reader.container.streams if s.type == "attachment"],
                    covers=reader.covers(),
                    hdr=reader.hdr)
                try:
                    first_pts = last_pts = None
                    with tqdm(total=total, unit="frame", desc=src.name, disable=not progress) as bar:
                        for item in chain(head, items):
                            if not isinstance(item, VideoFrame):
                                writer.copy(item)
                                continue
                            writer.write(upscaler.upscale(item.picture), item.pts, item.time_base)
                            if item.pts is not None:
                                first_pts = item.pts if first_pts is None else first_pts
                                last_pts = item.pts
                            bar.update(1)
                            if on_frame:
                                on_frame(writer.frames, total)
                            if should_stop and should_stop():
                                raise VcamError("this upscale was stopped before the end; its output "
                                                "was not written")
                    writer.close()
                finally:
                    writer.abandon()
            frames = writer.frames
            shown = (last_pts - first_pts) * info.time_base if first_pts is not None and last_pts != first_pts else 0
            media = float(shown) + 1 / info.fps if shown else frames / info.fps
            damage = reader.damage
        final = _commit(output, dst, overwrite)
    except av.FFmpegError as exc:
        if not dst.parent.is_dir():
            raise gone_error(dst) from None
        if exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS, errno.EIO):
            raise write_error(exc, dst) from None
        raise VcamError(f"{src} could not be upscaled into {dst.name} ({exc}); if a stream cannot "
                        f"be copied into {dst.suffix}, try -o with an .mkv name") from None
    except OSError as exc:
        raise write_error(exc, dst) from None
    finally:
        output.discard()
    return Done(final, frames, time.monotonic() - start, media, damage)


def _output_pattern(src: Path) -> re.Pattern:
    """Every name this tool gives the output of `src`: a_2x.png, named apart (a-png_2x.png), or
    beside a file that was there first (a_2x-2.png)."""
    stem, suffix = re.escape(src.stem), re.escape(src.suffix.lstrip(".").lower())
    out = re.escape(Path(output_name(src)).suffix)
    return re.compile(f"{stem}(-{suffix})?_2x(-[0-9]+)?{out}", re.IGNORECASE)


def _folder_items(src: Path) -> list[Path]:
    """The videos and images in a folder, less the ones that are this tool's own outputs of
    others there (a_2x.png beside a.png), so a folder upscaled into itself is not done twice."""
    try:
        named = sorted(p for p in src.iterdir() if not p.name.startswith(".") and kind(p))
    except OSError as exc:
        raise VcamError(f"folder {src} cannot be read ({exc.strerror or exc}); check its permissions") from None
    items = [p for p in named if p.is_file()]
    for broken in (p for p in named if p.is_symlink() and not p.exists()):
        log.warning("skipping %s: a link to %s, which does not exist", broken.name, os.readlink(broken))
    patterns = [_output_pattern(p) for p in items]
    return [p for p in items if not any(pat.fullmatch(p.name) for pat in patterns)]


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise VcamError(f"cannot create the output folder {folder} ({exc.strerror or exc}); give -o a "
                        "folder that can be written") from None


def _input_mode(src: Path) -> int:
    """The input's file type (stat's st_mode), or the sentence for one that cannot be used."""
    try:
        return src.stat().st_mode
    except FileNotFoundError:
        raise VcamError(f"{src} does not exist; pass video or image files, or a folder of them") from None
    except OSError as exc:  # a name too long, a loop of links, a folder that cannot be searched
        raise VcamError(f"{src} cannot be read ({exc.strerror or exc}); check the path") from None


def plan(inputs: list[Path], output: Path | None, overwrite: bool) -> list[tuple[Path, Path]]:
    """(source, destination) for each file to do, checked before any work: a folder gives every
    video and image in it, into the output folder; files already done there are skipped. Two
    inputs that would write the same output are named apart (clip.avi and clip.mkv become
    clip-avi_2x.mkv and clip-mkv_2x.mkv) or, when even that cannot tell them apart, refused."""
    if len(inputs) > 1 and output is not None and output.suffix and not output.is_dir():
        raise VcamError(f"with several inputs, -o names a folder for their outputs, and {output} looks "
                        "like a file name; give a folder, or upscale one input at a time")
    wanted: list[tuple[Path, Path, bool]] = []  # (source, destination, from a folder)
    for src in inputs:
        mode = _input_mode(src)
        if stat.S_ISDIR(mode):
            folder = output or src.parent / f"{src.name}_2x"
            if folder.exists() and not folder.is_dir():
                raise VcamError(f"{folder} is a file; -o for a folder of inputs must be a folder")
            items = _folder_items(src)
            if not items:
                raise VcamError(f"folder {src} holds no videos ({', '.join(VIDEO_TYPES)}) or images "
                                f"({', '.join(IMAGE_TYPES)}); pass a folder of them")
            wanted += [(item, folder / output_name(item), True) for item in items]
            continue
        if kind(src) is None:
            raise VcamError(f"{src.name} is neither a video ({', '.join(VIDEO_TYPES)}) nor an image "
                            f"({', '.join(IMAGE_TYPES)})")
        if not stat.S_ISREG(mode):  # a pipe or a device would block, or never end
            raise VcamError(f"{src} is not a regular file (a pipe or a device); save the video or image "
                            "to a file and upscale that")
        dst = output if output is not None and len(inputs) == 1 and not output.is_dir() else \
            (output or src.parent) / output_name(src)
        same_type = (IMAGE_TYPES.get(dst.suffix.lower()) == IMAGE_TYPES[src.suffix.lower()]
                     if kind(src) == "image" else dst.suffix.lower() in CONTAINERS)
        if not same_type:
            raise VcamError(f"{dst.name} cannot hold the upscaled {src.name} (images keep their type, "
                            f"videos go into .mp4, .mov or .mkv); name the output like {output_name(src)}")
        wanted.append((src, dst, False))
    wanted = _apart(_distinct_pairs(wanted))
    jobs = []
    for src, dst, from_folder in wanted:
        if from_folder:
            check_name_length(dst)
            _make_folder(dst.parent)
            if dst.exists() and not overwrite:
                log.info("skipping %s: %s is already done", src.name, dst)
                continue
        jobs.append((src, check_output(dst, overwrite, [s for s, _, _ in wanted])))
    for folder in {dst.parent for _, dst in jobs}:
        for stale in remove_stale_partials(folder):
            log.info("removed %s, left behind by an upscale that was killed", stale.name)
    return jobs


def _distinct_pairs(wanted: list[tuple[Path, Path, bool]]) -> list[tuple[Path, Path, bool]]:
    """One job per input file, though it was given twice (by name, by a link, alone and in
    its folder)."""
    kept: list[tuple[Path, Path, bool]] = []
    for item in wanted:
        if not any(same_file(item[0], other[0]) for other in kept):
            kept.append(item)
    return kept


def _apart(wanted: list[tuple[Path, Path, bool]]) -> list[tuple[Path, Path, bool]]:
    """Name apart the inputs that would share an output (their extension joins the name)."""
    def key(dst: Path) -> str:
        return str(dst.resolve()).casefold()  # case-insensitive file systems collide too

    counts: dict[str, int] = {}
    for _, dst, _ in wanted:
        counts[key(dst)] = counts.get(key(dst), 0) + 1
    renamed = [(src, dst.with_name(f"{src.stem}-{src.suffix.lstrip('.').lower()}_2x{dst.suffix}")
                if counts[key(dst)] > 1 else dst, folder) for src, dst, folder in wanted]
    seen: dict[str, Path] = {}
    for src, dst, _ in renamed:
        if key(dst) in seen:
            raise VcamError(f"{seen[key(dst)]} and {src} would both be written to {dst}; upscale them "
                            "into different -o folders")
        seen[key(dst)] = src
    return renamed


__all__ = ["CODECS", "Done", "kind", "output_name", "plan", "upscale_image", "upscale_video"]
