"""Safe outputs: checked before any work (never a folder, an input or, unless asked, an existing
file), and written atomically: an output appears whole or not at all, so an interrupted export,
build, benchmark, checkpoint or recording never leaves a half-written file where a good one is
expected."""
from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from engine_build.errors import VcamError


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
    if path.is_dir():
        raise VcamError(f"cannot write {path}: it is a folder; give a file name such as {path / example}")
    if not path.parent.is_dir():
        raise VcamError(f"cannot write {path}: folder {path.parent} does not exist")
    try:
        with tempfile.TemporaryFile(dir=path.parent):
            pass
    except OSError as exc:
        raise VcamError(f"cannot write {path}: folder {path.parent} is not writable ({exc.strerror}); "
                        "choose another location") from None
    for source in inputs:
        if same_file(path, Path(source)):
            raise VcamError(f"the output {path} is the input {source}; choose another output name")
    if path.exists() and not overwrite:
        raise VcamError(f"{path} already exists; choose another output name or pass --overwrite")
    return path


def free_name(path: Path) -> Path:
    """`path`, or NAME-2.EXT, NAME-3.EXT, ... : the first that does not exist."""
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate


class AtomicOutput:
    """A unique temporary file beside `out` (so runs never collide): `commit()` renames it onto
    `out`; `discard()` removes it if it is still there."""

    def __init__(self, out: str | os.PathLike):
        self.out = Path(out)
        self.out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.out.stem}.", suffix=f".partial{self.out.suffix}",
                                   dir=self.out.parent)
        os.close(fd)
        self.tmp = Path(tmp)

    def commit(self) -> None:
        os.chmod(self.tmp, 0o644)  # mkstemp creates 0600
        os.replace(self.tmp, self.out)

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
