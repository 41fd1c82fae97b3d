"""The subcommands of `vcam-sr`, one module each, every one a thin layer over the vcam_sr API,
and the options they share (one parent parser, so each flag reads the same everywhere)."""
from __future__ import annotations

import argparse
import logging
import signal
import textwrap
import threading

from vcam_sr import __version__

# name -> (module, what it does, in the words of `vcam-sr --help`)
COMMANDS = {
    "upscale": ("vcam_sr.commands.upscale", "upscale videos (sound kept) and images into new files"),
    "web": ("vcam_sr.apps.web", "a page in your browser to upscale files and watch the live view"),
    "tray": ("vcam_sr.apps.tray", "the system-tray icon: start, stop and choose the camera"),
    "doctor": ("vcam_sr.commands.doctor", "why the virtual camera does not show up in a call, and the fix"),
    "models": ("vcam_sr.commands.models", "the shipped models, and which one auto picks here"),
    "bench": ("vcam_sr.commands.bench", "how fast each backend and model is on this machine"),
    "build-engine": ("vcam_sr.commands.build_engine", "prepare a TensorRT engine for an NVIDIA GPU"),
    "autostart": ("vcam_sr.commands.autostart", "start the tray icon when you log in (on, off, status)"),
}
LOG_LEVELS = ("debug", "info", "warning", "error")
# Ctrl-C, kill, and a closed terminal: each stops a run cleanly with the shell's exit code.
STOP_SIGNALS = [(signal.SIGINT, 130), (signal.SIGTERM, 143)] + (
    [(signal.SIGHUP, 129)] if hasattr(signal, "SIGHUP") else [])


# Set by a stop signal as well as raised: a KeyboardInterrupt that lands in a library's
# __del__ or callback is swallowed there, and a long loop must still stop (check_stop).
STOP = threading.Event()


def check_stop() -> bool:
    """Raise KeyboardInterrupt if a stop signal came; False otherwise (a `should_stop`)."""
    if STOP.is_set():
        raise KeyboardInterrupt
    return False


class StartupInterrupted(Exception):
    """Ctrl-C or SIGTERM arrived while modules, models or devices were loading."""
BACKEND_HELP = ("where the model runs: auto (default: a GPU if there is one, else the faster of "
                "onnxruntime and openvino here), onnxruntime, openvino, tensorrt, torch, or bicubic "
                "(no model)")
MODEL_HELP = ("auto (default: picked for each input), fast, fast-clean (clean input only), or a "
              "model file (.onnx)")


def common(top: bool = False) -> argparse.ArgumentParser:
    """--log-level and --version, on every command. A subcommand's copy keeps no default of its
    own, so `vcam-sr --log-level debug upscale ...` and `vcam-sr upscale --log-level debug ...`
    mean the same."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--log-level", choices=LOG_LEVELS, dest="log_level",
                        default=None if top else argparse.SUPPRESS,
                        help="how much to log: debug, info (default), warning, error")
    parent.add_argument("--version", action="version", version=f"vcam-sr {__version__}")
    return parent


def model_options(default: str | None = "auto", which=("backend", "model", "threads")) -> argparse.ArgumentParser:
    """--backend, --model and --threads (or those of them in `which`), with one meaning everywhere."""
    from vcam_sr.config import thread_count

    parent = argparse.ArgumentParser(add_help=False)
    if "backend" in which:
        parent.add_argument("-b", "--backend", default=default, help=BACKEND_HELP)
    if "model" in which:
        parent.add_argument("-m", "--model", default=default, help=MODEL_HELP)
    if "threads" in which:
        parent.add_argument("--threads", type=thread_count, default=0 if default else None,
                            help="inference threads; 0 = all physical cores (default)")
    return parent


def parser(name: str, description: str, *, models=(), epilog: str | None = None,
           model_default: str | None = "auto") -> argparse.ArgumentParser:
    """A subcommand's parser with the shared options (and of the model options, `models`)."""
    parents = [common()] + ([model_options(model_default, models)] if models else [])
    return argparse.ArgumentParser(prog=f"vcam-sr {name}", description=wrap(description), epilog=epilog,
                                   parents=parents, formatter_class=argparse.RawDescriptionHelpFormatter)


def wrap(text: str) -> str:
    """A paragraph given on one line, wrapped for a terminal (examples keep their own lines)."""
    return text if "\n" in text else textwrap.fill(text, 90)


def apply_log_level(args: argparse.Namespace) -> None:
    level = getattr(args, "log_level", None)
    if level:
        logging.getLogger().setLevel(level.upper())
