"""The Live tab: the pipeline's before | after as an MJPEG stream, to at most `limit` viewers at
once (each holds a server thread while it watches; the other threads keep serving the API).
Inference runs only while someone watches: the first viewer or the Start button starts the
pipeline, and it stops `grace` seconds after the last viewer leaves, or at Stop."""
from __future__ import annotations

import threading
from typing import Callable, Iterator

PART = b"--frame\r\nContent-Type: image/jpeg\r\n\r\n"


class LiveViewers:
    def __init__(self, controller, preview, limit: int = 3, grace: float = 5.0):
        self.controller, self.preview, self.limit, self.grace = controller, preview, limit, grace
        self.count = 0
        self._lock = threading.RLock()
        self._timer: threading.Timer | None = None

    def join(self) -> bool:
        """A viewer arrives: False when `limit` already watch; else the pipeline runs."""
        with self._lock:
            if self.count >= self.limit:
                return False
            self.count += 1
            self._disarm()
            self.controller.start()
        return True

    def leave(self) -> None:
        with self._lock:
            self.count -= 1
            if self.count == 0:
                self._arm()

    def start(self) -> None:
        """The Start button: run now; with nobody watching, stop again after the grace period."""
        with self._lock:
            self.controller.start(wait=True)  # once running or failed (at once if already starting)
            if self.count == 0:
                self._arm()

    def stop(self) -> None:
        """The Stop button, and the server's shutdown."""
        with self._lock:
            self._disarm()
            self.controller.stop()

    def status(self) -> dict:
        return {**self.controller.status(), "viewers": self.count, "max_viewers": self.limit}

    def frames(self, stopping: threading.Event, disconnected: Callable[[], bool]) -> Iterator[bytes]:
        """The stream's parts; the last frame again each second when none is new, so a viewer
        that left is noticed even while the pipeline is stopped."""
        count, last = 0, None
        while not stopping.is_set() and not disconnected():
            jpeg, count = self.preview.jpeg(count, timeout=1.0)
            last = jpeg or last
            if last is not None:
                yield PART + last + b"\r\n"

    def _arm(self) -> None:
        self._disarm()
        self._timer = threading.Timer(self.grace, self._idle)
        self._timer.daemon = True
        self._timer.start()

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _idle(self) -> None:
        with self._lock:
            if self.count == 0:
                self.controller.stop()
