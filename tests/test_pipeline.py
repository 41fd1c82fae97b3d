"""The runtime end to end: test pattern and video files to H.264, drops, shutdown, odd sizes."""
import signal
import subprocess
import sys
import threading
import time

import av
import cv2
import numpy as np
import pytest

from conftest import REPO, read_video, real_frames, run_cli, write_video
from vcam_sr import Pipeline, create_upscaler, open_sink, open_source
from vcam_sr.media.colour import ColourSpace, YuvPicture, rgb_to_yuv
from vcam_sr.sinks.null import NullSink
from vcam_sr.sinks.preview import PreviewSink
from vcam_sr.sinks.virtualcam import CAMERA_SPACE
from vcam_sr.sources.base import Pacer, Source
from vcam_sr.sources.test_pattern import TestPatternSource
from vcam_sr.upscalers.bicubic import BicubicUpscaler


def mse(a, b) -> float:
    return float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))


def test_test_pattern_to_file_writes_a_playable_2x_video(tmp_path):
    out = tmp_path / "out.mp4"
    proc = run_cli("--source", "test", "--width", "160", "--height", "90", "--sink", f"file:{out}",
                   "--frames", "30")
    assert proc.returncode == 0, proc.stderr
    frames = read_video(out)
    assert len(frames) == 30 and frames[0].shape == (180, 320, 3)
    reference = cv2.resize(TestPatternSource(160, 90, realtime=False).background, (320, 180),
                           interpolation=cv2.INTER_CUBIC)
    blank = np.full_like(reference, int(reference.mean()))
    assert mse(frames[-1], reference) < 0.5 * mse(blank, reference)
    assert not list(tmp_path.glob(".*partial*"))  # the temporary file was renamed away
    assert "backend: onnxruntime" in proc.stderr and "vcam_sr.auto: model " in proc.stderr


def test_video_file_to_file_keeps_every_frame_offline(tmp_path):
    src = write_video(tmp_path / "in.mp4", real_frames(20, 96, 64))
    out = tmp_path / "out.mp4"
    proc = run_cli("--source", str(src), "--sink", f"file:{out}", "--no-realtime")
    assert proc.returncode == 0, proc.stderr
    inputs, outputs = read_video(src), read_video(out)
    assert len(outputs) == len(inputs) == 20 and outputs[0].shape == (128, 192, 3)
    for i in (0, 10, 19):
        expected = cv2.resize(inputs[i], (192, 128), interpolation=cv2.INTER_CUBIC)
        blank = np.full_like(expected, int(expected.mean()))
        assert mse(outputs[i], expected) < 0.2 * mse(blank, expected)


def test_output_never_overwrites_the_input(tmp_path):
    src = write_video(tmp_path / "in.mp4", real_frames(3, 64, 48))
    before = src.read_bytes()
    proc = run_cli("--source", str(src), "--sink", f"file:{src}")
    assert proc.returncode == 2 and "is the input video" in proc.stderr
    assert src.read_bytes() == before


class SlowBicubic(BicubicUpscaler):
    """A deliberately slow upscaler (100 ms a frame) to prove frames are dropped, not queued."""

    def upscale(self, frame, space=None):
        time.sleep(0.1)
        return super().upscale(frame, space)


class SlowStart(BicubicUpscaler):
    """Its first frame takes 2 s, as loading and timing the models does; then it is fast."""

    def upscale(self, frame, space=None):
        if not getattr(self, "started", False):
            time.sleep(2)
            self.started = True
        return super().upscale(frame, space)


def test_frames_dropped_while_the_models_load_do_not_read_as_a_slow_model(caplog):
    source = TestPatternSource(64, 36, fps=30)
    with Pipeline(source, SlowStart(), [NullSink()], max_frames=130) as pipeline:
        pipeline.run()
    assert pipeline.stats.dropped >= 30  # the start-up did drop frames
    assert "too slow" not in caplog.text


