"""Safe outputs: checked before any work (never a folder, an input or, unless asked, an existing
file), and written atomically: an output appears whole or not at all, so an interrupted export,
build, benchmark, checkpoint or recording never leaves a half-written file where a good one is
expected."""
from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from vcam_sr.errors import VcamError


def same_file(a: Path, b: Path) -> bool:
    """True when both name one file: the same path, or links (symbolic or hard) to it."""
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


def check_output(path: str | os.PathLike, overwrite: bool = False, inputs: Iterable[Path] = (),
                 example: str = "out") -> Path:
    """Refuse, before any work is done, an output that cannot or must not be written: an empty
    name, a folder, a missing or unwritable folder, one of `inputs`, or an existing file
    (unless `overwrite`). Returns the path, ~ expanded."""
    if not str(path).strip():
        raise VcamError(f"the output name is empty; give a file name such as {example}")
    path = Path(path).expanduser()
    check_name_length(path)
    try:
        if path.is_dir():
            raise VcamError(f"cannot write {path}: it is a folder; give a file name such as {path / example}")
        if not path.parent.is_dir():
            raise VcamError(f"cannot write {path}: folder {path.parent} does not exist")
    except OSError as exc:  # a parent that cannot be searched, a path too long, ...
        raise VcamError(f"cannot write {path} ({exc.strerror or exc}); choose another location") from None
    try:
        with tempfile.TemporaryFile(dir=path.parent):
            pass
    except OSError as exc:
        raise VcamError(f"cannot write {path}: folder {path.parent} is not writable ({exc.strerror}); "
                        "choose another location") from None
    for source in inputs:
        if same_file(path, Path(source)):
            raise VcamError(f"the output {path} is the input {source}; choose another output name")
    if os.path.lexists(path) and not overwrite:  # a dangling symbolic link is taken too
        raise VcamError(f"{path} already exists; choose another output name or pass --overwrite")
    return path


def check_name_length(path: Path) -> None:
    """Refuse a file name longer than its folder's file system holds (255 bytes on most)."""
    try:
        limit = os.pathconf(path.parent if path.parent.is_dir() else ".", "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255
    size = len(os.fsencode(path.name))
    if size > limit:
        raise VcamError(f"the output name {path.name[:40]}... is {size} bytes, longer than the "
                        f"{limit} this file system allows; rename the input or give -o a shorter name")


def write_error(exc: OSError, path: Path) -> VcamError:
    """The sentence for an output that failed while being written (a full disk, a quota, a
    file-size limit, a folder that went read-only, or was deleted)."""
    if not path.parent.is_dir():
        return gone_error(path)
    return VcamError(f"{path} could not be written ({exc.strerror or exc}); free some space or "
                     "choose another output folder")


def gone_error(path: Path) -> VcamError:
    """The sentence for an output whose folder was deleted while it was being written."""
    return VcamError(f"the output folder {path.parent} disappeared while {path.name} was being "
                     "written; nothing was saved, so create the folder and run again")


def free_name(path: Path) -> Path:
    """`path`, or NAME-2.EXT, NAME-3.EXT, ... : the first name not taken (by a file, a folder
    or a symbolic link, even one that points nowhere)."""
    candidate, n = path, 1
    while os.path.lexists(candidate):
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate


PARTIAL = re.compile(r"^\.(?P<stem>.*)\.(?P<pid>\d+)\.[a-z0-9_]+\.partial\.?[^.]*$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def remove_stale_partials(folder: Path) -> list[Path]:
    """Remove the hidden temporary files that a killed writer (SIGKILL, power loss, full disk)
    left in `folder`: named by AtomicOutput, they carry their writer's process id."""
    removed = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    for path in entries:
        found = PARTIAL.match(path.name)
        if found and int(found["pid"]) != os.getpid() and not _alive(int(found["pid"])):
            try:
                path.unlink()
                removed.append(path)
            except OSError:
                pass
    return removed


class AtomicOutput:
    """A unique temporary file beside `out`, named with this process's id (so runs never
    collide, and a dead writer's leftovers can be found): `commit()` gives it the final name,
    `discard()` removes it if it is still there."""

    def __init__(self, out: str | os.PathLike):
        self.out = Path(out)
        self.out.parent.mkdir(parents=True, exist_ok=True)
        stem = self.out.stem[:80]  # a long input name must not make the temporary name too long
        fd, tmp = tempfile.mkstemp(prefix=f".{stem}.{os.getpid()}.", suffix=f".partial{self.out.suffix[:16]}",
                                   dir=self.out.parent)
        os.close(fd)
        self.tmp = Path(tmp)

    def commit(self, overwrite: bool = True) -> Path:
        """Give the file its final name and return that name. Without `overwrite` a file that
        appeared there meanwhile (another program, another vcam-sr) is never replaced: this
        result then takes the first free NAME-2.EXT, NAME-3.EXT ... and the caller is told.
        A temporary file deleted meanwhile (its folder, say) is a VcamError."""
        try:
            os.chmod(self.tmp, 0o644)  # mkstemp creates 0600
        except FileNotFoundError:
            raise gone_error(self.out) if not self.out.parent.is_dir() else VcamError(
                f"the temporary file of {self.out} was deleted by another program while it was being "
                "written; nothing was saved, so run again") from None
        if overwrite:
            os.replace(self.tmp, self.out)
            return self.out
        target = self.out
        while True:
            try:
                os.link(self.tmp, target)  # fails if the name exists: an exclusive create
            except FileExistsError:
                target = free_name(target)
                continue
            except OSError:  # no hard links here (some network and FAT file systems)
                if os.path.lexists(target):
                    target = free_name(target)
                    continue
                os.rename(self.tmp, target)
                return target
            self.tmp.unlink()
            return target

    def discard(self) -> None:
        self.tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_path(out: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside `out`: renamed onto `out` when the block succeeds, removed if not."""
    output = AtomicOutput(out)
    try:
        yield output.tmp
        output.commit()
    finally:
        output.discard()
