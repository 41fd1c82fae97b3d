"""The virtualcam sink, through pyvirtualcam itself."""
import threading
import time

import cv2
import pytest
import pyvirtualcam

from vcam_sr import Pipeline, create_upscaler
from vcam_sr.sinks.virtualcam import VirtualCamSink, video_devices
from vcam_sr.sources.test_pattern import TestPatternSource


class CapturingBackend:
    """Stand-in virtual-camera device registered through pyvirtualcam's own register_backend:
    no v4l2loopback module can load on these machines, so this records what pyvirtualcam sends."""

    frames: list = []
    opened: dict = {}

    def __init__(self, *, width, height, fps, fourcc, device, **kw):
        CapturingBackend.opened = dict(width=width, height=height, fps=fps, fourcc=fourcc)
        self._device = device or "capture0"

    def send(self, frame):
        CapturingBackend.frames.append(frame.copy())

    def close(self):
        pass

    def device(self):
        return self._device

    def native_fourcc(self):
        return None


def test_virtualcam_sink_with_stand_in_backend_receives_i420_2x_frames():
    pyvirtualcam.register_backend("vcam-sr-capture", CapturingBackend)
    CapturingBackend.frames = []
    source = TestPatternSource(80, 46, fps=30, realtime=False)
    sink = VirtualCamSink(backend="vcam-sr-capture")
    with Pipeline(source, create_upscaler("bicubic"), [sink], max_frames=4, realtime=False) as p:
        p.run()
    assert CapturingBackend.opened["width"] == 160 and CapturingBackend.opened["height"] == 92
    assert len(CapturingBackend.frames) == 4
    i420 = CapturingBackend.frames[0].reshape(92 * 3 // 2, 160)  # BT.601 limited I420, as sent
    frame = cv2.cvtColor(i420, cv2.COLOR_YUV2RGB_I420)  # OpenCV's own BT.601 conversion
    # The test pattern's top-left colour bar is white, the next yellow (R, G high, B low): RGB order.
    bar = frame[10, 18]
    assert bar[0] > 200 and bar[1] > 200 and bar[2] < 60, bar


@pytest.mark.skipif(not video_devices(loopback=True),
                    reason="no v4l2loopback device (no kernel module can load on this machine)")
def test_real_v4l2loopback_device_accepts_frames():
    source = TestPatternSource(64, 36, fps=30, realtime=False)
    with Pipeline(source, create_upscaler("bicubic"), [VirtualCamSink(backend="v4l2loopback")],
                  max_frames=10, realtime=False) as p:
        stats = p.run()
    assert stats.frames == 10


@pytest.mark.slow
def test_inference_rests_while_nobody_reads_the_stand_in_device_node(tmp_path):
    """No v4l2loopback device can exist here, so a regular file stands in for the device node:
    inotify reports its opens and closes the same way."""
    node = tmp_path / "video10"
    node.write_bytes(b"")
    pyvirtualcam.register_backend("vcam-sr-capture", CapturingBackend)
    CapturingBackend.frames = []
    source = TestPatternSource(64, 36, fps=30)
    pipeline = Pipeline(source, create_upscaler("bicubic"), [VirtualCamSink("vcam-sr-capture", str(node))])
    runner = threading.Thread(target=pipeline.run)
    runner.start()
    try:
        time.sleep(1.0)
        assert len(CapturingBackend.frames) == 0  # nobody reads: no inference, nothing sent
        with open(node, "rb"):  # an application opens the camera
            time.sleep(1.0)
            watched = len(CapturingBackend.frames)
            assert watched > 15
        time.sleep(1.0)
        assert len(CapturingBackend.frames) - watched < 5  # closed again: it rests
        with open(node, "rb"):
            start, count = time.monotonic(), len(CapturingBackend.frames)
            while len(CapturingBackend.frames) == count and time.monotonic() - start < 2:
                time.sleep(0.005)
            assert time.monotonic() - start < 0.2  # back within a few frames of a reader arriving
    finally:
        pipeline.stop()
        runner.join(timeout=20)
        pipeline.close()


@pytest.mark.skipif(not video_devices(loopback=True),
                    reason="no v4l2loopback device (no kernel module can load on this machine)")
def test_real_loopback_device_rests_until_a_reader_opens_it():
    device = video_devices(loopback=True)[0]
    CapturingBackend.frames = []
    sink = VirtualCamSink("v4l2loopback", device)
    source = TestPatternSource(64, 36, fps=30)
    pipeline = Pipeline(source, create_upscaler("bicubic"), [sink])
    runner = threading.Thread(target=pipeline.run)
    runner.start()
    try:
        time.sleep(1.0)
        assert not sink.watched
        with open(device, "rb"):
            time.sleep(0.5)
            assert sink.watched
    finally:
        pipeline.stop()
        runner.join(timeout=20)
        pipeline.close()
