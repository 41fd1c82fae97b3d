"""A live source that drops is waited for: a real H.264 stream on 127.0.0.1, stopped and
restarted, while the pipeline keeps publishing."""
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from vcam_sr import Pipeline, create_upscaler, open_source
from vcam_sr.sinks.base import Sink
from vcam_sr.media.colour import to_rgb

pytestmark = pytest.mark.slow  # real servers, browsers, displays or whole clips: the full run only

SERVER = """
import sys, time, av, numpy as np
print("listening", flush=True)
out = av.open(f"tcp://127.0.0.1:{sys.argv[1]}?listen=1", "w", format="mpegts")
stream = out.add_stream("libx264", rate=30)
stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
stream.options = {"preset": "ultrafast", "tune": "zerolatency"}
i = 0
while True:
    frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 40 + (i * 3) % 160, np.uint8), format="rgb24")
    frame.pts = i
    out.mux(stream.encode(frame))
    i += 1
    time.sleep(1 / 30)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Recorder(Sink):
    """Notes when each frame arrives and whether it is a real (flat grey) frame or the slate."""

    def __init__(self):
        self.frames: list[tuple[float, bool]] = []

    def open(self, width, height, fps):
        pass

    def write(self, frame, source_frame):
        self.frames.append((time.monotonic(), float(to_rgb(source_frame).std()) < 8))


def serve(port: int) -> subprocess.Popen:
    """The stream server; it accepts one client (FFmpeg's listen=1), so readiness is its word,
    not a probe connection."""
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(port)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "listening"
    time.sleep(0.3)  # from its word to the socket being bound
    return proc


def test_a_stream_that_drops_five_times_never_stops_the_output():
    port = free_port()
    server = serve(port)
    source = open_source(f"tcp://127.0.0.1:{port}", fps=30)
    recorder = Recorder()
    pipeline = Pipeline(source, create_upscaler("bicubic"), [recorder], fps=30)
    runner = threading.Thread(target=pipeline.run)
    runner.start()
    restarts = []
    try:
        for _ in range(5):
            time.sleep(2.0)
            server.kill()
            server.wait()
            time.sleep(1.5)  # the stream is away
            server = serve(port)
            restarts.append(time.monotonic())
        time.sleep(3.0)
    finally:
        pipeline.stop()
        runner.join(timeout=30)
        pipeline.close()
        server.kill()
    times = np.array([t for t, _ in recorder.frames])
    real = np.array([r for _, r in recorder.frames])
    assert source.losses >= 5
    gaps = np.diff(times)
    assert gaps.max() < 0.5, gaps.max()  # output kept flowing through every loss
    assert len(times) / (times[-1] - times[0]) > 20  # near the 30 fps target throughout
    assert (~real).sum() > 30  # slates were shown
    for restarted in restarts:  # real frames back within 2 s of the stream's return
        back = times[(times > restarted) & real]
        assert len(back) and back[0] - restarted < 2.0
