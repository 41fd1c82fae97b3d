"""Controller calls off the Qt GUI thread: start, stop, switching source or model and a new
output each take from a moment to many seconds (a model loads, a camera opens, a stop waits for
the camera's last read), and a tray whose thread waits cannot redraw or open its menu."""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from PySide6 import QtCore

from vcam_sr.errors import VcamError

log = logging.getLogger("vcam_sr.apps.tray")


class Calls(QtCore.QObject):
    """Runs calls one after another on one worker thread, in the order asked; `done` tells the
    GUI thread what ended, its result, and its error sentence or None. A call leaves `pending`
    in the same event as `done` is handled, so no one sees one without the other."""

    done = QtCore.Signal(str, object, object)
    _finished = QtCore.Signal(str, object, object)  # from the worker thread: queued to the GUI's

    def __init__(self, name: str, parent: QtCore.QObject | None = None):
        super().__init__(parent)
        self.pending: list[str] = []  # what was asked and has not ended, oldest first
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._finished.connect(self._ended)

    def run(self, what: str, call: Callable[[], object]) -> None:
        self.pending.append(what)
        self._pool.submit(self._call, what, call)

    def _call(self, what: str, call: Callable[[], object]) -> None:
        result = error = None
        try:
            result = call()
        except VcamError as exc:  # the same sentence as the command line's
            error = str(exc)
        except Exception as exc:  # shown in the menu, not lost in a thread
            log.exception("%s failed", what)
            error = f"{what} failed ({type(exc).__name__}: {exc})"
        self._finished.emit(what, result, error)

    @QtCore.Slot(str, object, object)
    def _ended(self, what: str, result, error) -> None:
        self.pending.remove(what)
        self.done.emit(what, result, error)  # in this thread: its slots run now

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
