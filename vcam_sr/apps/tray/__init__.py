"""`vcam-sr tray`: a system-tray icon over the background service (vcam_sr/service.py).

Qt (PySide6-Essentials, the `tray` extra) because its QSystemTrayIcon gives a real menu and
notifications on Linux, Windows and macOS from pip alone. The icon shows the state (grey
stopped, amber busy, green running, red error) and its tooltip the live frame rate; the menu
starts and stops, picks the source, model, output and camera size, simulates a poor link, shows
a preview window (a Qt window of this process), the doctor report and the log. Menu choices are
remembered in the user's config folder (vcam_sr/settings.py).
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path

from platformdirs import user_log_dir

from vcam_sr.commands import apply_log_level, parser
from vcam_sr.errors import VcamError
from vcam_sr import settings
from vcam_sr.config import Config, load_config

log = logging.getLogger("vcam_sr.apps.tray")
DESCRIPTION = ("Show vcam-sr as an icon in the system tray: start and stop the upscaled camera, and "
               "choose its source, model and output from the icon's menu. Your choices are "
               "remembered for the next start.")


def build_config(config_file: str | None, flags: dict, remembered: dict,
                 virtual_camera: bool) -> tuple[Config, str]:
    """Options for this run and the output (virtualcam, preview, file:PATH or the sinks): the
    config file, then what the menu remembered, then command-line flags. With no output chosen
    anywhere and no virtual camera here, the preview window."""
    from vcam_sr.apps.tray.menu import POOR_LINK, output_of

    mine = {}
    if "source" in remembered:
        mine["source"] = remembered["source"]
    if "model" in remembered:
        mine["model"] = remembered["model"]
    if "output" in remembered:
        output = remembered["output"]
        mine["sinks"] = (["null"] if output == "preview" else [output] if output.startswith("file:")
                         else output.split(","))
    if "camera" in remembered and remembered["camera"].count("x") == 1:
        width, height = remembered["camera"].split("x")
        mine.update({"camera.width": int(width), "camera.height": int(height)} if width.isdigit()
                    and height.isdigit() else {})
    if remembered.get("poor_link"):
        mine.update(POOR_LINK)
    try:
        cfg = load_config(config_file, {**mine, **flags})
    except VcamError as exc:  # a remembered value this version refuses: the flags still count
        if not mine:
            raise
        log.warning("not using the remembered settings: %s", exc)
        cfg = load_config(config_file, flags)
    output = output_of(cfg.sinks)
    if "sinks" in flags:
        return cfg, output
    if remembered.get("output") == "preview" or (output == "virtualcam" and not virtual_camera
                                                  and "output" not in remembered):
        return cfg.model_copy(update={"sinks": ["null"]}), "preview"
    return cfg, output


def main(argv=None) -> int:
    ap = parser("tray", DESCRIPTION, models=("backend", "model"), model_default=None)
    ap.add_argument("--config", help="YAML file of options (see config.yaml)")
    ap.add_argument("--source", help="camera index, 'test', 'screen', a video file or a stream URL")
    ap.add_argument("--sink", action="append", dest="sinks",
                    help="virtualcam, window (the preview window), file:PATH or null (default: as last time)")
    ap.add_argument("--start", action="store_true", help="start the camera right away")
    args = ap.parse_args(argv)
    apply_log_level(args)
    try:
        from PySide6 import QtCore, QtWidgets
    except ImportError:
        raise VcamError("the tray needs Qt; run pip install 'vcam-sr[tray]'") from None
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                                                 or os.environ.get("QT_QPA_PLATFORM")):
        raise VcamError("the tray needs a desktop session and none was found (DISPLAY and "
                        "WAYLAND_DISPLAY are unset); start it from your desktop, or at login with "
                        "vcam-sr autostart on")
    from vcam_sr.apps.tray.devices import virtual_camera_found
    from vcam_sr.apps.tray.menu import Tray

    flags = {k: v for k, v in vars(args).items() if k in ("source", "sinks", "backend") and v}
    window = "window" in flags.get("sinks", [])  # this process's own preview window, not OpenCV's
    if window:
        flags["sinks"] = [s for s in flags["sinks"] if s != "window"] or ["null"]
    cfg, output = build_config(args.config, flags, settings.load(), virtual_camera_found())
    output = "preview" if window and output == "null" else output
    log_file = Path(user_log_dir("vcam-sr")) / "vcam-sr.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log_file)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    if "cv2" in os.environ.get("QT_QPA_PLATFORM_PLUGIN_PATH", ""):  # set by opencv-python for its own
        del os.environ["QT_QPA_PLATFORM_PLUGIN_PATH"]             # Qt; PySide6 must use its plugins
    app = QtWidgets.QApplication(sys.argv[:1])
    app.setQuitOnLastWindowClosed(False)
    if not QtWidgets.QSystemTrayIcon.isSystemTrayAvailable():
        log.warning("no system tray is running on this desktop; the icon will appear when one starts")
    tray = Tray(cfg, log_file, output)
    for sig in (signal.SIGINT, signal.SIGTERM):  # Ctrl-C and kill quit cleanly ...
        signal.signal(sig, lambda *_: tray.quit())
    wake = QtCore.QTimer()  # ... because Python gets a moment to run its handlers
    wake.timeout.connect(lambda: None)
    wake.start(200)
    tray.icon.show()
    log.info("tray ready; log: %s", log_file)
    if window:
        tray.toggle_preview(True)
    if args.start:
        tray.start()
    return app.exec()
