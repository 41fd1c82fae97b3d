"""H.264 video output through PyAV, written under a unique temporary name and renamed onto the
final name only when the recording is complete, so an interrupted conversion never looks done."""
from __future__ import annotations

import fractions
import logging
import os
import time
from pathlib import Path

import av
import numpy as np

from engine_build.atomic import AtomicOutput, check_output, free_name
from engine_build.errors import VcamError
from vcam_sr.sinks.base import Sink

log = logging.getLogger("vcam_sr.file")
CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}


def check_video_output(path: Path, overwrite: bool = False) -> None:
    """Refuse, before anything runs, a video output that cannot or must not be written."""
    if path.is_dir():
        check_output(path, example="out.mp4")  # the folder sentence
    if path.suffix.lower() not in CONTAINERS:
        raise VcamError(f"the file sink writes H.264 video as {', '.join(CONTAINERS)}, not "
                        f"{path.suffix or 'a name without an extension'}; name the output like "
                        f"{path.stem if path.stem and not path.stem.startswith('.') else 'out'}.mp4")
    check_output(path, overwrite, example="out.mp4")


class FileSink(Sink):
    name = "file"

    def __init__(self, path: str | os.PathLike, crf: int = 18, wall_clock: bool = True,
                 overwrite: bool = False, keep_partial: bool = False):
        """`wall_clock`: time-stamp frames by when they arrive, so a live run that dropped frames
        still plays at true speed; otherwise frame i is at i / fps (offline conversion).
        `keep_partial`: an unfinished recording is kept as NAME.partial.EXT instead of removed."""
        self.path = Path(path).expanduser()
        check_video_output(self.path, overwrite)
        self.crf, self.wall_clock, self.keep_partial = crf, wall_clock, keep_partial
        self.container, self.frames, self.start, self.last_pts = None, 0, None, -1

    def open(self, width: int, height: int, fps: float) -> None:
        self.output = AtomicOutput(self.path)
        try:
            self.container = av.open(str(self.output.tmp), mode="w",
                                     format=CONTAINERS[self.path.suffix.lower()])
        except (av.FFmpegError, OSError) as exc:
            self.output.discard()
            raise VcamError(f"cannot write {self.path} ({exc}); choose a writable location") from None
        rate = fractions.Fraction(fps).limit_denominator(1001)
        self.stream = self.container.add_stream("libx264", rate=rate)
        self.stream.width, self.stream.height = width, height
        self.stream.pix_fmt = "yuv420p"
        self.stream.options = {"crf": str(self.crf), "preset": "veryfast"}
        self.fps = fps

    def write(self, frame: np.ndarray, source_frame: np.ndarray) -> None:
        video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        if self.wall_clock:
            now = time.monotonic()
            self.start = self.start if self.start is not None else now
            pts = max(self.last_pts + 1, round((now - self.start) * self.fps))
        else:
            pts = self.frames
        video_frame.pts = self.last_pts = pts
        self.container.mux(self.stream.encode(video_frame))
        self.frames += 1

    def close(self, complete: bool = True) -> None:
        if self.container is None:
            return
        self.container.mux(self.stream.encode(None))
        self.container.close()
        self.container = None
        if complete and self.frames:
            self.output.commit()
            log.info("wrote %s (%d frames)", self.path, self.frames)
            return
        if self.frames and self.keep_partial:  # never over an existing file, the input included
            kept = free_name(self.path.with_name(f"{self.path.stem}.partial{self.path.suffix}"))
            os.chmod(self.output.tmp, 0o644)
            os.replace(self.output.tmp, kept)
            log.warning("the output was not finished: kept %d frames as %s (not %s)", self.frames,
                        kept, self.path)
        elif self.frames:
            log.warning("the output was not finished: removed it (%d frames); %s was not written",
                        self.frames, self.path)
        self.output.discard()

    def describe(self) -> str:
        return f"file {self.path}"
