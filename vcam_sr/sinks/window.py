"""An OpenCV preview window, optionally before (bicubic-sized source) | after.

The window is a process of its own (`python -m vcam_sr.sinks.window`). OpenCV's highgui (Qt in
the opencv-contrib-python wheel) belongs to the thread of its first call and draws only while
that thread runs its event loop (cv2.waitKey); Qt wants that thread to be the main one. Called
from the pipeline's threads it deadlocked (an empty window, a run that never ended, deaf to
Ctrl-C and SIGTERM). In a process of its own it has a main thread, cannot abort ours, and never
meets another Qt (such as PySide6) in the same process. It gets frames on its stdin (raw BGR of
a fixed size) and answers on its stdout: "ready" for the next frame, or "stop" when the user
closed the window or pressed q / Esc. `write` only hands the newest frame to a feeder thread,
which sends one whenever the window is ready: a slow window drops frames, never slows the run.
"""
from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading

import cv2
import numpy as np

from vcam_sr.errors import VcamError
from vcam_sr.media.colour import to_rgb
from vcam_sr.sinks.base import Sink

log = logging.getLogger("vcam_sr.window")
PUMP_MS = 10         # the window's event loop runs at least this often
OPEN_TIMEOUT_S = 60  # to start the window's process and open the window
CLOSE_TIMEOUT_S = 10
QUIT_KEYS = (ord("q"), ord("Q"), 27)  # q or Esc
READY, STOP = b"ready\n", b"stop\n"
OTHER_SINKS = "use --sink virtualcam/file:PATH/null"


def check_display() -> None:
    """Refuse, with a sentence, a display the window could not open: on Linux OpenCV's Qt talks to
    X11 (XWayland on a Wayland desktop) and aborts its process when it cannot connect."""
    if not sys.platform.startswith("linux"):
        return
    display = os.environ.get("DISPLAY")
    if not display:
        raise VcamError("the window sink needs an X display and none is set (DISPLAY is empty); "
                        f"run it on a desktop or {OTHER_SINKS}")
    xcb = ctypes.CDLL("libxcb.so.1")  # OpenCV's Qt is linked against it, so it is there
    xcb.xcb_connect.restype = ctypes.c_void_p
    xcb.xcb_connect.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    xcb.xcb_connection_has_error.argtypes = xcb.xcb_disconnect.argtypes = [ctypes.c_void_p]
    connection = xcb.xcb_connect(display.encode(), None)
    failed = xcb.xcb_connection_has_error(connection)
    xcb.xcb_disconnect(connection)
    if failed:
        raise VcamError(f"the window sink cannot open the X display {display} (no X server there, "
                        f"or not allowed to use it); check DISPLAY or {OTHER_SINKS}")


