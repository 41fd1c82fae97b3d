"""The tray icon and its menu, a thin layer over vcam_sr.controller.Controller. Every controller
call runs on a worker thread (calls.py); the menu shows 'starting…' and a busy cursor meanwhile,
and the outcome when the call ends. Choices are remembered (vcam_sr.settings)."""
from __future__ import annotations

import logging
import time
from collections import deque
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from vcam_sr.atomic import free_name
from vcam_sr import settings
from vcam_sr.commands import autostart
from vcam_sr.config import Config
from vcam_sr.models import shipped
from vcam_sr.controller import ERROR, RUNNING, STARTING, Controller
from vcam_sr.sinks.virtualcam import setup_help
from vcam_sr.apps.tray import words
from vcam_sr.apps.tray.calls import Calls
from vcam_sr.apps.tray.devices import cameras, virtual_camera_found
from vcam_sr.apps.tray.windows import PreviewFeed, PreviewWindow, TextDialog, message, state_icon

log = logging.getLogger("vcam_sr.apps.tray")
COLOURS = {"stopped": "#8a8a8a", STARTING: "#e0a020", RUNNING: "#2fa84f", ERROR: "#d03030"}
POOR_LINK, GOOD_LINK = {"degrade": 0.5, "degrade_jpeg": 40}, {"degrade": 1.0, "degrade_jpeg": None}
CAMERA_SIZES = ["1920x1080", "1280x720", "960x540", "640x360", "320x180"]
BUSY = {"start": "starting", "stop": "stopping", "quit": "stopping", "source": "switching the source",
        "model": "loading the model", "output": "changing the output", "camera": "changing the camera size",
        "link": "changing the link"}
NOTICE_MS = 12000  # how long a notification stays; the tooltip keeps quiet meanwhile
Box = QtWidgets.QMessageBox


def output_of(sinks: list[str]) -> str:
    """The output as the menu knows it: virtualcam, file:PATH, or the sinks as given (such as
    null). "preview" (the window only) runs the null sink."""
    return sinks[0] if len(sinks) == 1 and sinks[0].startswith("file:") else ",".join(sinks)


