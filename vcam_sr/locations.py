"""Which local file a source or sink names, however it is spelled, so that checks such as
"never write over the input" compare files, not spellings."""
from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse


def local_file(location: str | int) -> Path | None:
    """The absolute path of the local file `location` names (a path, ~/..., file:PATH or a
    file:// URL with %-escapes), or None for a camera index, 'test' and network streams."""
    if (isinstance(location, int) or location in ("test", "screen") or location.startswith("screen:")
            or location.strip().lstrip("-").isdigit()):
        return None
    if location.startswith("file://"):
        return Path(unquote(urlparse(location).path)).resolve()
    if location.startswith("file:"):
        location = location[5:]
    elif "://" in location:
        return None
    return Path(location).expanduser().resolve()
