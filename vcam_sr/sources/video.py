"""Video files and stream URLs, decoded with PyAV (FFmpeg)."""
from __future__ import annotations

import logging

import av
import numpy as np

from engine_build.errors import VcamError
from vcam_sr.sources.base import Pacer, Source

log = logging.getLogger("vcam_sr.video")


class VideoSource(Source):
    """A file (paced at its own fps when `realtime`, optionally looped) or a stream URL."""

    def __init__(self, location: str, loop: bool = False, realtime: bool = True):
        self.location, self.loop = location, loop
        self.is_stream = "://" in location
        self._open()
        stream = self.container.streams.video[0]
        self.width, self.height = stream.codec_context.width, stream.codec_context.height
        self.fps = float(stream.average_rate or stream.guessed_rate or 30)
        self.frame_count = stream.frames or None
        self.decoded = 0
        # Files are paced to their fps in real-time mode; streams arrive at their own pace.
        self.pacer = Pacer(self.fps) if realtime and not self.is_stream else None
        log.info("%s %s: %dx%d @ %g fps%s", "stream" if self.is_stream else "video file",
                 location, self.width, self.height, self.fps, ", looping" if loop else "")

    def _open(self) -> None:
        what = "stream" if self.is_stream else "video file"
        try:
            options = {"timeout": "5000000"} if self.is_stream else {}
            self.container = av.open(self.location, options=options)
            if not self.container.streams.video:
                raise VcamError(f"{self.location} has no video stream; pass a video file, "
                                "a stream URL, a camera index or 'test'")
            self.container.streams.video[0].thread_type = "AUTO"
            self._frames = self.container.decode(video=0)
        except FileNotFoundError:
            raise VcamError(f"video file {self.location} does not exist; check the path") from None
        except av.FFmpegError as exc:
            raise VcamError(f"cannot read {what} {self.location} ({exc.strerror or exc}); "
                            "check that it is a complete, playable video") from None

    def read(self) -> np.ndarray | None:
        try:
            frame = next(self._frames, None)
            if frame is None and self.loop and not self.is_stream:
                self.container.close()
                self._open()
                frame = next(self._frames, None)
        except av.FFmpegError as exc:
            if self.is_stream:
                raise VcamError(f"stream {self.location} stopped delivering frames ({exc}); check "
                                "the sender and the network") from None
            log.warning("video %s cannot be decoded past frame %d (%s): it is damaged or "
                        "truncated", self.location, self.decoded, exc)
            frame = None
        if frame is None:
            if self.frame_count and self.decoded < self.frame_count and not self.is_stream:
                log.warning("video %s ended after %d of the %d frames it declares: it looks "
                            "truncated; only those frames are in the output", self.location,
                            self.decoded, self.frame_count)
            return None
        self.decoded += 1
        if self.pacer:
            self.pacer.wait()
        return frame.to_ndarray(format="rgb24")

    def describe(self) -> str:
        return f"{'stream' if self.is_stream else 'video'} {self.location} {self.width}x{self.height} @ {self.fps:g} fps"

    def close(self) -> None:
        self.container.close()