class WindowSink(Sink):
    name = "window"
    title = "vcam-sr (q to quit)"

    def __init__(self, side_by_side: bool = False):
        check_display()
        self.side_by_side = side_by_side
        self._opened = threading.Event()    # the window said "ready" once
        self._answered = threading.Event()  # ... or its process ended before
        self._stop = threading.Event()      # the user closed it (or it ended)
        self._closing = threading.Event()
        self._cond = threading.Condition()
        self._pair = None  # the newest (frame, source frame) not yet sent
        self._process: subprocess.Popen | None = None
        self._feeder: threading.Thread | None = None

    def open(self, width, height, fps):
        size = (width * (2 if self.side_by_side else 1), height)
        apart = ({"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP} if sys.platform == "win32"
                 else {"start_new_session": True})  # Ctrl-C in the terminal is for the pipeline
        self._process = subprocess.Popen([sys.executable, "-m", "vcam_sr.sinks.window", self.title,
                                          *map(str, size)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         **apart)
        self._feeder = threading.Thread(target=self._feed, name="window-feed", daemon=True)
        self._feeder.start()
        if not self._answered.wait(OPEN_TIMEOUT_S) or not self._opened.is_set():
            self.close()
            why = (f"its process ended with code {self._process.returncode}" if self._answered.is_set()
                   else f"not within {OPEN_TIMEOUT_S} s")
            raise VcamError(f"the preview window did not open ({why}); check the display or {OTHER_SINKS}")

    def write(self, frame, source_frame) -> None:
        with self._cond:
            self._pair = (frame, source_frame)
            self._cond.notify()

    @property
    def wants_stop(self) -> bool:
        return self._stop.is_set()

    def close(self, complete: bool = True) -> None:
        """Close the window: its stdin ends, so it closes and exits."""
        self._closing.set()
        with self._cond:
            self._cond.notify()
        if self._feeder is not None:
            self._feeder.join(CLOSE_TIMEOUT_S)
        if self._process is None:
            return
        try:
            self._process.stdin.close()
        except OSError:
            pass  # it is gone already
        try:
            self._process.wait(CLOSE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            log.warning("the preview window did not close within %g s; ending it", CLOSE_TIMEOUT_S)
            self._process.kill()
            self._process.wait(CLOSE_TIMEOUT_S)
        self._process.stdout.close()

    def _view(self, frame, source_frame) -> bytes:
        """The BGR picture to show: the upscaled frame (RGB or YUV), or source | upscaled."""
        frame = to_rgb(frame)
        if self.side_by_side:
            h, w = frame.shape[:2]
            before = cv2.resize(to_rgb(source_frame), (w, h), interpolation=cv2.INTER_CUBIC)  # what a plain 2x shows
            frame = np.concatenate([before, frame], axis=1)
        return cv2.cvtColor(frame, cv2.COLOR_RGB2BGR).tobytes()

    def _feed(self) -> None:
        """The feeder thread: the newest frame each time the window says "ready"; it ends when
        the window says "stop" or its process ends, or on close()."""
        try:
            while (answer := self._process.stdout.readline()) == READY:
                self._opened.set()
                self._answered.set()
                with self._cond:
                    self._cond.wait_for(lambda: self._pair is not None or self._closing.is_set())
                    pair, self._pair = self._pair, None
                if pair is None:  # closing
                    return
                self._process.stdin.write(self._view(*pair))
                self._process.stdin.flush()
        except (OSError, ValueError):  # a pipe closed: the window's process ended, or close()
            answer = b""
        if not self._closing.is_set():
            if answer != STOP and self._opened.is_set():
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._process.wait(CLOSE_TIMEOUT_S)
                log.warning("the preview window's process ended (code %s)", self._process.returncode)
            self._stop.set()
        self._answered.set()


def show_window(title: str, width: int, height: int) -> None:
    """The window's process: show each frame from stdin, then say "ready"; say "stop" and end when
    the user closes the window or presses q / Esc; close and end when stdin ends."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the pipeline decides, then closes stdin
    if sys.platform.startswith("linux"):
        os.environ["QT_QPA_PLATFORM"] = "xcb"  # the wheel's Qt has only this plugin
    frames, out = FrameReader(sys.stdin.buffer, width * height * 3), sys.stdout.buffer
    cv2.namedWindow(title, cv2.WINDOW_NORMAL)
    cv2.resizeWindow(title, width, height)  # else Qt starts it at 400x300
    out.write(READY)
    out.flush()
    while not frames.ended.is_set():
        frame = frames.take()
        if frame is not None:
            cv2.imshow(title, np.frombuffer(frame, np.uint8).reshape(height, width, 3))
            out.write(READY)
            out.flush()
        key = cv2.waitKey(PUMP_MS) & 0xFF  # the event loop: paints, keys, the close button
        if key in QUIT_KEYS or not visible(title):
            out.write(STOP)
            out.flush()
            return
    cv2.destroyWindow(title)
    cv2.waitKey(1)


class FrameReader:
    """Reads fixed-size frames from a pipe in a thread, keeping the newest; `ended` at its end."""

    def __init__(self, pipe, size: int):
        self.pipe, self.size, self.ended = pipe, size, threading.Event()
        self._lock, self._frame = threading.Lock(), None
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while len(data := self.pipe.read(self.size)) == self.size:
            with self._lock:
                self._frame = data
        self.ended.set()

    def take(self) -> bytes | None:
        with self._lock:
            frame, self._frame = self._frame, None
        return frame


def visible(title: str) -> bool:
    """False once the user closed the window (OpenCV raises once its last window is gone)."""
    try:
        return cv2.getWindowProperty(title, cv2.WND_PROP_VISIBLE) >= 1
    except cv2.error:
        return False


if __name__ == "__main__":
    try:
        show_window(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
    except BrokenPipeError:  # the run ended first
        pass
