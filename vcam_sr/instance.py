"""One vcam-sr per camera and per virtual-camera device: the second says which process holds it,
instead of the two fighting over frames. An OS file lock, so a crashed holder frees it."""
from __future__ import annotations

import os
import re
import sys
import tempfile
import warnings
from pathlib import Path

from platformdirs import user_runtime_dir

from vcam_sr.errors import VcamError


def lock_dir() -> Path:
    """The per-user runtime folder (cleared at logout), or the temp folder where there is none."""
    with warnings.catch_warnings():  # no XDG_RUNTIME_DIR (a container, a service): its fallback is fine
        warnings.simplefilter("ignore")
        runtime = Path(user_runtime_dir("vcam-sr"))
    for folder in (runtime, Path(tempfile.gettempdir()) / "vcam-sr-locks"):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            return folder
        except OSError:
            continue
    raise VcamError("no folder for vcam-sr's lock files could be created; check the temp folder")


class InstanceLock:
    """Held from `acquire()` to `release()` (or the process's end) for one resource, such as
    'camera 0' or '/dev/video10'."""

    def __init__(self, resource: str, hint: str):
        self.resource, self.hint = resource, hint
        self.path = lock_dir() / (re.sub(r"[^A-Za-z0-9]+", "-", resource).strip("-") + ".lock")
        self._file = None

    def acquire(self) -> None:
        handle = open(self.path, "a+")
        try:
            _lock(handle)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise VcamError(f"{self.resource} is in use by another vcam-sr (process {holder}); "
                            f"stop that one first, or {self.hint}") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            self._file.truncate(0)
            self._file.close()  # closing drops the lock
            self._file = None


def _lock(handle) -> None:
    if sys.platform == "win32":
        import msvcrt

        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
    else:
        import fcntl

        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
