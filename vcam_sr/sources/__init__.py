"""Frame sources: camera index, video file, stream URL, or the built-in test pattern."""
from __future__ import annotations

from engine_build.errors import VcamError
from vcam_sr.sources.base import Source
from vcam_sr.sources.degrade import DegradedSource
from vcam_sr.sources.test_pattern import TestPatternSource


MAX_CAMERA = 255  # OpenCV takes a C int; no machine has more cameras than this


def open_source(spec: int | str, width: int = 640, height: int = 360, fps: float = 30,
                mjpg: bool = True, loop: bool = False, degrade: float = 1.0,
                degrade_jpeg: int | None = None, realtime: bool = True) -> Source:
    """`spec`: a camera index (0 or "0"), "test", a video path or a stream URL."""
    if isinstance(spec, str) and spec.strip().lstrip("-").isdigit():
        spec = int(spec)
    if isinstance(spec, int) and not 0 <= spec <= MAX_CAMERA:
        raise VcamError(f"camera index {spec} is out of range; cameras are numbered from 0 to "
                        f"{MAX_CAMERA} (try --source 0, or --source test for the test pattern)")
    if isinstance(spec, int):
        from vcam_sr.sources.camera import CameraSource

        source: Source = CameraSource(spec, width, height, fps, mjpg)
    elif spec == "test":
        source = TestPatternSource(width, height, fps, realtime)
    else:
        from vcam_sr.sources.video import VideoSource

        source = VideoSource(spec, loop=loop, realtime=realtime)
    if degrade != 1.0 or degrade_jpeg:
        source = DegradedSource(source, degrade, degrade_jpeg)
    return source


__all__ = ["Source", "open_source"]
