"""The virtual camera that Zoom, Meet and Teams pick up (pyvirtualcam)."""
from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np

from vcam_sr.errors import VcamError
from vcam_sr.instance import InstanceLock
from vcam_sr.media.colour import ColourSpace, YuvPicture, convert_space, rgb_to_yuv, to_rgb
from vcam_sr.sinks.base import Sink
from vcam_sr.sinks.readers import watch_readers

log = logging.getLogger("vcam_sr.virtualcam")

SETUP_HELP = {
    "linux": "install v4l2loopback and run: sudo modprobe v4l2loopback devices=1 exclusive_caps=1 "
             "card_label=\"vcam-sr\"",
    "win32": "install OBS Studio 26+ and start its Virtual Camera once (or install Unity Capture)",
    "darwin": "install OBS Studio 26+ and start its Virtual Camera once",
}


def video_devices(loopback: bool, sysfs: Path = Path("/sys/class/video4linux")) -> list[str]:
    """Linux /dev/videoN nodes that are (or, with loopback=False, are not) v4l2loopback devices:
    loopback devices are virtual, so their sysfs entry lies under /sys/devices/virtual."""
    found = []
    for entry in sorted(sysfs.glob("video*")):
        if ("/virtual/" in str(entry.resolve())) == loopback:
            found.append(f"/dev/{entry.name}")
    return found


def setup_help() -> str:
    return SETUP_HELP.get("linux" if sys.platform.startswith("linux") else sys.platform,
                          "install a virtual-camera driver supported by pyvirtualcam")


# What a virtual camera's readers (browsers, call apps) assume of 8-bit I420 planes.
CAMERA_SPACE = ColourSpace("bt601", full_range=False, depth=8)


def i420(frame: YuvPicture | np.ndarray) -> np.ndarray:
    """The frame as one I420 buffer (Y, then U, then V) in BT.601 limited range: a YUV frame
    already in that form passes as it is, an 8-bit 4:2:0 one in another matrix or range has its
    planes converted, anything else goes through RGB (one conversion each, where sending RGB made
    pyvirtualcam convert every frame)."""
    yuv420 = isinstance(frame, YuvPicture) and frame.subsampling == (2, 2) and frame.u is not None
    if yuv420 and frame.space.depth == 8 and frame.space != CAMERA_SPACE:
        frame = convert_space(frame, CAMERA_SPACE)
    elif not (yuv420 and frame.space == CAMERA_SPACE):
        frame = rgb_to_yuv(to_rgb(frame), CAMERA_SPACE)
    return np.concatenate([frame.y.ravel(), frame.u.ravel(), frame.v.ravel()])


class VirtualCamSink(Sink):
    name = "virtualcam"
    yuv_space = CAMERA_SPACE

    def __init__(self, backend: str | None = None, device: str | None = None):
        import pyvirtualcam

        if backend is not None and backend not in pyvirtualcam.camera.BACKENDS:
            raise VcamError(f"unknown virtual camera backend {backend!r}; choose one of "
                            f"{', '.join(pyvirtualcam.camera.BACKENDS)} or leave it unset")
        self.backend, self.device = backend, device
        self.camera, self.lock, self.readers = None, None, None

    def open(self, width: int, height: int, fps: float) -> None:
        import pyvirtualcam

        if width % 2 or height % 2:
            raise VcamError(f"virtual cameras need even frame sizes, got {width}x{height}")
        try:
            self.camera = pyvirtualcam.Camera(width, height, fps, fmt=pyvirtualcam.PixelFormat.I420,
                                              backend=self.backend, device=self.device)
        except RuntimeError as exc:
            reason = str(exc).splitlines()[0].split("?")[0].split(". ")[0]
            raise VcamError(f"no virtual camera device is available ({reason}); to create one, "
                            f"{setup_help()}") from None
        self.lock = InstanceLock(f"virtual camera {self.camera.device}", "pass another --virtualcam-device")
        try:
            self.lock.acquire()
        except VcamError:
            self.close()
            raise
        log.info("virtual camera: %s via %s, %dx%d @ %g fps", self.camera.device,
                 self.camera.backend, width, height, fps)
        self.readers = watch_readers(self.camera.device)

    @property
    def watched(self) -> bool:
        return self.readers is None or self.readers.watched

    def write(self, frame: YuvPicture | np.ndarray, source_frame) -> None:
        self.camera.send(i420(frame))

    def close(self, complete: bool = True) -> None:
        if self.readers is not None:
            self.readers.close()
            self.readers = None
        if self.camera is not None:
            self.camera.close()
            self.camera = None
        if self.lock is not None:
            self.lock.release()

    def describe(self) -> str:
        return f"virtualcam {self.camera.device if self.camera else ''}".strip()
