"""A real camera through OpenCV: asks for MJPG at the configured mode, logs what it got."""
from __future__ import annotations

import logging
import sys

import cv2
import numpy as np

from vcam_sr.errors import VcamError
from vcam_sr.instance import InstanceLock
from vcam_sr.sources.base import Source

log = logging.getLogger("vcam_sr.camera")


def _fourcc_text(value: float) -> str:
    code = int(value)
    return "".join(chr((code >> 8 * i) & 0xFF) for i in range(4)).strip("\x00") or "?"


class CameraSource(Source):
    def __init__(self, index: int, width: int = 640, height: int = 360, fps: float = 30,
                 mjpg: bool = True):
        self.lock = InstanceLock(f"camera {index}", "choose another --source")
        self.lock.acquire()
        try:
            self._open(index, width, height, fps, mjpg)
        except BaseException:
            self.lock.release()
            raise

    def _open(self, index: int, width: int, height: int, fps: float, mjpg: bool) -> None:
        api = cv2.CAP_V4L2 if sys.platform.startswith("linux") else cv2.CAP_ANY
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # our message says it better
        self.cap = cv2.VideoCapture(index, api)
        if not self.cap.isOpened():
            self.cap.release()
            raise VcamError(f"no camera could be opened at index {index}; connect a camera (or close "
                            "the program using it) or run with --source test to use the built-in "
                            "test pattern")
        if mjpg:  # USB cameras reach full frame rates only in MJPG
            self.cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*"MJPG"))
        self.cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        self.cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        self.cap.set(cv2.CAP_PROP_FPS, fps)
        self.cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # keep only the newest frame in the driver
        ok, frame = self.cap.read()
        if not ok:
            self.cap.release()
            raise VcamError(f"camera {index} opened but returned no frame; check that no other "
                            "program holds it, or try another --source index")
        self.height, self.width = frame.shape[:2]
        self.fps = self.cap.get(cv2.CAP_PROP_FPS) or fps
        self.index = index
        log.info("camera %d: asked %dx%d @ %g fps %s, negotiated %dx%d @ %g fps %s", index, width,
                 height, fps, "MJPG" if mjpg else "", self.width, self.height, self.fps,
                 _fourcc_text(self.cap.get(cv2.CAP_PROP_FOURCC)))
        self._first = frame

    def read(self) -> np.ndarray | None:
        if self._first is not None:
            frame, self._first = self._first, None
        else:
            ok, frame = self.cap.read()  # blocks until the camera delivers
            if not ok:
                return None
        return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)

    def describe(self) -> str:
        return f"camera {self.index} {self.width}x{self.height} @ {self.fps:g} fps"

    def close(self) -> None:
        self.cap.release()
        self.lock.release()
