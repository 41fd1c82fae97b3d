"""The real tray: `vcam-sr tray` on an X display (Xvfb) with a system tray (trayer), driven with
the mouse and keyboard (xdotool) as a user would, and seen in screenshots (imagemagick). Set
VCAM_SR_SCREENSHOTS=FOLDER to keep the pictures (docs/tray-*.png come from them)."""
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO

pytest.importorskip("PySide6", reason="the tray extra (PySide6-Essentials) is not installed")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not all(shutil.which(t) for t in ("trayer", "xdotool", "import")),
                                 reason="trayer, xdotool or imagemagick missing (.ci/run installs them)")]
KEEP = os.environ.get("VCAM_SR_SCREENSHOTS")


@pytest.fixture(scope="module")
def desktop(xvfb, tmp_path_factory):
    """A system tray on the display (and, for the kept pictures, window frames from openbox)."""
    env = {**os.environ, "DISPLAY": xvfb, "QT_QPA_PLATFORM": "xcb"}
    env.pop("WAYLAND_DISPLAY", None)
    helpers = []

    def running(name: str) -> bool:
        return subprocess.run(["xdotool", "search", "--class", name], env=env, capture_output=True,
                              timeout=10).returncode == 0
    if KEEP and shutil.which("openbox"):
        helpers.append(subprocess.Popen(["openbox"], env=env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL))
        assert wait(lambda: running("openbox"), 20), "openbox did not start"
    errors = tmp_path_factory.mktemp("trayer") / "stderr"
    with errors.open("w") as err:
        helpers.append(subprocess.Popen(["trayer", "--edge", "top", "--align", "left", "--width", "10", "--height",
                                         "40", "--SetDockType", "true", "--transparent", "false", "--tint",
                                         "0x202020"], env=env, stderr=err))
    assert wait(lambda: running("trayer"), 20), f"trayer did not start: {errors.read_text()}"
    yield env
    for helper in helpers:
        helper.terminate()
        helper.wait(timeout=10)


def wait(condition, seconds=30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def shot(env, path) -> np.ndarray:
    subprocess.run(["import", "-window", "root", str(path)], env=env, check=True, timeout=30)
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB")).astype(int)


def stable_shot(env, path: Path) -> np.ndarray:
    """A screenshot once two in a row agree (a tooltip or a window still being drawn settles)."""
    previous = shot(env, path)
    for _ in range(20):
        current = shot(env, path)
        if len(changed(current, previous)) == 0:
            return current
        previous = current
    return previous


def changed(a, b) -> np.ndarray:
    return np.argwhere(np.abs(a - b).sum(axis=2) > 60)


def keep(path, name, crop=None) -> None:
    if KEEP:
        from PIL import Image

        picture = Image.open(path)
        (picture.crop(crop) if crop else picture).save(Path(KEEP) / name)


def xdo(env, *args) -> str:
    return subprocess.run(["xdotool", *args], env=env, check=True, capture_output=True, text=True,
                          timeout=20).stdout


def window(env, name: str) -> str | None:
    found = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", name], env=env,
                           capture_output=True, text=True, timeout=20).stdout.split()
    return found[0] if found else None


def shown_window(env, name: str) -> str | None:
    """The window's id once it is shown (a window manager re-maps a new window a moment after
    it first appears, when a search finds nothing)."""
    found = []
    wait(lambda: found.append(window(env, name)) or found[-1] is not None, seconds=20)
    return found[-1] if found else None


