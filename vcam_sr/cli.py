"""`vcam-sr`: the command line. `vcam-sr --source ...` runs live (vcam_sr/commands/live.py);
`vcam-sr COMMAND ...` runs one of vcam_sr/commands (or the tray and web apps), each imported
only when asked for, so a Ctrl-C during start-up is cheap and nothing unused is loaded."""
from __future__ import annotations

import importlib
import logging
import signal
import sys

from vcam_sr.commands import COMMANDS, LOG_LEVELS, STOP, STOP_SIGNALS, StartupInterrupted
from vcam_sr.errors import VcamError


def interrupt(stopped_by: list[int], code: int) -> None:
    """A subcommand's signal handler: note the exit code (130, 143, 129) and unwind as Ctrl-C."""
    stopped_by.append(code)
    STOP.set()
    raise KeyboardInterrupt


def leading_log_level(argv: list[str]) -> tuple[list[str], str | None]:
    """`vcam-sr --log-level debug upscale ...`: the level given before a command, and the rest."""
    if argv[:1] == ["--log-level"] and len(argv) > 2 and argv[1] in LOG_LEVELS and argv[2] in COMMANDS:
        return argv[2:], argv[1]
    if argv[:1] and argv[0].startswith("--log-level=") and len(argv) > 1 and argv[1] in COMMANDS:
        return argv[1:], argv[0].split("=", 1)[1]
    return argv, None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    argv, level = leading_log_level(argv)
    if level:
        logging.getLogger().setLevel(level.upper())
    stopped_by: list[int] = []
    for sig, code in STOP_SIGNALS:  # during start-up: note them, act once loaded
        signal.signal(sig, lambda *_, code=code: stopped_by.append(code))
    try:
        if argv[:1] and argv[0] in COMMANDS:
            command = importlib.import_module(COMMANDS[argv[0]][0]).main
            if stopped_by:
                raise StartupInterrupted
            for sig, code in STOP_SIGNALS:  # a subcommand cleans up as it unwinds, then exits
                signal.signal(sig, lambda *_, code=code: interrupt(stopped_by, code))
            result = command(argv[1:])
            return stopped_by[-1] if stopped_by and result == 130 else result
        from vcam_sr.commands.live import run

        return run(argv, stopped_by)
    except VcamError as exc:
        print(f"vcam-sr: error: {exc}", file=sys.stderr)
        return 2
    except StartupInterrupted:
        print("vcam-sr: stopped during start-up; nothing was run", file=sys.stderr)
        return stopped_by[0]
    except KeyboardInterrupt:
        return stopped_by[-1] if stopped_by else 130
    finally:
        STOP.clear()  # this run's stop, not the next one's (main() is called again in tests)


if __name__ == "__main__":
    sys.exit(main())
