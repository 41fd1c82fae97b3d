"""The tray's logic with Qt's offscreen platform: its menu drives the service from a worker
thread, shows errors and their fixes, offers other outputs, remembers choices, shows a preview
and the doctor report. tests/test_tray_real.py drives a real icon on an X display."""
import json
import os
import socket
import subprocess
import sys
import threading
import time

import cv2
import pytest

from conftest import REPO, assert_clean_error, real_frames, write_video
from vcam_sr.config import load_config
from vcam_sr.media.colour import to_rgb
from vcam_sr.sinks.virtualcam import video_devices

pytest.importorskip("PySide6", reason="the tray extra (PySide6-Essentials) is not installed")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from PySide6 import QtCore, QtWidgets  # noqa: E402

from vcam_sr import settings  # noqa: E402
from vcam_sr.apps.tray import build_config  # noqa: E402
from vcam_sr.apps.tray.devices import cameras, virtual_camera_found  # noqa: E402
from vcam_sr.apps.tray.menu import Tray  # noqa: E402
from vcam_sr.apps.tray.windows import TextDialog  # noqa: E402

FAST = {"backend": "bicubic", "camera.width": 96, "camera.height": 64}  # bicubic: the menu, not a model, is tested


@pytest.fixture(scope="module")
def app():
    return QtWidgets.QApplication.instance() or QtWidgets.QApplication([])


@pytest.fixture(autouse=True)
def own_config_folder(tmp_path, monkeypatch):
    """Settings and the login entry go to a folder of the test's own."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return tmp_path / "config"


@pytest.fixture
def make_tray(app):
    trays = []

    def make(cfg=None, output=None, **options):
        tray = Tray(cfg or load_config(None, {**FAST, **options}), output=output)
        trays.append(tray)
        return tray
    yield make
    for tray in trays:  # Quit, as the menu does it: the controller stops on the worker thread
        tray.quit()
        assert wait(app, lambda: not tray.calls.pending, 30)
        assert tray.controller.status()["state"] in ("stopped", "error")
        for dialog in tray.dialogs:
            dialog.close()


def wait(app, condition, seconds=20.0) -> bool:
    """Run Qt's events until `condition()` holds (True) or `seconds` pass (False)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        app.processEvents()
        if condition():
            return True
        time.sleep(0.01)
    return False


def settled(app, tray, seconds=30.0) -> bool:
    return wait(app, lambda: not tray.calls.pending and not tray.side_calls.pending, seconds)


def visible_dialog(tray):
    shown = [d for d in tray.dialogs if d.isVisible()]
    return shown[-1] if shown else None


def test_menu_actions_drive_the_service_and_the_menu_follows(app, make_tray, tmp_path, own_config_folder):
    clip = write_video(tmp_path / "clip.mp4", real_frames(30, 96, 64))
    tray = make_tray(source=str(clip), loop=True, sinks=["null"])
    status = tray.controller.status
    tray.actions["start"].trigger()
    assert tray.status_item.text() == "vcam-sr: starting…" and tray.actions["start"].text() == "Stop"
    assert settled(app, tray) and status()["state"] == "running", status()
    assert wait(app, lambda: status().get("frames", 0) > 5)
    tray.refresh()
    assert tray.actions["start"].text() == "Stop" and "running at" in tray.icon.toolTip()

    tray.actions["model:fast-clean"].trigger()
    assert settled(app, tray) and tray.controller.cfg.model == "fast-clean"
    tray.actions["source:test"].trigger()
    assert settled(app, tray) and tray.controller.cfg.source == "test"
    assert tray.actions["source:test"].isChecked()
    frames = status()["frames"]
    assert wait(app, lambda: status()["frames"] > frames + 5)  # still flowing

    tray.actions["login"].trigger()
    assert (own_config_folder / "autostart" / "vcam-sr.desktop").is_file()
    tray.actions["login"].trigger()
    assert not (own_config_folder / "autostart" / "vcam-sr.desktop").exists()

    tray.actions["start"].trigger()  # now Stop
    assert tray.status_item.text() == "vcam-sr: stopping…"
    assert settled(app, tray) and status()["state"] == "stopped" and tray.actions["start"].text() == "Start"