class RealTray:
    """`vcam-sr tray ARGS` in a process of its own; its log lines are collected as they come."""

    def __init__(self, env, tmp_path, *args):
        self.env = {**env, "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_STATE_HOME": str(tmp_path / "state")}
        self.lines, self.cond = [], threading.Condition()
        self.before = shot(env, tmp_path / "before.png")
        self.proc = subprocess.Popen([sys.executable, "-m", "vcam_sr.cli", "tray", *args], cwd=REPO,
                                     env=self.env, stderr=subprocess.PIPE, text=True)
        threading.Thread(target=self._read, daemon=True).start()
        assert self.saw("tray ready"), self.log()
        self.tmp = tmp_path
        assert wait(lambda: len(self._icon_pixels()) > 100), "no icon in the tray"
        assert wait(lambda: self._icon_window() is not None), "no icon window in the tray"
        self.icon = self._icon_window()

    def _icon_window(self) -> tuple[int, int] | None:
        """The centre (x, y) of the tray's icon window docked in the bar, from X itself: a
        notification balloon drawn over the bar would move a centre taken from pixels."""
        windows = subprocess.run(["xdotool", "search", "--onlyvisible", "--pid", str(self.proc.pid)],
                                 env=self.env, capture_output=True, text=True, timeout=20).stdout.split()
        for found in windows:
            shape = dict(line.split("=") for line in xdo(self.env, "getwindowgeometry", "--shell", found).split())
            x, y, w, h = (int(shape[k]) for k in ("X", "Y", "WIDTH", "HEIGHT"))
            if y + h <= 40 and w <= 64:
                return x + w // 2, y + h // 2
        return None

    def _icon_pixels(self) -> np.ndarray:
        """What changed inside the tray's bar (where trayer docks, drawn before the tray started;
        a notification balloon below it, which may already show, is not the icon)."""
        bar = self.before[:40].sum(axis=2) > 60
        moved = changed(shot(self.env, self.tmp / "icon.png")[:40], self.before[:40])
        return moved[bar[moved[:, 0], moved[:, 1]]]

    def _read(self):
        for line in self.proc.stderr:
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()

    def saw(self, text: str, seconds: float = 60) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: any(text in line for line in self.lines), timeout=seconds)

    def log(self) -> str:
        with self.cond:
            return "".join(self.lines)

    def open_menu(self) -> np.ndarray:
        """Right-click the icon; returns the screen once the menu shows (it opens down and right
        of the icon, above where the preview window is drawn)."""
        x, y = self.icon
        near = (slice(y + 10, y + 220), slice(x + 5, x + 150))
        for _ in range(3):  # a click that lands while another window takes the pointer grab is lost
            self.click_away()
            quiet = stable_shot(self.env, self.tmp / "quiet.png")[near]
            xdo(self.env, "mousemove", str(x), str(y), "click", "3")
            opened = wait(lambda: len(changed(shot(self.env, self.tmp / "menu.png")[near], quiet)) > 5000,
                          seconds=10)
            if opened:
                break
        assert opened, "no menu opened"
        return shot(self.env, self.tmp / "menu.png")

    def click_away(self) -> None:
        """Close an open menu by clicking the bare screen (Escape would also close a dialog that a
        window manager has focused)."""
        xdo(self.env, "mousemove", "1000", "740", "click", "1")

    def choose(self, *keys: str) -> None:
        """Open the menu and walk it with the keyboard (Down, Right, Return)."""
        self.open_menu()
        xdo(self.env, "key", "--delay", "150", *keys)

    def settings(self) -> dict:
        path = self.tmp / "config" / "vcam-sr" / "settings.json"
        return json.loads(path.read_text()) if path.is_file() else {}

    def quit(self) -> None:
        self.proc.terminate()
        assert self.proc.wait(timeout=30) == 0, self.log()  # SIGTERM quits the tray cleanly


@pytest.fixture
def real_tray(desktop, tmp_path):
    trays = []

    def start(*args, **env):
        trays.append(RealTray({**desktop, **env}, tmp_path, *args))
        return trays[-1]
    yield start
    for tray in trays:
        if tray.proc.poll() is None:
            tray.quit()


def test_real_tray_icon_shows_and_a_click_opens_its_menu(real_tray):
    tray = real_tray("--source", "test", "--sink", "null", "--backend", "bicubic")
    tray.open_menu()
    keep(tray.tmp / "menu.png", "tray-menu.png", (0, 0, 420, 340))
    xdo(tray.env, "key", "Escape")


def test_real_tray_preview_is_a_qt_window_of_its_own(real_tray):
    """With OpenCV's Qt plugin path in the environment, as opencv-python sets it: the preview
    window shows frames and the tray lives on."""
    import cv2

    tray = real_tray("--source", "test", "--sink", "window", "--backend", "onnxruntime", "--start",
                     QT_QPA_PLATFORM_PLUGIN_PATH=str(Path(cv2.__file__).parent / "qt" / "plugins"))
    assert tray.saw("running:"), tray.log()
    assert wait(lambda: window(tray.env, "vcam-sr preview") is not None), "no preview window"
    geometry = xdo(tray.env, "getwindowgeometry", window(tray.env, "vcam-sr preview"))
    assert "960x270" in geometry, geometry

    def drawn():
        screen = shot(tray.env, tray.tmp / "preview.png")
        return screen[300:500, 100:900].std() > 30  # the test pattern, not an empty window
    assert wait(drawn), "the preview window shows no frames"
    assert tray.proc.poll() is None, tray.log()
    keep(tray.tmp / "preview.png", "tray-preview.png", (24, 236, 1000, 552))


