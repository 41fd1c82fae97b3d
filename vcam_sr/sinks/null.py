"""Discards frames: for benchmarks and dry runs."""
from __future__ import annotations

from vcam_sr.sinks.base import Sink


class NullSink(Sink):
    name = "null"

    def open(self, width, height, fps):
        pass

    def write(self, frame, source_frame):
        pass