class HeldStream:
    """A local HTTP 'stream' that accepts a connection and answers nothing until released,
    so that opening it takes exactly as long as the test wants."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}/live.mjpg"
        self.connected, self.release = threading.Event(), threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        conn, _ = self.server.accept()
        self.connected.set()
        self.release.wait(30)
        conn.close()
        self.server.close()


def test_a_slow_controller_call_leaves_the_gui_thread_free(app, make_tray):
    """Switching to a stream that takes its time to open: the call runs on the worker thread,
    the menu says what is going on, the busy cursor shows, and Qt's events keep running."""
    tray = make_tray(source="test", sinks=["null"])
    tray.actions["start"].trigger()
    assert settled(app, tray) and tray.controller.status()["state"] == "running"
    stream = HeldStream()
    try:
        tray.choose_source(stream.url)  # the Source menu's path, as after "Video file…"
        assert tray.calls.pending == ["source"] and tray.status_item.text() == "vcam-sr: switching the source…"
        assert QtWidgets.QApplication.overrideCursor() is not None
        assert stream.connected.wait(10)
        fired = []
        QtCore.QTimer.singleShot(0, lambda: fired.append(True))
        assert wait(app, lambda: fired, 5), "Qt's events stopped while the source was opening"
        assert tray.calls.pending == ["source"]  # still opening: the server has not answered
    finally:
        stream.release.set()
    assert settled(app, tray)
    assert QtWidgets.QApplication.overrideCursor() is None
    assert tray.controller.status()["state"] == "running"  # the test pattern goes on
    assert tray.problem_item.isVisible() and tray.problem_item.text().startswith("Cannot read stream")


@pytest.mark.skipif(virtual_camera_found(), reason="a virtual camera exists here, so Start succeeds")
def test_without_a_virtual_camera_the_error_is_readable_and_other_outputs_are_offered(app, make_tray):
    tray = make_tray(source="test", sinks=["virtualcam"])
    tray.actions["start"].trigger()  # the model loads, then the virtual camera cannot be opened
    assert settled(app, tray) and wait(app, lambda: tray.controller.status()["state"] == "error")
    tray.refresh()  # as its timer does every second
    sentence = tray.controller.status()["error"]
    assert "sudo modprobe v4l2loopback" in sentence
    item = tray.problem_item
    assert item.isVisible() and item.isEnabled()  # not greyed: it opens the whole sentence
    assert item.text() == "No virtual camera device is available: details and fix…"
    assert "modprobe" not in tray.icon.toolTip()  # short: the notification has the sentence
    assert tray.actions["output:virtualcam"].text() == "Virtual camera (none found)"
    assert tray.actions["output:how"].isVisible()

    item.trigger()
    box = visible_dialog(tray)
    assert box.text() == "No virtual camera device is available"
    assert box.informativeText().startswith("Cause: ") and "sudo modprobe v4l2loopback" in box.informativeText()
    other = next(b for b in box.buttons() if b.text() == "Use the preview window")
    other.click()
    assert settled(app, tray) and tray.controller.status()["state"] == "running"
    assert tray.output == "preview" and tray.actions["output:preview"].isChecked()
    assert tray.preview_window.isVisible() and not tray.problem_item.isVisible()


def test_the_first_start_without_a_virtual_camera_outputs_to_the_preview_window():
    cfg, output = build_config(None, {"source": "test"}, {}, virtual_camera=False)
    assert output == "preview" and cfg.sinks == ["null"]
    cfg, output = build_config(None, {"source": "test"}, {}, virtual_camera=True)
    assert output == "virtualcam" and cfg.sinks == ["virtualcam"]
    cfg, output = build_config(None, {"source": "test", "sinks": ["virtualcam"]}, {"output": "preview"}, False)
    assert output == "virtualcam"  # a flag wins over what was remembered


def test_the_source_menu_checks_the_current_source_from_the_start(app, make_tray, tmp_path):
    clip = write_video(tmp_path / "talk.mp4", real_frames(5, 96, 64))
    tray = make_tray(source=str(clip), sinks=["null"])
    checked = [a.text() for a in tray.source_menu.actions() if a.isChecked()]
    assert checked == ["Video talk.mp4"]
    if not cameras():
        tray = make_tray(source=0, sinks=["null"])
        assert [a.text() for a in tray.source_menu.actions() if a.isChecked()] == ["Camera 0 (not connected)"]