@pytest.mark.skipif(Path("/sys/devices/virtual/video4linux").is_dir(), reason="a virtual camera exists here")
def test_real_tray_without_a_virtual_camera_explains_and_switches_to_the_preview(real_tray):
    tray = real_tray("--source", "test", "--sink", "virtualcam", "--backend", "bicubic", "--start")
    assert tray.saw("no virtual camera device is available"), tray.log()
    notice = wait(lambda: len(changed(shot(tray.env, tray.tmp / "notice.png"), tray.before)) > 5000)
    assert notice, "no notification"
    keep(tray.tmp / "notice.png", "notice.png", (0, 0, 520, 240))
    y, x = changed(stable_shot(tray.env, tray.tmp / "notice.png"), tray.before).mean(axis=0).astype(int)
    xdo(tray.env, "mousemove", str(x), str(y), "click", "1")  # clicking the notification: the details
    assert shown_window(tray.env, "^vcam-sr$"), "no details box"
    if KEEP:  # beside the menu in the picture, as a user might drag it
        xdo(tray.env, "windowmove", "--sync", shown_window(tray.env, "^vcam-sr$"), "430", "60")
    tray.open_menu()  # the menu's error line, beside the details box
    keep(tray.tmp / "menu.png", "tray-error.png", (0, 0, 880, 330))
    tray.click_away()
    box = shown_window(tray.env, "^vcam-sr$")
    xdo(tray.env, "windowfocus", "--sync", box, "key", "Return")  # its default: "Use the preview window"
    assert tray.saw("-> null, preview"), tray.log()
    assert wait(lambda: window(tray.env, "vcam-sr preview") is not None), "no preview window"
    assert wait(lambda: tray.settings().get("output") == "preview"), tray.settings()


def test_real_tray_remembers_choices_after_a_restart(real_tray, tmp_path):
    first = real_tray("--source", "test", "--backend", "bicubic")
    first.choose("Down", "Down", "Down", "Down", "Down", "Right", "Down", "Down", "Down", "Down", "Return")
    assert wait(lambda: first.settings().get("camera") == "320x180"), first.settings()
    first.choose("Down", "Down", "Down", "Down", "Down", "Down", "Return")
    assert wait(lambda: first.settings().get("poor_link") is True), first.settings()
    first.choose("Down", "Down", "Down", "Right", "Down", "Return")
    assert wait(lambda: first.settings().get("model") == "fast"), first.settings()
    first.quit()

    again = real_tray("--backend", "onnxruntime", "--start")
    assert again.saw("running: test pattern 320x180 @ 30 fps through a simulated poor link"), again.log()
    assert "model fast.onnx" in again.log()
    assert wait(lambda: window(again.env, "vcam-sr preview") is not None)  # the output chosen on first start
    again.open_menu()
    keep(again.tmp / "menu.png", "tray-running.png", (0, 0, 1024, 560))
    x, y = again.icon
    beside = (slice(y + 10, y + 220), slice(x + 170, x + 400))  # where the submenu opens
    menu = shot(again.env, again.tmp / "menu.png")[beside]
    xdo(again.env, "key", "--delay", "150", "Down", "Down", "Down", "Right")  # Stop, Source, Model
    opened = wait(lambda: len(changed(shot(again.env, tmp_path / "model.png")[beside], menu)) > 2000)
    assert opened, "no Model menu"
    keep(tmp_path / "model.png", "tray-settings.png", (0, 0, 760, 360))
    xdo(again.env, "key", "Escape", "Escape")


def test_real_tray_open_log_hands_the_log_to_the_desktop(real_tray, tmp_path):
    """A stand-in for the desktop's file opener (xdg-open), which Qt runs for QDesktopServices."""
    opener = tmp_path / "bin" / "xdg-open"
    opener.parent.mkdir()
    opener.write_text(f"#!/bin/sh\necho \"$1\" > {tmp_path / 'opened'}\n")
    opener.chmod(0o755)
    tray = real_tray("--source", "test", "--sink", "null", "--backend", "bicubic",
                     PATH=f"{opener.parent}:{os.environ['PATH']}")
    tray.choose(*["Down"] * 9, "Return")  # Start Source Model Output Camera-size Poor-link Preview Doctor Open-log
    assert wait(lambda: (tmp_path / "opened").is_file()), tray.log()
    assert (tmp_path / "opened").read_text().strip().endswith("state/vcam-sr/log/vcam-sr.log")
