"""Video files and stream URLs, through the one video I/O layer (vcam_sr/media/video.py): frames
come as YUV planes in their own colour space, as decoded."""
from __future__ import annotations

import logging

import numpy as np

from vcam_sr.media.colour import YuvPicture
from vcam_sr.media.video import VideoReader
from vcam_sr.sources.base import Pacer, Source

log = logging.getLogger("vcam_sr.video")


class VideoSource(Source):
    """A file (paced at its own fps when `realtime`, optionally looped) or a stream URL."""

    def __init__(self, location: str, loop: bool = False, realtime: bool = True):
        self.location, self.loop = location, loop
        self._open()
        info = self.reader.info
        self.is_stream = self.reader.is_stream
        self.width, self.height, self.fps = info.width, info.height, info.fps
        self.frame_count = info.frames
        # Files are paced to their fps in real-time mode; streams arrive at their own pace.
        self.pacer = Pacer(self.fps) if realtime and not self.is_stream else None
        log.info("%s %s: %dx%d @ %g fps, %s%s", "stream" if self.is_stream else "video file",
                 location, self.width, self.height, self.fps, info.pix_fmt, ", looping" if loop else "")

    def _open(self) -> None:
        self.reader = VideoReader(self.location, timeout_s=5)
        self._frames = self.reader.frames()

    def read(self) -> YuvPicture | np.ndarray | None:
        item = next(self._frames, None)
        if item is None and self.loop and not self.is_stream:
            self.reader.close()
            self._open()
            item = next(self._frames, None)
        if item is None:
            return None
        if self.pacer:
            self.pacer.wait()
        return item.picture

    @property
    def compressed(self) -> str:
        return self.reader.compressed

    def describe(self) -> str:
        return f"{'stream' if self.is_stream else 'video'} {self.location} {self.width}x{self.height} @ {self.fps:g} fps"

    def close(self) -> None:
        self.reader.close()
