"""Frame sinks: virtualcam, window, file:PATH, null. Several can run at once."""
from __future__ import annotations

from vcam_sr.errors import VcamError
from vcam_sr.locations import local_file
from vcam_sr.sinks.base import Sink
from vcam_sr.sinks.null import NullSink

SINK_NAMES = "virtualcam, window, file:PATH, null"


def open_sink(spec: str, virtualcam_backend: str | None = None, virtualcam_device: str | None = None,
              side_by_side: bool = False, realtime: bool = True, overwrite: bool = False,
              keep_partial: bool = False) -> Sink:
    """A sink from its command-line spelling (not yet opened; a file's name is checked now)."""
    if spec == "virtualcam":
        from vcam_sr.sinks.virtualcam import VirtualCamSink

        return VirtualCamSink(virtualcam_backend, virtualcam_device)
    if spec == "window":
        from vcam_sr.sinks.window import WindowSink

        return WindowSink(side_by_side)
    if spec.startswith("file:") and len(spec) > 5:
        from vcam_sr.sinks.file import FileSink

        return FileSink(local_file(spec), wall_clock=realtime, overwrite=overwrite,
                        keep_partial=keep_partial)
    if spec == "null":
        return NullSink()
    raise VcamError(f"unknown sink {spec!r}; choose from {SINK_NAMES}")


__all__ = ["Sink", "open_sink"]
