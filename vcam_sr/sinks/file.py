"""H.264 video output through the one video I/O layer (vcam_sr/media/video.py), in the source's
own colour space, written under a unique temporary name and given the final name only when the
recording is complete, so an interrupted conversion never looks done."""
from __future__ import annotations

import fractions
import logging
import os
import time
from pathlib import Path

import numpy as np

from vcam_sr.atomic import AtomicOutput, check_output, free_name, remove_stale_partials, write_error
from vcam_sr.errors import VcamError
from vcam_sr.media.colour import ColourSpace, YuvPicture
from vcam_sr.media.frames import guessed_matrix
from vcam_sr.media.video import CONTAINERS, VideoWriter
from vcam_sr.sinks.base import Sink

log = logging.getLogger("vcam_sr.file")


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
        self.crf, self.wall_clock, self.keep_partial, self.overwrite = crf, wall_clock, keep_partial, overwrite
        self.container, self.output, self.frames, self.start = None, None, 0, None

    def open(self, width: int, height: int, fps: float) -> None:
        for stale in remove_stale_partials(self.path.parent):
            log.info("removed %s, left behind by a recording that was killed", stale.name)
        self.output = AtomicOutput(self.path)
        self.size, self.fps = (width, height), fps

    @property
    def yuv_space(self) -> ColourSpace:
        """What the writer makes of RGB frames: 8-bit 4:2:0 in the matrix players assume."""
        return ColourSpace(guessed_matrix(self.size[1]))

    def _writer(self, first: YuvPicture | np.ndarray) -> VideoWriter:
        """Opened on the first frame: a YUV source's colour space and chroma layout are kept."""
        yuv = isinstance(first, YuvPicture)
        time_base = fractions.Fraction(1, 1000) if self.wall_clock else None
        try:
            return VideoWriter(self.output.tmp, CONTAINERS[self.path.suffix.lower()], *self.size, self.fps,
                               crf=self.crf, preset="veryfast" if self.wall_clock else "medium",
                               space=first.space if yuv else None,
                               subsampling=first.subsampling if yuv and first.u is not None else (2, 2),
                               time_base=time_base)
        except VcamError:
            self.output.discard()
            raise

    def write(self, frame: YuvPicture | np.ndarray, source_frame) -> None:
        if self.container is None:
            self.container = self._writer(frame)
        try:
            if self.wall_clock:  # milliseconds since the first frame: dropped frames keep true speed
                now = time.monotonic()
                self.start = self.start if self.start is not None else now
                self.container.write(frame, round((now - self.start) * 1000))
            else:
                self.container.write(frame)
        except OSError as exc:  # av's errors with an errno (a full disk) are OSErrors too
            raise self._failed(exc) from None
        self.frames += 1

    def _failed(self, exc: OSError):
        """Throw the unfinished recording away (a full disk must not stay full): the error to raise."""
        if self.container is not None:
            self.container.abandon()
            self.container = None
        self.output.discard()
        self.frames = 0
        return write_error(exc, self.path)

    def close(self, complete: bool = True) -> None:
        if self.container is None:
            if getattr(self, "output", None) is not None:
                self.output.discard()
            return
        try:
            self.container.close()
        except OSError as exc:
            raise self._failed(exc) from None
        self.container = None
        if complete and self.frames:
            final = self.output.commit(self.overwrite)
            if final != self.path:
                log.warning("%s appeared while this ran; it was left alone and this recording is %s",
                            self.path, final.name)
            log.info("wrote %s (%d frames)", final, self.frames)
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
