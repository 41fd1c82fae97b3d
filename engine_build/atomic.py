"""Atomic file writes: an output appears whole or not at all, so an interrupted export, build,
benchmark, checkpoint or recording never leaves a half-written file where a good one is expected."""
from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


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