def test_slow_upscaler_drops_frames_and_latency_stays_bounded(tmp_path):
    source = TestPatternSource(64, 36, fps=60)
    sinks = [NullSink(), open_sink(f"file:{tmp_path / 'live.mp4'}")]
    with Pipeline(source, SlowBicubic(), sinks, max_frames=15) as pipeline:
        stats = pipeline.run()
    assert stats.frames == 15
    assert stats.dropped >= 15  # ~5 of every 6 camera frames cannot be processed
    # Queued frames would wait behind each other: latency would reach 15 x 100 ms by the end.
    latency = list(stats.latency_ms)
    assert max(latency[-5:]) < 3 * 100
    assert np.mean(latency[-5:]) < np.mean(latency[:5]) + 50
    # The live recording keeps true time despite the drops: 15 frames >= 1.4 s, not 15/60 s.
    with av.open(str(tmp_path / "live.mp4")) as container:
        stream = container.streams.video[0]
        last_pts = max(f.pts for f in container.decode(video=0))
        assert last_pts * stream.time_base > 1.2


@pytest.mark.slow
def test_sigterm_stops_cleanly_and_finishes_the_file(tmp_path):
    out = tmp_path / "run.mp4"
    proc = subprocess.Popen([sys.executable, "-m", "vcam_sr.cli", "--source", "test", "--width", "96",
                             "--height", "64", "--backend", "bicubic", "--sink", f"file:{out}"],
                            cwd=REPO, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    for line in proc.stderr:  # wait until frames flow
        if "running:" in line or time.monotonic() > deadline:
            break
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    rest = proc.stderr.read()
    assert "stopped by the user:" in rest and "Traceback" not in rest
    assert len(read_video(out)) > 5


def test_odd_frame_sizes_come_out_exactly_twice_as_large():
    frame = real_frames(1, 53, 37)[0]
    for backend in ("onnxruntime", "bicubic"):
        with create_upscaler(backend, "fast") as up:
            assert up.upscale(frame).shape == (74, 106, 3)


class Recorder(NullSink):
    """Keeps what the pipeline hands it; takes the virtual camera's planes, as NullSink does."""

    def __init__(self):
        self.frames = []

    def write(self, frame, source_frame):
        self.frames.append((frame, source_frame))


class RgbRecorder(Recorder):
    yuv_space = None  # shows RGB, as the preview window does


def test_rgb_frames_reach_a_virtual_camera_as_its_4_2_0_planes_without_a_2x_rgb_frame():
    """The live path at 960x540 spent 38 of its 63 ms composing a 2x RGB frame that the
    virtual camera then converted to I420; now RGB frames are upscaled into the planes."""
    sink = Recorder()
    source = TestPatternSource(64, 36, realtime=False)
    Pipeline(source, BicubicUpscaler(), [sink], max_frames=3, realtime=False).run()
    for up, frame in sink.frames:
        assert isinstance(up, YuvPicture) and up.space == CAMERA_SPACE and up.subsampling == (2, 2)
        assert up.y.shape == (72, 128) and up.u.shape == (36, 64)
    both = [RgbRecorder(), Recorder()]
    Pipeline(TestPatternSource(64, 36, realtime=False), BicubicUpscaler(), both, max_frames=2, realtime=False).run()
    assert all(isinstance(up, np.ndarray) and up.shape == (72, 128, 3) for s in both for up, _ in s.frames)
    camera, preview = Recorder(), PreviewSink()  # the tray's: a preview beside the camera
    Pipeline(TestPatternSource(64, 36, realtime=False), BicubicUpscaler(), [camera, preview], max_frames=2,
             realtime=False).run()
    assert isinstance(camera.frames[-1][0], YuvPicture) and preview.newest()[0][1] is camera.frames[-1][0]
    jpeg, _ = preview.jpeg(0)
    assert cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR).shape == (72, 256, 3)
    alone = PreviewSink()  # a preview alone is shown in RGB
    Pipeline(TestPatternSource(64, 36, realtime=False), BicubicUpscaler(), [alone], max_frames=1, realtime=False).run()
    assert isinstance(alone.newest()[0][1], np.ndarray)


