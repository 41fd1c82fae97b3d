"""Who is watching the virtual camera? On Linux, inotify's open and close events on the
v4l2loopback device node count the applications that have it open (the approach of
Linux-Fake-Background-Webcam), so inference can rest while nobody watches."""
from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path

log = logging.getLogger("vcam_sr.readers")


class DeviceReaders:
    """Counts the opens minus the closes of `path` by any process after this starts; our own
    producer opened the device before, so its handle is not counted."""

    def __init__(self, path: str | Path):
        from inotify_simple import INotify, flags

        self.path, self.flags = Path(path), flags
        self.inotify = INotify()
        self.inotify.add_watch(str(self.path), flags.OPEN | flags.CLOSE_WRITE | flags.CLOSE_NOWRITE)
        self.count = 0
        self._stop = False
        self._thread = threading.Thread(target=self._watch, name="readers", daemon=True)
        self._thread.start()

    @property
    def watched(self) -> bool:
        return self.count > 0

    def _watch(self) -> None:
        while not self._stop:
            for event in self.inotify.read(timeout=200):
                before = self.count
                if event.mask & self.flags.OPEN:
                    self.count += 1
                elif event.mask & (self.flags.CLOSE_WRITE | self.flags.CLOSE_NOWRITE):
                    self.count = max(0, self.count - 1)
                if (before > 0) != (self.count > 0):
                    log.info("%s %s", self.path, "has a reader: resuming inference" if self.count
                             else "has no readers: inference paused, the device stays open")

    def close(self) -> None:
        self._stop = True
        self._thread.join(timeout=2)
        self.inotify.close()


def watch_readers(device: str | None) -> DeviceReaders | None:
    """A reader count for `device` where one can be kept (Linux, a device node), else None,
    with the reason logged: then vcam-sr keeps running, as it cannot know who watches."""
    if not sys.platform.startswith("linux") or not device or not Path(device).exists():
        log.info("cannot tell here whether an application is reading the virtual camera; "
                 "inference keeps running")
        return None
    try:
        return DeviceReaders(device)
    except (ImportError, OSError) as exc:
        log.info("cannot watch %s for readers (%s); inference keeps running", device, exc)
        return None