class Tray(QtCore.QObject):
    def __init__(self, cfg: Config, log_file: Path | None = None, output: str | None = None):
        """`output`: virtualcam, preview, file:PATH; by default what `cfg.sinks` say."""
        super().__init__()
        self.log_file, self.output = log_file, output or output_of(cfg.sinks)
        self.preview = PreviewFeed()
        self.controller = Controller(cfg, [self.preview])
        self.calls, self.side_calls = Calls("tray-call", self), Calls("tray-side", self)
        self.calls.done.connect(self._ended)
        self.side_calls.done.connect(self._ended)
        self.problem: str | None = None  # the latest failed call's sentence
        self.dialogs: list[QtWidgets.QWidget] = []  # open message boxes and reports, kept alive
        self._notified, self._quiet_until, self._quitting, self._cursor = None, 0.0, False, False
        self._samples: deque = deque()  # (time, frames, dropped) of the last seconds of a run
        self._source_group: QtGui.QActionGroup | None = None
        self._dismissed: str | None = None  # a failed start's sentence that a later choice answered
        self.preview_window = PreviewWindow(self.preview, self._fps)
        self.preview_window.closed.connect(self._preview_closed)
        self.icons = {state: state_icon(colour) for state, colour in COLOURS.items()}
        self.icon = QtWidgets.QSystemTrayIcon(self.icons["stopped"])
        self.menu, self.actions = QtWidgets.QMenu(), {}
        self._build_menu()
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._clicked)
        self.icon.messageClicked.connect(self.show_problem)
        self.timer = QtCore.QTimer(self)
        self.timer.timeout.connect(self.refresh)
        self.timer.start(1000)
        self.refresh()

    # -- the menu ------------------------------------------------------------------------------
    def _build_menu(self) -> None:
        add = self._add
        self.status_item = add("status", "vcam-sr: stopped", None)
        self.status_item.setEnabled(False)
        self.problem_item = add("problem", "", self.show_problem)
        warning = QtWidgets.QStyle.StandardPixmap.SP_MessageBoxWarning
        self.problem_item.setIcon(self.menu.style().standardIcon(warning))
        add("start", "Start", self.toggle)
        self.menu.addSeparator()
        self.source_menu = self.menu.addMenu("Source")
        self.source_menu.aboutToShow.connect(self._fill_sources)
        labels = {"clean": "for clean input", "robust": "for webcam and call input"}
        self._group("Model", "model", [("auto (picks per source and machine)", "auto")] +
                    [(f"{m.name} ({labels.get(m.variant, m.variant)})", m.name) for m in shipped()],
                    lambda name: self._call("model", self.controller.switch_model, name))
        self._group("Output", "output", [("Virtual camera", "virtualcam"), ("Preview window only", "preview"),
                                         ("Record to file…", "file")], self.choose_output)
        if not virtual_camera_found():
            self.actions["output:virtualcam"].setText("Virtual camera (none found)")
            self.actions["menu:output"].addSeparator()
            add("output:how", "How to add a virtual camera…", self.show_setup, menu=self.actions["menu:output"])
        self._group("Camera size", "camera", [(size, size) for size in CAMERA_SIZES], self.choose_camera_size)
        add("poor_link", "Simulate poor link", self.toggle_poor_link, checked=False)
        add("preview", "Preview window", self.toggle_preview, checked=False)
        self.menu.addSeparator()
        add("doctor", "Doctor report…", self.show_doctor)
        add("log", "Open log", self.open_log)
        add("login", "Start at login", self.toggle_login, checked=autostart.enabled())
        self.menu.addSeparator()
        add("quit", "Quit", self.quit)
        self._fill_sources()

    def _add(self, key, text, slot, checked=None, menu=None) -> QtGui.QAction:
        action = (menu or self.menu).addAction(text)
        if checked is not None:
            action.setCheckable(True)
            action.setChecked(checked)
        if slot is not None:
            action.triggered.connect(slot)
        self.actions[key] = action
        return action

    def _group(self, title, key, options, choose, menu=None) -> QtGui.QActionGroup:
        """A submenu of exclusive choices; the check follows the controller (`_sync_checks`)."""
        menu = menu or self.menu.addMenu(title)
        self.actions[f"menu:{key}"] = menu
        group = QtGui.QActionGroup(menu)
        for text, value in options:
            action = self._add(f"{key}:{value}", text, lambda _=False, v=value: choose(v), checked=False,
                               menu=menu)
            group.addAction(action)
        return group

    def _fill_sources(self) -> None:
        """Each time the Source menu opens: the cameras there now, the test pattern, the screen,
        and the current source if it is none of these (a file, a stream, a camera unplugged)."""
        for key in [k for k in self.actions if k.startswith("source:")]:
            del self.actions[key]
        self.source_menu.clear()
        if self._source_group is not None:
            self._source_group.deleteLater()
        options = [(f"Camera {i}: {name}", str(i)) for i, name in cameras()]
        options += [("Test pattern", "test"), ("Screen", "screen")]
        current = str(self.controller.cfg.source)
        if current not in [value for _, value in options]:
            what = (f"Camera {current} (not connected)" if current.isdigit() else f"Screen {current[7:]}"
                    if current.startswith("screen:") else f"Stream {current}" if "://" in current
                    else f"Video {Path(current).name}")
            options.append((what, current))
        self._source_group = self._group("Source", "source", options + [("Video file…", None)],
                                         self.choose_source, self.source_menu)
        self._sync_checks()

    def _sync_checks(self) -> None:
        cfg = self.controller.cfg
        recording = self.output.startswith("file:")
        current = {"source": str(cfg.source), "model": cfg.model, "output": "file" if recording else self.output,
                   "camera": f"{cfg.camera.width}x{cfg.camera.height}"}
        for key, action in self.actions.items():
            kind, _, value = key.partition(":")
            if kind in current and action.isCheckable():
                action.setChecked(value == current[kind])
        self.actions["output:file"].setText(f"Record to {Path(self.output[5:]).name}…" if recording
                                            else "Record to file…")
        self.actions["poor_link"].setChecked(cfg.degrade < 1 or bool(cfg.degrade_jpeg))
        self.actions["preview"].setChecked(self.preview_window.isVisible())

    # -- menu actions --------------------------------------------------------------------------
    def toggle(self) -> None:
        if self.controller.status()["state"] in (RUNNING, STARTING) or "start" in self.calls.pending:
            self.stop()
        else:
            self.start()

    def start(self) -> None:
        self.problem = self._notified = None
        sinks = self._sinks()
        if self.output == "preview":
            self.toggle_preview(True)
        self._call("start", lambda: (self.controller.reconfigure(sinks=sinks), self.controller.start(wait=True)))
        self._dismissed = None  # the same failure again is news

    def stop(self) -> None:
        self.controller.request_stop()  # at once, so that a start still loading is called off
        self._call("stop", self.controller.stop)

    def choose_source(self, spec) -> None:
        if spec is None:  # "Video file…"
            spec, _ = QtWidgets.QFileDialog.getOpenFileName(None, "Upscale a video file", str(Path.home()),
                                                            "Videos (*.mp4 *.mkv *.mov *.avi *.webm);;All (*)")
            if not spec:
                return self._sync_checks()
        self._call("source", self.controller.switch_source, spec)

    def choose_output(self, output: str) -> None:
        if output == "file":
            path, _ = QtWidgets.QFileDialog.getSaveFileName(
                None, "Record the upscaled video to", str(Path.home() / "vcam-sr.mp4"),
                "Video (*.mp4 *.mkv *.mov)", options=QtWidgets.QFileDialog.Option.DontConfirmOverwrite)
            if not path:
                return self._sync_checks()
            output = f"file:{path if Path(path).suffix else path + '.mp4'}"
        self.output = output
        running = self.controller.status()["state"] == RUNNING
        if output == "preview" and running:
            self.toggle_preview(True)
        self._call("output", self.controller.reconfigure, sinks=self._sinks())

    def choose_camera_size(self, size: str) -> None:
        width, height = (int(v) for v in size.split("x"))
        camera = {**self.controller.cfg.camera.model_dump(), "width": width, "height": height}
        self._call("camera", self.controller.reconfigure, camera=camera)

    def toggle_poor_link(self, on: bool) -> None:
        self._call("link", self.controller.reconfigure, **(POOR_LINK if on else GOOD_LINK))

    def toggle_preview(self, on: bool) -> None:
        if on:
            self.preview_window.show()
            self.preview_window.raise_()
        else:
            self.preview_window.close()
        self.actions["preview"].setChecked(on)

    def toggle_login(self, on: bool) -> None:
        try:
            autostart.set_enabled(on)
        except OSError as exc:
            self.problem = f"could not change the login entry {autostart.entry_path()} ({exc.strerror or exc})"
        self.actions["login"].setChecked(autostart.enabled())
        self.refresh()

    def show_doctor(self) -> None:
        from vcam_sr.commands.doctor import report

        self.side_calls.run("doctor", report)
        self._busy_cursor()
        self.refresh()

    def open_log(self) -> None:
        """The log in the desktop's application for text; where there is none, where it is."""
        opener = QtGui.QDesktopServices.openUrl
        if self.log_file is not None and opener(QtCore.QUrl.fromLocalFile(str(self.log_file))):
            return
        details = (f"It is {self.log_file}; open it with a text editor (the path can be copied from here)."
                   if self.log_file else "This tray was started without a log file.")
        self._show(message(Box.Icon.Information, "No application could open the log", details))

    def show_problem(self) -> None:
        """The whole sentence of the current error, its fix, and, when the virtual camera was the
        output, the other outputs as buttons."""
        problem = self._problem()
        if problem is None:
            return
        box = message(Box.Icon.Warning, words.headline(problem), words.explanation(problem))
        if self.output == "virtualcam":
            box.addButton("Use the preview window", Box.ButtonRole.AcceptRole).clicked.connect(
                lambda: (self.choose_output("preview"), self.start()))
            box.addButton("Record to file…", Box.ButtonRole.ActionRole).clicked.connect(
                lambda: self.choose_output("file"))
        self._show(box)

    def show_setup(self) -> None:
        self._show(message(Box.Icon.Information, "No virtual camera device was found",
                           f"Zoom, Meet and Teams see vcam-sr through a virtual camera. To create one, "
                           f"{setup_help()}. Until then, choose Preview window only or Record to file…"))

    def quit(self) -> None:
        if self._quitting:
            return
        self._quitting = True
        self.timer.stop()
        self.icon.hide()
        self.preview_window.hide()
        self.controller.request_stop()
        self._call("quit", self.controller.stop)

    # -- calls and their outcome -------------------------------------------------------------------
    def _call(self, what: str, call, *args, **kwargs) -> None:
        self._dismissed = self.controller.status()["error"]  # a new choice answers the last failed start
        self.calls.run(what, lambda: call(*args, **kwargs))
        self._busy_cursor()
        self.refresh()

    @QtCore.Slot(str, object, object)
    def _ended(self, what: str, result, error) -> None:
        self._busy_cursor()
        if what == "quit":
            self.calls.shutdown()
            self.side_calls.shutdown()
            QtWidgets.QApplication.quit()
            return
        if what == "doctor":
            self._show(TextDialog("vcam-sr doctor", result) if error is None else
                       message(Box.Icon.Warning, "The doctor report failed", error))
        elif error is not None:
            self.problem = error
        elif what in ("source", "model", "output", "camera", "link"):
            self.problem = None
            self.remember()
        if what == "stop" and self.output.startswith("file:") and error is None:
            run = self.controller.last_run
            saved = next((s.path for s in (run.sinks if run else []) if hasattr(s, "path")), None)
            if saved is not None and saved.is_file():
                self._notify("Recording saved", str(saved), QtWidgets.QSystemTrayIcon.MessageIcon.Information)
        self.refresh()

    def remember(self) -> None:
        cfg = self.controller.cfg
        settings.save({"source": cfg.source, "model": cfg.model, "output": self.output,
                       "camera": f"{cfg.camera.width}x{cfg.camera.height}",
                       "poor_link": cfg.degrade < 1 or bool(cfg.degrade_jpeg)})

    def _busy_cursor(self) -> None:
        busy = bool(self.calls.pending or self.side_calls.pending)
        if busy != self._cursor:
            self._cursor = busy
            if busy:
                QtWidgets.QApplication.setOverrideCursor(QtCore.Qt.CursorShape.BusyCursor)
            else:
                QtWidgets.QApplication.restoreOverrideCursor()

    # -- showing the state ---------------------------------------------------------------------------
    def refresh(self) -> None:
        """Icon colour, status line, problem item, tooltip, Start/Stop and the check marks."""
        status = self.controller.status()
        state = self._state(status)
        busy = next(iter(self.calls.pending[-1:] or self.side_calls.pending[-1:]), None)
        self._sample(status)
        if busy in BUSY or busy == "doctor":
            line = tip = f"vcam-sr: {BUSY.get(busy, 'preparing the doctor report')}…"
        elif state == RUNNING:
            target = self.controller.last_run.fps if self.controller.last_run else None
            model = "none (bicubic)" if status.get("upscaler", "").startswith("bicubic") else status.get("model")
            line, tip = words.running(status.get("fps", 0.0), target, self._dropping(), model,
                                      words.output_name(self.output))
        elif state == ERROR:
            line, tip = "vcam-sr: could not start", "vcam-sr: could not start; the menu says why and how to fix it"
        else:
            line = tip = f"vcam-sr: {state}"
        self.icon.setIcon(self.icons[STARTING if busy in BUSY else state])
        self.status_item.setText(line)
        self.icon.setToolTip("" if time.monotonic() < self._quiet_until else tip)
        problem = self._problem()
        self.problem_item.setVisible(problem is not None)
        if problem is not None:
            self.problem_item.setText(f"{words.headline(problem)}: details and fix…")
            if problem != self._notified:
                self._notified = problem
                self._notify("vcam-sr: " + words.headline(problem), problem[:1].upper() + problem[1:],
                             QtWidgets.QSystemTrayIcon.MessageIcon.Warning)
        running = state in (RUNNING, STARTING) or "start" in self.calls.pending
        self.actions["start"].setText("Stop" if running else "Start")
        self._sync_checks()

    def _state(self, status: dict) -> str:
        """The controller's state; a failed start that a later choice answered reads as stopped."""
        return "stopped" if status["state"] == ERROR and status["error"] == self._dismissed else status["state"]

    def _problem(self) -> str | None:
        status = self.controller.status()
        return status["error"] if self._state(status) == ERROR else self.problem

    def _notify(self, title: str, text: str, icon) -> None:
        """A notification; the tooltip stays empty while it shows, so it never covers it."""
        if self.icon.isVisible() and self.icon.supportsMessages():
            self._quiet_until = time.monotonic() + NOTICE_MS / 1000
            self.icon.setToolTip("")
            self.icon.showMessage(title, text, icon, NOTICE_MS)

    def _sample(self, status: dict) -> None:
        """Keep the last 3 s of (time, frames, dropped) of this run, to tell whether it drops."""
        now = time.monotonic()
        if status["state"] != RUNNING or (self._samples and status.get("frames", 0) < self._samples[-1][1]):
            self._samples.clear()
        if status["state"] == RUNNING:
            self._samples.append((now, status.get("frames", 0), status.get("dropped", 0)))
            while now - self._samples[0][0] > 3.0:
                self._samples.popleft()

    def _dropping(self) -> bool:
        return len(self._samples) > 1 and self._samples[-1][2] > self._samples[0][2]

    def _fps(self) -> float:
        run = self.controller.last_run
        return run.fps if run is not None else self.controller.cfg.camera.fps

    def _sinks(self) -> list[str]:
        if self.output == "preview":
            return ["null"]
        if self.output.startswith("file:"):  # a new name if that recording exists: never replaced
            return [f"file:{free_name(Path(self.output[5:]).expanduser())}"]
        return self.output.split(",")

    def _preview_closed(self) -> None:
        self.actions["preview"].setChecked(False)
        if self.output == "preview" and self.controller.status()["state"] in (RUNNING, STARTING):
            self.stop()  # nothing else shows the frames

    def _show(self, widget: QtWidgets.QWidget) -> None:
        self.dialogs = [d for d in self.dialogs if d.isVisible()] + [widget]
        widget.show()
        widget.raise_()

    def _clicked(self, reason) -> None:
        if reason == QtWidgets.QSystemTrayIcon.ActivationReason.Trigger:  # a left click opens it too
            self.menu.popup(QtGui.QCursor.pos())