def test_only_8_bit_spaces_take_rgb_frames_straight_into_planes():
    """A 10-bit space would get 8-bit chroma codes: such a frame comes back RGB, as before."""
    frame = real_frames(1, 32, 24)[0]
    out = BicubicUpscaler().upscale(frame, ColourSpace(depth=10))
    assert isinstance(out, np.ndarray) and np.array_equal(out, BicubicUpscaler().upscale(frame))


@pytest.mark.parametrize("size", [(96, 64), (53, 37)])
def test_upscaling_into_planes_matches_the_2x_rgb_frame_converted(size):
    """Same luma within a code value (the RGB frame rounds R, G and B first), and the frame's
    own chroma where the RGB path averaged the bicubic chroma: no shift in any plane."""
    frame = real_frames(1, *size)[0]
    upscaler = BicubicUpscaler()
    direct = upscaler.upscale(frame, CAMERA_SPACE)
    via_rgb = rgb_to_yuv(upscaler.upscale(frame), CAMERA_SPACE)
    for a, b in zip((direct.y, direct.u, direct.v), (via_rgb.y, via_rgb.u, via_rgb.v)):
        assert a.shape == b.shape
        diff = a.astype(float) - b
        assert abs(diff.mean()) < 0.1
    assert np.abs(direct.y.astype(int) - via_rgb.y).max() <= 1
    assert max(np.abs(direct.u.astype(int) - via_rgb.u).mean(), np.abs(direct.v.astype(int) - via_rgb.v).mean()) < 1


class NoisyPhoto(Source):
    """A still photograph with fresh sensor noise (sigma 4) in every frame, 30 fps."""

    def __init__(self, photo, seed):
        self.photo, self.rng, self.pacer = photo.astype(float), np.random.default_rng(seed), Pacer(30)
        self.height, self.width, self.fps = *photo.shape[:2], 30

    def read(self):
        self.pacer.wait()
        return np.clip(self.photo + self.rng.normal(0, 4, self.photo.shape), 0, 255).round().astype(np.uint8)


def test_another_source_is_not_averaged_with_the_last_ones_frames():
    """Its frames start a new stream: a camera swapped in is never blended with the old one,
    even where they differ by little more than noise (here 10 grey levels everywhere)."""
    photo = real_frames(1, 96, 64)[0]
    sink = Recorder()
    pipeline = Pipeline(NoisyPhoto(photo, 0), create_upscaler("onnxruntime", "fast-clean"), [sink], max_frames=40)
    brighter = NoisyPhoto(np.clip(photo.astype(int) + 10, 0, 255), 1)
    threading.Timer(0.6, pipeline.swap_source, [brighter]).start()
    with pipeline:
        pipeline.run()
    swapped = [(up, f) for up, f in sink.frames if f.astype(float).mean() > photo.mean() + 5]
    assert len(swapped) > 5
    up, frame = swapped[0]
    assert np.array_equal(up.y, create_upscaler("onnxruntime", "fast-clean").upscale(frame, CAMERA_SPACE).y)


def test_python_api_runs_a_pipeline_from_a_script(tmp_path):
    source = open_source("test", 80, 48, realtime=False, degrade=0.5)
    assert (source.width, source.height) == (40, 24)
    with Pipeline(source, create_upscaler("auto"), [open_sink(f"file:{tmp_path / 'a.mp4'}")],
                  max_frames=5, realtime=False) as pipeline:
        pipeline.run()
    frames = read_video(tmp_path / "a.mp4")
    assert len(frames) == 5 and frames[0].shape == (48, 80, 3)


