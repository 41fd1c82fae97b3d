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

from engine_build.atomic import atomic_path

COMMAND = [sys.executable, "-m", "vcam_sr.cli", "tray"]


def entry_path() -> Path:
    home = Path.home()
    if sys.platform == "win32":
        return Path(os.environ["APPDATA"]) / "Microsoft/Windows/Start Menu/Programs/Startup/vcam-sr.cmd"
    if sys.platform == "darwin":
        return home / "Library/LaunchAgents/io.github.vcam-sr.plist"
    config = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")
    return config / "autostart/vcam-sr.desktop"


def entry_text() -> str:
    if sys.platform == "win32":
        return f'@start "" {subprocess.list2cmdline(COMMAND)}\r\n'
    if sys.platform == "darwin":
        return plistlib.dumps({"Label": "io.github.vcam-sr", "ProgramArguments": COMMAND,
                               "RunAtLoad": True}).decode()
    return ("[Desktop Entry]\nType=Application\nName=vcam-sr\n"
            "Comment=Super-resolution virtual camera (tray)\n"
            f"Exec={' '.join(COMMAND)}\nX-GNOME-Autostart-enabled=true\n")


def set_enabled(on: bool) -> Path:
    path = entry_path()
    if on:
        with atomic_path(path) as tmp:
            tmp.write_text(entry_text())
    else:
        path.unlink(missing_ok=True)
    return path


def enabled() -> bool:
    return entry_path().is_file()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="vcam-sr autostart", description=__doc__)
    ap.add_argument("action", choices=["on", "off", "status"])
    args = ap.parse_args(argv)
    if args.action != "status":
        set_enabled(args.action == "on")
    path = entry_path()
    print(f"autostart is {'on' if enabled() else 'off'}: {path}"
          + (f" starts `{' '.join(COMMAND)}` at login" if enabled() else " (no entry)"))
    return 0
