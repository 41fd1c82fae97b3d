"""The screen as a source (mss): `screen` for the primary monitor, `screen:X,Y,W,H` for a region,
such as the window of the call you receive, to upscale into a preview window or a file."""
from __future__ import annotations

import numpy as np

from vcam_sr.errors import VcamError
from vcam_sr.sources.base import Pacer, Source


def parse_region(spec: str) -> tuple[int, int, int, int] | None:
    """'screen' -> None (the primary monitor); 'screen:X,Y,W,H' -> the region."""
    if spec == "screen":
        return None
    try:
        x, y, w, h = (int(v) for v in spec.split(":", 1)[1].split(","))
    except ValueError:
        raise VcamError(f"{spec!r} is not a screen region; write screen:X,Y,WIDTH,HEIGHT, such as "
                        "screen:0,0,640,360, or just screen") from None
    if w < 16 or h < 16 or x < 0 or y < 0:
        raise VcamError(f"screen region {spec} must start at or right of 0,0 and be at least 16x16")
    return x, y, w, h


class ScreenSource(Source):
    compressed = "a call captured from the screen, through the call's codec"

    def __init__(self, spec: str, fps: float = 30, realtime: bool = True):
        import mss

        region = parse_region(spec)
        try:
            self.grabber = mss.mss()
            monitor = self.grabber.monitors[1]
        except Exception as exc:  # mss raises its own ScreenShotError, or Xlib's errors
            raise VcamError(f"the screen cannot be captured here ({exc}); screen capture needs a "
                            "desktop session (on Linux, DISPLAY set)") from None
        if region is not None:
            x, y, w, h = region
            if x + w > monitor["left"] + monitor["width"] or y + h > monitor["top"] + monitor["height"]:
                raise VcamError(f"screen region {spec} reaches past the {monitor['width']}x"
                                f"{monitor['height']} screen; choose a region inside it")
            monitor = {"left": x, "top": y, "width": w, "height": h}
        self.monitor, self.fps = monitor, fps
        self.width, self.height = monitor["width"], monitor["height"]
        self.pacer = Pacer(fps) if realtime else None

    def read(self) -> np.ndarray:
        if self.pacer:
            self.pacer.wait()
        shot = np.asarray(self.grabber.grab(self.monitor))  # BGRA
        return np.ascontiguousarray(shot[..., 2::-1])

    def describe(self) -> str:
        m = self.monitor
        return f"screen {m['width']}x{m['height']} at {m['left']},{m['top']} @ {self.fps:g} fps"

    def close(self) -> None:
        self.grabber.close()