def test_cameras_are_read_from_a_stand_in_sysfs(tmp_path):
    """A stand-in for /sys/class/video4linux (no camera here): a USB camera's picture node is
    offered, its metadata node and a v4l2loopback device are not."""
    real, virtual = tmp_path / "devices" / "usb1", tmp_path / "devices" / "virtual" / "video4linux"
    sysfs = tmp_path / "class"
    for parent, node, index, name in ((real, "video0", "0", "HD Pro Webcam"),
                                      (real, "video1", "1", "HD Pro Webcam"), (virtual, "video2", "0", "vcam-sr")):
        (parent / node).mkdir(parents=True)
        (parent / node / "index").write_text(index + "\n")
        (parent / node / "name").write_text(name + "\n")
        sysfs.mkdir(exist_ok=True)
        (sysfs / node).symlink_to(parent / node)
    assert cameras(sysfs) == [(0, "HD Pro Webcam")]
    assert virtual_camera_found(sysfs)


@pytest.mark.skipif(not video_devices(loopback=False), reason="no camera device here")
def test_the_source_menu_lists_this_machine_s_cameras(app, make_tray):
    tray = make_tray(source="test", sinks=["null"])
    offered = [a.text() for a in tray.source_menu.actions()]
    assert any(text.startswith("Camera ") for text in offered), offered


def test_choices_are_remembered_after_a_restart(app, make_tray, own_config_folder):
    tray = make_tray(source=0, sinks=["virtualcam"])
    for key in ("source:test", "model:fast", "output:preview", "camera:320x180"):
        tray.actions[key].trigger()
        assert settled(app, tray)
    tray.actions["poor_link"].trigger()
    assert settled(app, tray)
    saved = json.loads((own_config_folder / "vcam-sr" / "settings.json").read_text())
    assert saved == {"source": "test", "model": "fast", "output": "preview", "camera": "320x180",
                     "poor_link": True}
    assert [p.name for p in (own_config_folder / "vcam-sr").iterdir()] == ["settings.json"]  # no temporary left

    again = make_tray(*build_config(None, {"backend": "bicubic"}, settings.load(), virtual_camera=True))
    checked = {key for key, a in again.actions.items() if getattr(a, "isChecked", lambda: False)()}
    assert {"source:test", "model:fast", "output:preview", "camera:320x180", "poor_link"} <= checked


def test_unreadable_settings_are_ignored_not_fatal(own_config_folder):
    folder = own_config_folder / "vcam-sr"
    folder.mkdir(parents=True)
    (folder / "settings.json").write_text("{not json")
    assert settings.load() == {}
    (folder / "settings.json").write_text(json.dumps({"source": True, "model": "fast", "colour": "red"}))
    assert settings.load() == {"model": "fast"}
    cfg, _ = build_config(None, {}, {"model": "no-such-model", "camera": "5x5"}, True)  # 5x5 is refused
    assert cfg.camera.width == 640


def test_poor_link_keeps_the_output_size_and_the_running_camera(app, make_tray):
    tray = make_tray(source="test", sinks=["null"], **{"camera.width": 160, "camera.height": 96})
    tray.actions["start"].trigger()
    tray.actions["preview"].trigger()
    assert settled(app, tray) and tray.controller.status()["state"] == "running"
    run = tray.controller.last_run

    def newest_pair(after):
        assert wait(app, lambda: tray.preview.newest()[1] > after)
        return tray.preview.newest()

    def detail(frame):  # the zone plate's fine rings: what a poor link loses first
        grey = cv2.cvtColor(to_rgb(frame), cv2.COLOR_RGB2GRAY)  # the camera's frames come as planes
        return float(cv2.Laplacian(grey[:, 96:], cv2.CV_32F).var())

    (before, after), count = newest_pair(0)
    assert after.shape == (192, 320, 3)
    tray.actions["poor_link"].trigger()
    assert settled(app, tray) and tray.controller.cfg.degrade == 0.5
    count = tray.preview.newest()[1]
    (poor_before, poor_after), _ = newest_pair(count + 6)  # past the frames in flight
    assert poor_after.shape == (192, 320, 3) and tray.controller.last_run is run  # no restart
    assert poor_before.shape == (48, 80, 3)  # the link delivers half the camera's size
    assert detail(poor_after) < 0.7 * detail(after)
    assert tray.actions["poor_link"].isChecked()


def test_the_tooltip_says_when_frames_are_dropped_and_what_to_do(app, make_tray):
    """A source at 240 fps of 1280x720 is more than any upscaler here keeps up with."""
    tray = make_tray(source="test", sinks=["null"],
                     **{"camera.width": 1280, "camera.height": 720, "camera.fps": 240})
    tray.actions["start"].trigger()
    assert settled(app, tray) and tray.controller.status()["state"] == "running"
    assert wait(app, lambda: "of 240 fps" in tray.icon.toolTip(), 20), tray.icon.toolTip()
    assert "the model is too slow for this input" in tray.icon.toolTip()
    assert "choose a smaller camera size or the fast model" in tray.icon.toolTip()
    assert tray.status_item.text().endswith("too slow")


