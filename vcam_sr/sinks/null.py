"""Discards frames: for benchmarks and dry runs."""
from __future__ import annotations

from vcam_sr.sinks.base import Sink
from vcam_sr.sinks.virtualcam import CAMERA_SPACE


class NullSink(Sink):
    """It stands in for the virtual camera in dry runs and benchmarks, so it takes its frames."""

    name = "null"
    yuv_space = CAMERA_SPACE

    def open(self, width, height, fps):
        pass

    def write(self, frame, source_frame):
        pass
