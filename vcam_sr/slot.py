"""The newest value, handed from one thread to others: the one hand-off of the pipeline (camera
to inference), the reconnecting source and the live preview. A value not taken before the next
arrives is replaced, never queued, so a slow reader always gets the newest and latency cannot
grow (Linux-Fake-Background-Webcam's bounded queue, at its smallest)."""
from __future__ import annotations

import threading
from typing import Any


class Slot:
    def __init__(self):
        self._cond = threading.Condition()
        self._value: Any = None
        self._fresh = False  # a value put and not yet taken
        self.count = 0       # values put so far
        self.closed = False

    def put(self, value: Any) -> bool:
        """Offer the newest value; True when it replaced one nobody took (a dropped frame)."""
        with self._cond:
            replaced, self._value, self._fresh = self._fresh, value, True
            self.count += 1
            self._cond.notify_all()
            return replaced

    def take(self, timeout: float | None = None) -> Any:
        """The newest value not yet taken, waiting up to `timeout`; None if none came (or the
        slot is closed and empty)."""
        with self._cond:
            self._cond.wait_for(lambda: self._fresh or self.closed, timeout=timeout)
            if not self._fresh:
                return None
            self._fresh = False
            return self._value

    def discard(self) -> None:
        """Forget the value not yet taken (it went stale)."""
        with self._cond:
            self._fresh = False

    def newest(self) -> tuple[Any, int]:
        """(newest value or None, its count), without waiting or taking it."""
        with self._cond:
            return self._value, self.count

    def newer(self, count: int, timeout: float) -> tuple[Any, int]:
        """(a value newer than `count`, its count) once one is put, for readers that each follow
        the stream without taking from one another; (None, count) after `timeout`."""
        with self._cond:
            if not self._cond.wait_for(lambda: self.count > count or self.closed, timeout=timeout):
                return None, count
            return (self._value, self.count) if self.count > count else (None, count)

    def close(self) -> None:
        """No more values: wake every waiter."""
        with self._cond:
            self.closed = True
            self._cond.notify_all()
