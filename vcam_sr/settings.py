"""What the tray remembers between runs (source, model, output, camera size, simulated poor
link): a small JSON file in the user's config folder (platformdirs), written atomically so that
a crash or a full disk never leaves half a file. A missing, unreadable or foreign file counts as
nothing remembered, with a warning in the log, never an error at start."""
from __future__ import annotations

import json
import logging
from pathlib import Path

from platformdirs import user_config_dir

from vcam_sr.atomic import atomic_path

log = logging.getLogger("vcam_sr.settings")
KINDS = {"source": (int, str), "model": str, "output": str, "camera": str, "poor_link": bool}


def settings_path() -> Path:
    return Path(user_config_dir("vcam-sr")) / "settings.json"


def load(path: Path | None = None) -> dict:
    """The remembered values of known keys and types; anything else is left out."""
    path = path or settings_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        log.warning("ignoring the remembered settings in %s (%s)", path, exc)
        return {}
    if not isinstance(data, dict):
        log.warning("ignoring the remembered settings in %s (not a JSON object)", path)
        return {}
    return {k: v for k, v in data.items() if k in KINDS and isinstance(v, KINDS[k])
            and not (isinstance(v, bool) and KINDS[k] != bool)}


def save(values: dict, path: Path | None = None) -> bool:
    """Write `values` (known keys only); False, with a warning in the log, if it cannot."""
    path = path or settings_path()
    try:
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps({k: v for k, v in values.items() if k in KINDS}, indent=2) + "\n",
                           encoding="utf-8")
    except OSError as exc:
        log.warning("could not remember the settings in %s (%s)", path, exc.strerror or exc)
        return False
    return True
