"""H.264 MP4 output through PyAV, written to a temporary name and renamed when complete."""
from __future__ import annotations

import fractions
import logging
import os
import time
from pathlib import Path

import av
import numpy as np

from vcam_sr.errors import VcamError
from vcam_sr.sinks.base import Sink

log = logging.getLogger("vcam_sr.file")


class FileSink(Sink):
    name = "file"

    def __init__(self, path: str | os.PathLike, crf: int = 18, wall_clock: bool = True):
        """`wall_clock`: time-stamp frames by when they arrive, so a live run that dropped frames
        still plays at true speed; otherwise frame i is at i / fps (offline conversion)."""
        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.stem}.partial{self.path.suffix or '.mp4'}")
        self.crf, self.wall_clock, self.container, self.frames = crf, wall_clock, None, 0
        self.start, self.last_pts = None, -1

    def open(self, width: int, height: int, fps: float) -> None:
        if not self.path.parent.is_dir():
            raise VcamError(f"cannot write {self.path}: folder {self.path.parent} does not exist")
        try:
            self.container = av.open(str(self.tmp), mode="w", format="mp4")
        except (av.FFmpegError, OSError) as exc:
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

    def close(self) -> None:
        if self.container is None:
            return
        self.container.mux(self.stream.encode(None))
        self.container.close()
        self.container = None
        if self.frames:
            os.replace(self.tmp, self.path)
            log.info("wrote %s (%d frames)", self.path, self.frames)
        else:
            self.tmp.unlink(missing_ok=True)

    def describe(self) -> str:
        return f"file {self.path}"
