"""`vcam-sr autostart on|off|status`: start the tray at login through the platform's own
mechanism: an XDG autostart entry on Linux, a script in the Startup folder on Windows, a
LaunchAgent on macOS."""
from __future__ import annotations

import argparse
import os
import plistlib
import subprocess
import sys
from pathlib import Path

from vcam_sr.commands import apply_log_level, parser
from vcam_sr.atomic import atomic_path
from vcam_sr.errors import VcamError

COMMAND = [sys.executable, "-m", "vcam_sr.cli", "tray"]


def entry_path() -> Path:
    home = Path.home()
    if sys.platform == "win32":
        return Path(os.environ["APPDATA"]) / "Microsoft/Windows/Start Menu/Programs/Startup/vcam-sr.cmd"
    if sys.platform == "darwin":
        return home / "Library/LaunchAgents/io.github.vcam-sr.plist"
    # The XDG spec: a relative XDG_CONFIG_HOME is invalid and ignored (no desktop would look there).
    configured = Path(os.environ.get("XDG_CONFIG_HOME") or "")
    config = configured if configured.is_absolute() else home / ".config"
    return config / "autostart/vcam-sr.desktop"


def desktop_exec(args: list[str]) -> str:
    """An Exec= value per the Desktop Entry spec: an argument with a reserved character (a
    venv path with a space) in double quotes, with \\ " ` $ escaped, and % doubled; then every
    backslash doubled once more for the string escapes applied before the quoting rule."""
    def quote(arg: str) -> str:
        arg = arg.replace("%", "%%")
        if not any(c in arg for c in ' \t\n"\'\\><~|&;$*?#()`'):
            return arg
        return '"' + "".join("\\" + c if c in '"`$\\' else c for c in arg) + '"'
    return " ".join(quote(a) for a in args).replace("\\", "\\\\")


def entry_text(command: list[str] = COMMAND) -> str:
    if sys.platform == "win32":
        return f'@start "" {subprocess.list2cmdline(command)}\r\n'
    if sys.platform == "darwin":
        return plistlib.dumps({"Label": "io.github.vcam-sr", "ProgramArguments": command,
                               "RunAtLoad": True}).decode()
    return ("[Desktop Entry]\nType=Application\nName=vcam-sr\n"
            "Comment=Super-resolution virtual camera (tray)\n"
            f"Exec={desktop_exec(command)}\nX-GNOME-Autostart-enabled=true\n")


def set_enabled(on: bool) -> Path:
    path = entry_path()
    try:
        if on:
            with atomic_path(path) as tmp:
                tmp.write_text(entry_text())
        else:
            path.unlink(missing_ok=True)
    except OSError as exc:  # XDG_CONFIG_HOME naming a file, a read-only home, ...
        raise VcamError(f"cannot {'write' if on else 'remove'} the login entry {path} "
                        f"({exc.strerror or exc}); check that {path.parent.parent} is a writable "
                        "folder (XDG_CONFIG_HOME)") from None
    return path


def enabled() -> bool:
    """An entry exists and the desktop will run it: an XDG entry with Hidden=true, or with
    X-GNOME-Autostart-enabled=false, is one the user switched off in their settings."""
    path = entry_path()
    if not path.is_file():
        return False
    if sys.platform in ("win32", "darwin"):
        return True
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return False
    values = {k.strip(): v.strip().lower() for k, _, v in (line.partition("=") for line in lines)}
    return values.get("Hidden") != "true" and values.get("X-GNOME-Autostart-enabled") != "false"


def main(argv=None) -> int:
    ap = parser("autostart", "Start the vcam-sr tray icon when you log in (on), stop doing so "
                             "(off), or say whether it will (status): an XDG autostart entry on "
                             "Linux, a script in the Startup folder on Windows, a LaunchAgent on macOS.")
    ap.add_argument("action", choices=["on", "off", "status"])
    args = ap.parse_args(argv)
    apply_log_level(args)
    if args.action != "status":
        set_enabled(args.action == "on")
    path = entry_path()
    state = "on" if enabled() else "off"
    why = (f" starts `{' '.join(COMMAND)}` at login" if state == "on" else
           " (switched off in the desktop's settings: Hidden=true)" if path.is_file() else " (no entry)")
    print(f"autostart is {state}: {path}{why}")
    return 0
