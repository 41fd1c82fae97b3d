"""An OpenCV preview window, optionally before (bicubic-sized source) | after."""
from __future__ import annotations

import os
import sys

import cv2
import numpy as np

from vcam_sr.errors import VcamError
from vcam_sr.media.colour import to_rgb
from vcam_sr.sinks.base import Sink


class WindowSink(Sink):
    name = "window"
    title = "vcam-sr (q to quit)"

    def __init__(self, side_by_side: bool = False):
        self.side_by_side = side_by_side
        self._stop = False

    def open(self, width, height, fps):
        if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or
                                                     os.environ.get("WAYLAND_DISPLAY")):
            raise VcamError("the window sink needs a display and none is set (DISPLAY is empty); "
                            "run it on a desktop or use --sink virtualcam/file:PATH/null")
        cv2.namedWindow(self.title, cv2.WINDOW_NORMAL)

    def write(self, frame, source_frame) -> None:
        frame, source_frame = to_rgb(frame), to_rgb(source_frame)
        view = frame
        if self.side_by_side:
            h, w = frame.shape[:2]
            before = cv2.resize(source_frame, (w, h), interpolation=cv2.INTER_NEAREST)
            view = np.concatenate([before, frame], axis=1)
        cv2.imshow(self.title, cv2.cvtColor(view, cv2.COLOR_RGB2BGR))
        if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
            self._stop = True

    @property
    def wants_stop(self) -> bool:
        return self._stop

    def close(self, complete: bool = True) -> None:
        cv2.destroyWindow(self.title)
