"""What the tray can offer on this machine: the cameras (read cheaply from sysfs on Linux, so
the Source menu can list them each time it opens) and whether a virtual camera exists."""
from __future__ import annotations

import sys
from pathlib import Path

from vcam_sr.sinks.virtualcam import video_devices

SYSFS = Path("/sys/class/video4linux")


def _read(path: Path, default: str) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip() or default
    except OSError:
        return default


def cameras(sysfs: Path = SYSFS) -> list[tuple[int, str]]:
    """(index, name) of each camera: on Linux the first node of each capture device (a USB
    camera adds a metadata node, index 1, that gives no picture), loopback devices left out;
    elsewhere, with no cheap list, indexes 0 and 1."""
    if not sys.platform.startswith("linux"):
        return [(0, "Camera 0"), (1, "Camera 1")]
    found = []
    for device in video_devices(loopback=False, sysfs=sysfs):
        entry = sysfs / Path(device).name
        if _read(entry / "index", "0") == "0":
            found.append((int(entry.name.removeprefix("video")), _read(entry / "name", "camera")))
    return sorted(found)


def virtual_camera_found(sysfs: Path = SYSFS) -> bool:
    """False only where we can tell that none exists (Linux without a v4l2loopback device);
    elsewhere pyvirtualcam finds out when it opens one."""
    return not sys.platform.startswith("linux") or bool(video_devices(loopback=True, sysfs=sysfs))
