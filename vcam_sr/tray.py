"""`vcam-sr tray`: a system-tray icon over the background service (vcam_sr/service.py).

Qt (PySide6-Essentials, the `tray` extra) because its QSystemTrayIcon gives a real menu and
notifications on Linux, Windows and macOS from pip alone; pystray's only pip-only Linux backend
has no menu. The icon shows the state (grey stopped, amber starting, green running, red error),
its tooltip the live fps; the menu starts and stops, switches source and model while running,
and shows errors in the same sentences as the command line.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path

from platformdirs import user_log_dir

from engine_build.errors import VcamError
from vcam_sr import autostart
from vcam_sr.config import load_config
from vcam_sr.models import shipped
from vcam_sr.service import ERROR, RUNNING, STARTING, Controller
from vcam_sr.sinks.virtualcam import video_devices

log = logging.getLogger("vcam_sr.tray")
COLOURS = {"stopped": "#8a8a8a", STARTING: "#e0a020", RUNNING: "#2fa84f", ERROR: "#d03030"}
POOR_LINK = {"degrade": 0.5, "degrade_jpeg": 40}


def cameras() -> list[int]:
    """Camera indexes worth offering: on Linux the /dev/videoN that are not loopback devices."""
    if sys.platform.startswith("linux"):
        return [int(d.removeprefix("/dev/video")) for d in video_devices(loopback=False)]
    return [0, 1]


class Tray:
    def __init__(self, controller: Controller, log_file: Path | None = None):
        from PySide6 import QtCore, QtGui, QtWidgets

        self.qt, self.controller, self.log_file = (QtCore, QtGui, QtWidgets), controller, log_file
        self.icon = QtWidgets.QSystemTrayIcon(self._icon("stopped"))
        self.menu = QtWidgets.QMenu()
        self.actions: dict[str, QtGui.QAction] = {}
        self.status_item = self._add("status", "vcam-sr: stopped", None)
        self.status_item.setEnabled(False)
        self._add("start", "Start", self.toggle)
        self.menu.addSeparator()
        self._choices("Source", [(f"Camera {i}", i) for i in cameras()] +
                      [("Test pattern", "test"), ("Screen", "screen"), ("Video file...", None)],
                      str(controller.cfg.source), self.choose_source)
        self._choices("Model", [("auto (picks per source)", "auto")] + [(m.name, m.name) for m in shipped()],
                      controller.cfg.model, lambda name: self._try(controller.switch_model, name))
        self._add("poor_link", "Simulate poor link", self.toggle_poor_link, checked=controller.cfg.degrade < 1)
        self._add("preview", "Preview window", self.toggle_preview, checked="window" in controller.cfg.sinks)
        self.menu.addSeparator()
        self._add("doctor", "Doctor report...", self.show_doctor)
        self._add("log", "Open log", self.open_log)
        self._add("login", "Start at login", self.toggle_login, checked=autostart.enabled())
        self._add("quit", "Quit", self.quit)
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._clicked)
        self.timer = QtCore.QTimer()
        self.timer.timeout.connect(self.refresh)
        self.timer.start(1000)
        self._shown_error = None
        self.refresh()

    # -- menu actions: each one call into the controller --------------------------------
    def toggle(self) -> None:
        if self.controller.status()["state"] in (RUNNING, STARTING):
            self.controller.stop()
        else:
            self.controller.start()
        self.refresh()

    def choose_source(self, spec) -> None:
        if spec is None:  # "Video file..."
            spec, _ = self.qt[2].QFileDialog.getOpenFileName(None, "Upscale a video file")
            if not spec:
                return
        self._try(self.controller.switch_source, spec)

    def toggle_poor_link(self, on: bool) -> None:
        self._try(self.controller.reconfigure, **(POOR_LINK if on else {"degrade": 1.0, "degrade_jpeg": None}))

    def toggle_preview(self, on: bool) -> None:
        sinks = [s for s in self.controller.cfg.sinks if s != "window"] + (["window"] if on else [])
        self._try(self.controller.reconfigure, sinks=sinks or ["null"])

    def toggle_login(self, on: bool) -> None:
        autostart.set_enabled(on)

    def show_doctor(self) -> None:
        from vcam_sr.doctor import report

        self.doctor_text = report()
        box = self.qt[2].QMessageBox(self.qt[2].QMessageBox.Icon.Information, "vcam-sr doctor", self.doctor_text)
        box.setModal(False)
        box.show()
        self._doctor_box = box  # kept alive while shown

    def open_log(self) -> None:
        QtCore, QtGui, _ = self.qt
        if self.log_file is not None:
            QtGui.QDesktopServices.openUrl(QtCore.QUrl.fromLocalFile(str(self.log_file)))

    def quit(self) -> None:
        self.timer.stop()
        self.controller.stop()
        self.icon.hide()
        self.qt[2].QApplication.quit()

    def refresh(self) -> None:
        """Icon colour, tooltip (state and live fps), the status line and Start/Stop."""
        status = self.controller.status()
        state = status["state"]
        self.icon.setIcon(self._icon(state))
        line = f"vcam-sr: {state}"
        if state == RUNNING:
            line += f", {status.get('fps', 0):.1f} fps, model {status.get('model')}"
        if state == ERROR:
            line = f"vcam-sr: {status['error']}"
        self.icon.setToolTip(line)
        self.status_item.setText(line if len(line) < 90 else line[:87] + "...")
        self.actions["start"].setText("Stop" if state in (RUNNING, STARTING) else "Start")
        if state == ERROR and status["error"] != self._shown_error:
            self._shown_error = status["error"]
            if self.icon.supportsMessages():
                self.icon.showMessage("vcam-sr", status["error"], self.qt[2].QSystemTrayIcon.MessageIcon.Warning)

    # -- building the menu ----------------------------------------------------------------
    def _add(self, key, text, slot, checked=None, menu=None):
        action = (menu or self.menu).addAction(text)
        if checked is not None:
            action.setCheckable(True)
            action.setChecked(checked)
        if slot is not None:
            action.triggered.connect(slot)
        self.actions[key] = action
        return action

    def _choices(self, title, options, current, choose) -> None:
        _, QtGui, _ = self.qt
        submenu = self.menu.addMenu(title)
        group = QtGui.QActionGroup(submenu)
        for text, value in options:
            action = self._add(f"{title.lower()}:{value}", text, lambda _=False, v=value: choose(v),
                               checked=str(value) == current if value is not None else None, menu=submenu)
            if value is not None:
                group.addAction(action)

    def _try(self, call, *args, **kwargs) -> None:
        try:
            call(*args, **kwargs)
        except VcamError as exc:  # shown like any other error: the menu and a notification
            self.controller.report_error(str(exc))
        self.refresh()

    def _clicked(self, reason) -> None:
        QtWidgets = self.qt[2]
        if reason == QtWidgets.QSystemTrayIcon.ActivationReason.Trigger:  # a left click opens it too
            self.menu.popup(self.qt[1].QCursor.pos())

    def _icon(self, state: str):
        _, QtGui, _ = self.qt
        pixmap = QtGui.QPixmap(64, 64)
        pixmap.fill(QtGui.QColor(0, 0, 0, 0))
        painter = QtGui.QPainter(pixmap)
        painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
        painter.setBrush(QtGui.QColor(COLOURS.get(state, COLOURS["stopped"])))
        painter.setPen(QtGui.QColor("#202020"))
        painter.drawEllipse(4, 4, 56, 56)
        painter.setPen(QtGui.QColor("white"))
        font = painter.font()
        font.setPixelSize(26)
        font.setBold(True)
        painter.setFont(font)
        painter.drawText(pixmap.rect(), self.qt[0].Qt.AlignmentFlag.AlignCenter, "2x")
        painter.end()
        return QtGui.QIcon(pixmap)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="vcam-sr tray", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", help="YAML file of options (see config.yaml)")
    ap.add_argument("--source", help="camera index, 'test', 'screen', a video file or a stream URL")
    ap.add_argument("--sink", action="append", dest="sinks", help="as for vcam-sr (default virtualcam)")
    ap.add_argument("--backend", help="auto (default), onnxruntime, tensorrt, torch or bicubic")
    ap.add_argument("--start", action="store_true", help="start the camera right away")
    args = ap.parse_args(argv)
    try:
        from PySide6 import QtCore, QtWidgets
    except ImportError:
        raise VcamError("the tray needs Qt; run pip install 'vcam-sr[tray]'") from None
    overrides = {k: v for k, v in vars(args).items() if k in ("source", "sinks", "backend") and v}
    cfg = load_config(args.config, overrides)
    log_file = Path(user_log_dir("vcam-sr")) / "vcam-sr.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log_file)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                                                 or os.environ.get("QT_QPA_PLATFORM")):
        raise VcamError("the tray needs a desktop session and none was found (DISPLAY and "
                        "WAYLAND_DISPLAY are unset); start it from your desktop, or at login with "
                        "vcam-sr autostart on")
    if "cv2" in os.environ.get("QT_QPA_PLATFORM_PLUGIN_PATH", ""):  # set by opencv-python for its own
        del os.environ["QT_QPA_PLATFORM_PLUGIN_PATH"]             # Qt; PySide6 must use its plugins
    app = QtWidgets.QApplication(sys.argv[:1])
    app.setQuitOnLastWindowClosed(False)
    if not QtWidgets.QSystemTrayIcon.isSystemTrayAvailable():
        log.warning("no system tray is running on this desktop; the icon will appear when one starts")
    tray = Tray(Controller(cfg), log_file)
    for sig in (signal.SIGINT, signal.SIGTERM):  # Ctrl-C and kill quit cleanly ...
        signal.signal(sig, lambda *_: tray.quit())
    wake = QtCore.QTimer()  # ... because Python gets a moment to run its handlers
    wake.timeout.connect(lambda: None)
    wake.start(200)
    tray.icon.show()
    log.info("tray ready; log: %s", log_file)
    if args.start:
        tray.toggle()
    return app.exec()