def start_conversion(tmp_path, *extra, source="long.mp4"):
    """A --no-realtime conversion of a 600-frame clip (fast on one thread), that is
    known to be past its first frames when this returns."""
    src = write_video(tmp_path / source, real_frames(60, 160, 96) * 10)
    proc = subprocess.Popen([sys.executable, "-m", "vcam_sr.cli", "--source", str(src), "--sink",
                             f"file:{tmp_path / 'out.mp4'}", "--no-realtime", "--model", "fast",
                             "--threads", "1", *extra], cwd=REPO, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    for line in proc.stderr:
        if "running:" in line or time.monotonic() > deadline:
            break
    time.sleep(0.5)
    return proc


@pytest.mark.slow
@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_an_interrupted_conversion_exits_non_zero_and_leaves_no_output(tmp_path, sig, code):
    proc = start_conversion(tmp_path)
    proc.send_signal(sig)
    assert proc.wait(timeout=60) == code
    err = proc.stderr.read()
    assert "Traceback" not in err and "of 600 frames; the conversion did not finish" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.mp4"]  # no output, no temporary


def test_a_stop_after_the_last_frame_does_not_mark_a_finished_run_interrupted():
    """A late Ctrl-C, during the final flush, must not call a complete file unfinished."""
    with Pipeline(TestPatternSource(64, 36, realtime=False), BicubicUpscaler(), [NullSink()],
                  max_frames=5, realtime=False) as pipeline:
        pipeline.run()
        pipeline.stop()
    assert pipeline.finished and not pipeline.interrupted


@pytest.mark.slow
def test_a_ctrl_c_just_before_the_controller_starts_still_stops_the_run(tmp_path):
    """The signal is delivered at that exact point by wrapping Controller.start (which then runs
    as it is): before the fix, start() cleared the stop and the whole file was written, exit 0."""
    out = tmp_path / "o.mp4"
    code = ("import os, signal, sys\n"
            "from vcam_sr import cli, controller as service\n"
            "start = service.Controller.start\n"
            "def signalled(self, wait=False):\n"
            "    os.kill(os.getpid(), signal.SIGINT)\n"
            "    return start(self, wait)\n"
            "service.Controller.start = signalled\n"
            "sys.exit(cli.main(sys.argv[1:]))\n")
    proc = subprocess.run([sys.executable, "-c", code, "--source", "test", "--frames", "100000",
                           "--no-realtime", "--backend", "bicubic", "--sink", f"file:{out}"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 130 and "Traceback" not in proc.stderr, proc.stderr
    assert "nothing was run" in proc.stderr and not out.exists()


@pytest.mark.slow
def test_keep_partial_keeps_an_interrupted_conversion_under_a_partial_name(tmp_path):
    proc = start_conversion(tmp_path, "--keep-partial")
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    assert "out.partial.mp4" in proc.stderr.read()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.mp4", "out.partial.mp4"]
    assert 0 < len(read_video(tmp_path / "out.partial.mp4")) < 300


@pytest.mark.slow
def test_keep_partial_never_writes_over_the_input_or_an_earlier_partial(tmp_path):
    proc = start_conversion(tmp_path, "--keep-partial", source="out.partial.mp4")  # the input
    before = (tmp_path / "out.partial.mp4").read_bytes()
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    assert "out.partial-2.mp4" in proc.stderr.read()
    assert (tmp_path / "out.partial.mp4").read_bytes() == before
    assert 0 < len(read_video(tmp_path / "out.partial-2.mp4")) < 300


def test_simulated_poor_link_keeps_red_and_blue_in_place():
    """OpenCV's JPEG codec works in BGR: handing it RGB compresses red as if it were blue."""
    frame = np.zeros((64, 64, 3), np.uint8)
    frame[..., 0] = np.where((np.indices((64, 64)).sum(0) // 2) % 2, 255, 0)  # fine red detail
    source = open_source("test", 64, 64, realtime=False, degrade_jpeg=60)
    source.inner.read = lambda: frame.copy()
    out = source.read().astype(float)
    from PIL import Image
    import io

    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, "JPEG", quality=60)
    reference = np.asarray(Image.open(buf)).astype(float)
    assert np.abs(out - reference).mean() < 3  # the same as a JPEG made the right way round
    assert out[..., 0].mean() > 4 * out[..., 2].mean()


def test_stats_memory_stays_bounded_on_a_long_run():
    from vcam_sr.stats import WINDOW, Stats

    stats = Stats()
    for i in range(WINDOW * 3):
        stats.record(0.010, 0.001, 0.020 + (i >= WINDOW * 3 - 10) * 1.0)
    assert len(stats.model_ms) == len(stats.latency_ms) == WINDOW
    summary = stats.summary()
    assert summary["frames"] == WINDOW * 3 and summary["model_ms_mean"] == 10.0
    assert abs(summary["latency_ms_mean"] - (20 + 10 * 1000 / (WINDOW * 3))) < 0.01  # every frame counts


class BlockingSource(TestPatternSource):
    """A camera-like source whose reads block (as a camera waits for its next frame), and which
    notes whether it was closed while a read was still in progress."""

    def __init__(self, block_s: float):
        super().__init__(64, 36, fps=30, realtime=False)
        self.block_s, self.reading, self.closed_mid_read = block_s, False, False

    def read(self):
        self.reading = True
        time.sleep(self.block_s if self.index > 3 else 0)
        frame = super().read()
        self.reading = False
        return frame

    def close(self):
        self.closed_mid_read = self.reading


def test_the_source_is_never_released_while_a_read_is_in_progress():
    source = BlockingSource(block_s=3.0)  # longer than run() waits for the capture thread
    with Pipeline(source, BicubicUpscaler(), [NullSink()], max_frames=3) as pipeline:
        pipeline.run()
    assert not source.closed_mid_read


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.3, 0.8])
def test_ctrl_c_during_start_up_never_ends_in_a_traceback(delay):
    proc = subprocess.Popen([sys.executable, "-m", "vcam_sr.cli", "--source", "test", "--sink", "null",
                             "--frames", "100"], cwd=REPO, stderr=subprocess.PIPE, text=True)
    time.sleep(delay)  # somewhere in imports, model loading or the first frames
    proc.send_signal(signal.SIGINT)
    err = proc.communicate(timeout=60)[1]
    assert "Traceback" not in err and "Error" not in err, err
    if proc.returncode == 130:
        assert "stopped during start-up; nothing was run" in err
    else:
        assert proc.returncode == 0 and "stopped by the user" in err, err


def test_stats_can_be_read_while_the_pipeline_records():
    """The tray and the web page call recent_fps() and summary() from their own threads while
    the writer thread records: iterating the deque unlocked raised 'deque mutated during
    iteration'."""
    import threading

    from vcam_sr.stats import Stats

    stats, done, errors = Stats(), threading.Event(), []

    def record():
        while not done.is_set():
            stats.record(0.01, 0.001, 0.02)
            stats.drop()

    writer = threading.Thread(target=record)
    writer.start()
    try:
        for _ in range(3000):
            stats.recent_fps()
            stats.summary()
    except RuntimeError as exc:
        errors.append(exc)
    finally:
        done.set()
        writer.join(timeout=10)
    assert not errors
    assert abs(stats.dropped - stats.frames) <= 1  # every drop counted, under the one lock


def test_the_summary_line_reads_median_and_p95_of_the_recent_frames():
    from vcam_sr.stats import Stats

    stats = Stats()
    stats.record(5.0, 0.001, 5.0)  # a slow first frame (model load, warm-up)
    for _ in range(99):
        stats.record(0.020, 0.001, 0.025)
    line = stats.summary_line()
    assert "model 20.0 ms median (p95 20.0)" in line and "100 frames" in line
