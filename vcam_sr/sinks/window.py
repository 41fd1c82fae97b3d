"""An OpenCV preview window, optionally before (bicubic-sized source) | after.

The window lives in a process of its own. OpenCV's highgui (Qt in the opencv-contrib-python
wheel) must run on a main thread that pumps its event loop: called from the pipeline's threads
it deadlocked (an empty window, a run that never ended, deaf to Ctrl-C and SIGTERM), and from
any non-main thread Qt now and then never paints the window. In its own process it has a main
thread, cannot abort ours, and cannot meet another Qt (the tray's PySide6) in the same process.
`write` only hands the newest frame to a feeder thread, which sends one frame whenever the
window has shown the last, so a slow window drops frames instead of slowing the pipeline.
"""
from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import sys
import threading

import cv2
import numpy as np

from vcam_sr.errors import VcamError
from vcam_sr.media.colour import to_rgb
from vcam_sr.sinks.base import Sink

log = logging.getLogger("vcam_sr.window")
PUMP_S = 0.01        # the window's event loop runs at least this often
OPEN_TIMEOUT_S = 60  # to start the window's process and open the window
CLOSE_TIMEOUT_S = 10
QUIT_KEYS = (ord("q"), ord("Q"), 27)  # q or Esc
READY, STOP = "ready", "stop"  # the window's messages: show the next frame; the user closed it
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


def show_window(conn, title: str, width: int, height: int) -> None:
    """The window's process: show each frame received (BGR bytes of height x width), then ask for
    the next; end when the user closes the window or presses q / Esc (telling the sender), or
    when the sender closes the pipe or goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the
    if sys.platform.startswith("linux"):          # pipeline decides, then closes the window
        os.environ["QT_QPA_PLATFORM"] = "xcb"     # the wheel's Qt has only the xcb plugin
    cv2.namedWindow(title, cv2.WINDOW_NORMAL)
    cv2.resizeWindow(title, width, height)  # else Qt starts it at 400x300
    conn.send(READY)
    while True:
        if conn.poll(PUMP_S):
            try:
                data = conn.recv_bytes()
            except EOFError:  # the sender is gone
                return
            if not data:  # asked to close
                cv2.destroyWindow(title)
                cv2.waitKey(1)
                return
            cv2.imshow(title, np.frombuffer(data, np.uint8).reshape(height, width, 3))
            conn.send(READY)
        key = cv2.waitKey(1) & 0xFF  # the event loop: paints, keys, the close button
        if key in QUIT_KEYS or not visible(title):
            conn.send(STOP)
            return


def visible(title: str) -> bool:
    """False once the user closed the window (OpenCV raises once its last window is gone)."""
    try:
        return cv2.getWindowProperty(title, cv2.WND_PROP_VISIBLE) >= 1
    except cv2.error:
        return False


class WindowSink(Sink):
    name = "window"
    title = "vcam-sr (q to quit)"

    def __init__(self, side_by_side: bool = False):
        check_display()
        self.side_by_side = side_by_side
        self._stop = threading.Event()   # the user closed the window
        self._closing = threading.Event()
        self._cond = threading.Condition()
        self._pair: tuple[np.ndarray, np.ndarray] | None = None  # newest frames not yet sent
        self._process = self._conn = self._feeder = None

    def open(self, width, height, fps):
        self.size = (width * (2 if self.side_by_side else 1), height)
        spawn = multiprocessing.get_context("spawn")  # fork is unsafe beside the pipeline's threads
        self._conn, child = spawn.Pipe()
        self._process = spawn.Process(target=show_window, args=(child, self.title, *self.size),
                                      name="vcam-sr window", daemon=True)
        self._process.start()
        child.close()
        try:
            opened = self._conn.poll(OPEN_TIMEOUT_S) and self._conn.recv() == READY
        except EOFError:
            opened = False
        if not opened:
            self._end_process()
            raise VcamError(f"the preview window did not open (its process ended with code "
                            f"{self._process.exitcode}); check the display or {OTHER_SINKS}")
        self._feeder = threading.Thread(target=self._feed, name="window-feed", daemon=True)
        self._feeder.start()

    def write(self, frame, source_frame) -> None:
        with self._cond:
            self._pair = (frame, source_frame)
            self._cond.notify()

    @property
    def wants_stop(self) -> bool:
        return self._stop.is_set()

    def close(self, complete: bool = True) -> None:
        self._closing.set()
        with self._cond:
            self._cond.notify()
        if self._feeder is not None:
            self._feeder.join(CLOSE_TIMEOUT_S)
        if self._process is not None:
            self._end_process()

    def _view(self, frame, source_frame) -> np.ndarray:
        """The BGR picture to show: the upscaled frame (RGB or YUV), or source | upscaled."""
        frame = to_rgb(frame)
        if self.side_by_side:
            source_frame = to_rgb(source_frame)
            h, w = frame.shape[:2]
            before = cv2.resize(source_frame, (w, h), interpolation=cv2.INTER_NEAREST)
            frame = np.concatenate([before, frame], axis=1)
        return cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)

    def _feed(self) -> None:
        """The feeder thread: the newest frame, each time the window has shown the last (open()
        took its first READY); ends on STOP, on the window's process going away, or on close()."""
        try:
            while True:
                with self._cond:
                    self._cond.wait_for(lambda: self._pair is not None or self._closing.is_set())
                    pair, self._pair = self._pair, None
                if pair is None:  # closing
                    return
                self._conn.send_bytes(self._view(*pair).reshape(-1))  # flat: sent whole
                while not self._conn.poll(PUMP_S * 10):
                    if self._closing.is_set():
                        return
                if self._conn.recv() == STOP:
                    self._stop.set()
                    return
        except (EOFError, OSError):  # the window's process ended: killed, or it failed
            self._process.join(CLOSE_TIMEOUT_S)
            log.warning("the preview window's process ended (code %s)", self._process.exitcode)
            self._stop.set()

    def _end_process(self) -> None:
        """Ask the window to close, then make sure its process is gone."""
        try:
            self._conn.send_bytes(b"")
        except OSError:
            pass  # already gone
        self._process.join(CLOSE_TIMEOUT_S)
        if self._process.is_alive():
            log.warning("the preview window did not close within %g s; ending it", CLOSE_TIMEOUT_S)
            self._process.kill()
            self._process.join(CLOSE_TIMEOUT_S)
        self._conn.close()
