"""Frame sources: camera index, video file, stream URL, or the built-in test pattern. In real
time, cameras and streams are wrapped so that a dropout shows a slate and reconnects instead of
ending the run (resilient.py)."""
from __future__ import annotations

from vcam_sr.errors import VcamError
from vcam_sr.sources.base import Source
from vcam_sr.sources.degrade import DegradedSource
from vcam_sr.sources.test_pattern import TestPatternSource


MAX_CAMERA = 255  # OpenCV takes a C int; no machine has more cameras than this


def open_source(spec: int | str, width: int = 640, height: int = 360, fps: float = 30,
                mjpg: bool = True, loop: bool = False, degrade: float = 1.0,
                degrade_jpeg: int | None = None, realtime: bool = True, reconnect: bool = True) -> Source:
    """`spec`: a camera index (0 or "0"), "test", "screen[:X,Y,W,H]", a video path or a URL. The first open
    must succeed (a clear error otherwise); later losses of a live source are waited for."""
    if isinstance(spec, str) and spec.strip().lstrip("-").isdigit():
        spec = int(spec)
    if isinstance(spec, int) and not 0 <= spec <= MAX_CAMERA:
        raise VcamError(f"camera index {spec} is out of range; cameras are numbered from 0 to "
                        f"{MAX_CAMERA} (try --source 0, or --source test for the test pattern)")
    live = isinstance(spec, int) or ("://" in spec and not spec.startswith("file:"))
    if isinstance(spec, int):
        from vcam_sr.sources.camera import CameraSource

        opener = lambda: CameraSource(spec, width, height, fps, mjpg)  # noqa: E731
    elif spec == "test":
        opener = lambda: TestPatternSource(width, height, fps, realtime)  # noqa: E731
    elif spec == "screen" or spec.startswith("screen:"):
        from vcam_sr.sources.screen import ScreenSource

        opener = lambda: ScreenSource(spec, fps, realtime)  # noqa: E731
    else:
        from vcam_sr.sources.video import VideoSource

        opener = lambda: VideoSource(spec, loop=loop, realtime=realtime)  # noqa: E731
    if live and realtime and reconnect:
        from vcam_sr.sources.resilient import ResilientSource

        source: Source = ResilientSource(opener)
    else:
        source = opener()
    if degrade != 1.0 or degrade_jpeg:
        source = DegradedSource(source, degrade, degrade_jpeg)
    return source


__all__ = ["Source", "open_source"]
