"""Shared fixtures: tiny real-image data made from ../shared/data/train, and helpers."""
from __future__ import annotations

import fractions
import os
import shutil
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
VAL = SHARED / "val"
TRAIN_IMAGES = sorted((SHARED / "train" / "t91").glob("*.png"))


def needs_shared():
    return pytest.mark.skipif(not VAL.is_dir(), reason="../shared/data is not beside the repository")


def write_video(path: Path, frames: list, fps: float = 25, *, codec: str = "libx264", options=None,
                fmt: str | None = None, container_options=None, tags=None, time_base=None, pts=None,
                sar=None, metadata=None, rotation: float = 0, sound: bool = False) -> Path:
    """The one writer of test videos (PyAV, as the runtime): frames are uint8 RGB, converted
    exactly to BT.601 limited 4:2:0, or YuvPictures written as they are (their matrix, range,
    depth and chroma layout); `tags` (color_primaries, color_trc), `time_base` with `pts`
    (variable frame rate), `sar`, stream `metadata` and `rotation` as a phone or camera writes
    them; `sound` adds an AAC tone as long as the video; default quality x264's (qp 0 with
    options={"qp": "0"} for lossless)."""
    from vcam_sr.media.colour import ColourSpace, YuvPicture, rgb_to_yuv
    from vcam_sr.media.frames import to_av

    pictures = [f if isinstance(f, YuvPicture) else rgb_to_yuv(f, ColourSpace()) for f in frames]
    with av.open(str(path), "w", format=fmt, options=container_options or {}) as out:
        stream = out.add_stream(codec, rate=fractions.Fraction(fps).limit_denominator(1001))
        stream.width, stream.height = pictures[0].width, pictures[0].height
        first = to_av(pictures[0])
        stream.pix_fmt = first.format.name
        ctx = stream.codec_context
        ctx.colorspace, ctx.color_range = first.colorspace, first.color_range
        for tag, value in (tags or {}).items():
            setattr(ctx, tag, value)
        if time_base:
            ctx.time_base = time_base
        if sar:
            ctx.sample_aspect_ratio = sar
        if rotation:
            stream.set_display_rotation(rotation)
        stream.metadata.update(metadata or {})
        stream.options = options or {}
        audio = out.add_stream("aac", rate=44100) if sound else None
        if audio:
            audio.layout = "mono"
        for i, picture in enumerate(pictures):
            frame = to_av(picture)
            frame.pts = pts[i] if pts else i
            if time_base:
                frame.time_base = time_base
            out.mux(stream.encode(frame))
        if audio:
            tone = (0.3 * np.sin(np.arange(round(44100 * len(pictures) / fps)) / 20)).astype(np.float32)[None]
            for k in range(0, tone.shape[1], 1024):
                piece = av.AudioFrame.from_ndarray(tone[:, k:k + 1024], format="fltp", layout="mono")
                piece.sample_rate, piece.pts = 44100, k
                out.mux(audio.encode(piece))
            out.mux(audio.encode(None))
        out.mux(stream.encode(None))
    return Path(path)


def read_video(path: Path) -> list[np.ndarray]:
    """Every frame as uint8 RGB, converted exactly."""
    from vcam_sr.media.colour import to_rgb
    from vcam_sr.media.frames import from_av

    with av.open(str(path)) as container:
        return [to_rgb(from_av(f)) for f in container.decode(video=0)]


def real_photo() -> np.ndarray:
    """A real photograph: the first training image, or where ../shared is not beside the
    repository, scikit-image's astronaut (bundled in its wheel), so unit tests run anywhere."""
    if TRAIN_IMAGES:
        return np.asarray(Image.open(TRAIN_IMAGES[0]).convert("RGB"))
    import skimage.data

    return skimage.data.astronaut()


def real_frames(count: int, width: int, height: int) -> list[np.ndarray]:
    """Crops of a real photograph, panning across the image."""
    img = real_photo()
    big = np.asarray(Image.fromarray(img).resize((width * 2, height * 2), Image.BICUBIC))
    return [np.ascontiguousarray(big[i: i + height, i: i + width]) for i in range(count)]


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """train/ (6 real images + 1 clip) and val/Tiny/{HR,LR_x2} in a temp folder."""
    if not TRAIN_IMAGES:
        pytest.skip("../shared/data/train/t91 is not beside the repository")
    root = tmp_path_factory.mktemp("tiny")
    train, hr_dir, lr_dir = root / "train", root / "val" / "Tiny" / "HR", root / "val" / "Tiny" / "LR_x2"
    for d in (train, hr_dir, lr_dir):
        d.mkdir(parents=True)
    for p in TRAIN_IMAGES[:6]:
        shutil.copy(p, train / p.name)
    write_video(train / "clip.mp4", real_frames(12, 128, 96))
    for p in TRAIN_IMAGES[6:8]:
        hr = Image.open(p).convert("RGB")
        w, h = hr.size[0] // 2 * 2, hr.size[1] // 2 * 2
        hr = hr.crop((0, 0, w, h))
        hr.save(hr_dir / p.name)
        hr.resize((w // 2, h // 2), Image.BICUBIC).save(lr_dir / p.name)
    return root


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """`vcam-sr ARGS` in a process of its own: for what crosses the process boundary (signals,
    exit codes of a real interpreter, imports at start-up)."""
    return subprocess.run([sys.executable, "-m", "vcam_sr.cli", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=REPO)


def cli(*args: str) -> subprocess.CompletedProcess:
    """`vcam-sr ARGS` in this process (no cold start of OpenCV, PyAV and ONNX Runtime): its exit
    code, what it printed, and its log lines as stderr shows them. Signal handlers and logger
    levels the command sets are put back afterwards."""
    import contextlib
    import io
    import logging
    import signal

    from vcam_sr.cli import main

    out, err = io.StringIO(), io.StringIO()
    handler = logging.StreamHandler(err)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    loggers = [root] + [logging.getLogger(n) for n in list(logging.root.manager.loggerDict) if n.startswith("vcam_sr")]
    levels = [lg.level for lg in loggers]
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exc:  # argparse: --help, --version, a usage error
                code = exc.code if isinstance(exc.code, int) else 2
    finally:
        root.removeHandler(handler)
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
        for sig, old in handlers.items():
            signal.signal(sig, old)
    return subprocess.CompletedProcess(["vcam-sr", *args], code, out.getvalue(), err.getvalue())


def assert_clean_error(proc: subprocess.CompletedProcess, *words: str) -> None:
    """Non-zero exit, no traceback, one error sentence on stderr mentioning `words`."""
    assert proc.returncode != 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    error_lines = [line for line in proc.stderr.splitlines() if "error:" in line]
    assert len(error_lines) == 1, proc.stderr
    for w in words:
        assert w.lower() in error_lines[0].lower(), error_lines[0]


@pytest.fixture(scope="session")
def xvfb():
    """A virtual X display (Debian's xvfb, which .ci/run installs); yields its DISPLAY."""
    if not shutil.which("Xvfb"):
        pytest.skip("Xvfb is not installed (apt-get install xvfb; .ci/run does)")
    server, display = start_xvfb()
    yield display
    server.terminate()
    server.wait(timeout=10)


def start_xvfb() -> tuple[subprocess.Popen, str]:
    """A new Xvfb display: (its process, its DISPLAY)."""
    read_fd, write_fd = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1024x768x24",
                               "-nolisten", "tcp"], pass_fds=(write_fd,), stderr=subprocess.DEVNULL)
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        return server, f":{pipe.readline().strip()}"