def test_the_preview_is_a_window_of_the_tray_drawn_at_the_frame_rate(app, make_tray):
    tray = make_tray(source="test", sinks=["null"], **{"camera.width": 160, "camera.height": 96})
    tray.actions["start"].trigger()
    tray.actions["preview"].trigger()
    window = tray.preview_window
    assert window.isVisible() and tray.preview.watched and window.timer.isActive()
    assert settled(app, tray) and wait(app, lambda: window.drawn >= 5)
    picture = window.grab().toImage()
    assert picture.pixelColor(window.width() // 4, window.height() // 2) != picture.pixelColor(0, 0)
    window.close()  # as its close button does
    assert not tray.actions["preview"].isChecked() and not tray.preview.watched and not window.timer.isActive()
    assert tray.controller.status()["state"] == "running"  # the null sink still runs


def test_closing_the_preview_stops_a_preview_only_run(app, make_tray):
    tray = make_tray(output="preview", source="test", sinks=["null"])
    tray.actions["start"].trigger()
    assert tray.preview_window.isVisible()  # Start opens it: it is the output
    assert settled(app, tray) and tray.controller.status()["state"] == "running"
    tray.preview_window.close()
    assert settled(app, tray) and tray.controller.status()["state"] == "stopped"


def test_open_log_says_where_the_log_is_when_no_application_opens_it(app, tmp_path):
    """Qt's offscreen platform opens no documents, like a desktop without a handler."""
    log_file = tmp_path / "vcam-sr.log"
    log_file.write_text("a line\n")
    tray = Tray(load_config(None, {**FAST, "source": "test", "sinks": ["null"]}), log_file)
    tray.actions["log"].trigger()
    box = visible_dialog(tray)
    assert box is not None and str(log_file) in box.informativeText()
    box.close()


def test_the_doctor_report_runs_off_the_gui_thread_and_shows_in_a_fixed_font(app, make_tray):
    tray = make_tray(source="test", sinks=["null"])
    tray.actions["doctor"].trigger()
    assert tray.side_calls.pending == ["doctor"] and QtWidgets.QApplication.overrideCursor() is not None
    assert tray.status_item.text() == "vcam-sr: preparing the doctor report…"
    assert settled(app, tray, 120)
    dialog = visible_dialog(tray)
    assert isinstance(dialog, TextDialog)
    text = dialog.view.toPlainText()
    assert "Virtual cameras:" in text and "--model auto at" in text
    assert dialog.view.font().fixedPitch() or dialog.view.font().family().lower() == "monospace"
    assert dialog.view.lineWrapMode() == dialog.view.LineWrapMode.NoWrap
    assert QtWidgets.QApplication.overrideCursor() is None


def test_quit_has_a_separator_before_it(make_tray):
    items = make_tray(source="test", sinks=["null"]).menu.actions()
    assert items[-1].text() == "Quit" and items[-2].isSeparator()



@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11 / Wayland sessions are Linux's")
def test_the_tray_without_a_desktop_session_says_so_instead_of_aborting(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env["XDG_STATE_HOME"] = str(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "vcam_sr.cli", "tray", "--source", "test", "--sink", "null"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert_clean_error(proc, "needs a desktop session", "DISPLAY")


def test_recording_to_a_file_never_replaces_an_earlier_recording(app, make_tray, tmp_path):
    tray = make_tray(source="test", sinks=["null"])
    tray.choose_output(f"file:{tmp_path / 'call.mp4'}")  # what Record to file… does with the chosen name
    assert settled(app, tray) and tray.actions["output:file"].isChecked()
    assert tray.actions["output:file"].text() == "Record to call.mp4…"
    for expected in ("call.mp4", "call-2.mp4"):
        tray.actions["start"].trigger()
        assert settled(app, tray) and wait(app, lambda: tray.controller.status().get("frames", 0) > 3)
        tray.actions["start"].trigger()  # Stop
        assert settled(app, tray) and (tmp_path / expected).is_file()
    assert sorted(p.name for p in tmp_path.glob("call*")) == ["call-2.mp4", "call.mp4"]
