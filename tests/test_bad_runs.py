"""Bad configs, full disks, pipes and stops against the live/file run and the other commands:
one sentence and a non-zero exit, nothing half-written left behind, no run deaf to a stop."""
import errno
import logging
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from PIL import Image

from conftest import REPO, assert_clean_error, cli, real_frames
from vcam_sr.config import load_config


@pytest.mark.timeout(30)
def test_a_config_that_is_a_pipe_is_refused_not_waited_on(tmp_path):
    os.mkfifo(tmp_path / "config.yaml")
    assert_clean_error(cli("--config", str(tmp_path / "config.yaml")), "not a regular file")


def test_a_config_too_large_to_be_one_is_refused(tmp_path):
    (tmp_path / "big.yaml").write_text("# padding\n" * 200_000)
    assert_clean_error(cli("--config", str(tmp_path / "big.yaml")), "too large")


def test_every_backend_the_commands_offer_is_a_valid_config_value():
    from vcam_sr.upscalers import BACKENDS

    assert [load_config(None, {"backend": b}).backend for b in BACKENDS] == list(BACKENDS)


def test_a_relative_xdg_config_home_is_ignored_as_the_spec_says(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/config")
    monkeypatch.chdir(tmp_path)
    proc = cli("autostart", "on")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "home/.config/autostart/vcam-sr.desktop").is_file()
    assert not (tmp_path / "relative").exists()


def test_a_recording_removes_the_temporary_files_of_killed_recordings(tmp_path):
    stale = tmp_path / ".out.4000000.k3y_x9ab.partial.mp4"  # no process has this id
    stale.write_bytes(b"half a recording")
    proc = cli("--source", "test", "--width", "64", "--height", "48", "--frames", "3", "--no-realtime",
               "--backend", "bicubic", "--sink", f"file:{tmp_path / 'out.mp4'}")
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]


def test_a_full_disk_during_a_recording_is_a_sentence_and_leaves_nothing(tmp_path):
    """A file-size limit (RLIMIT_FSIZE) stands in for a full disk: the write fails the same way."""
    script = ("import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
              "resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000)); "
              "from vcam_sr.cli import main; sys.exit(main(sys.argv[1:]))")
    proc = subprocess.run([sys.executable, "-c", script, "--source", "test", "--width", "320", "--height",
                           "240", "--frames", "200", "--no-realtime", "--backend", "bicubic", "--sink",
                           f"file:{tmp_path / 'out.mp4'}"], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert_clean_error(proc, "could not be written")
    assert list(tmp_path.iterdir()) == []


def test_a_recording_whose_folder_was_deleted_is_a_sentence(tmp_path):
    from vcam_sr.errors import VcamError
    from vcam_sr.sinks.file import FileSink

    (tmp_path / "rec").mkdir()
    sink = FileSink(tmp_path / "rec" / "out.mp4", wall_clock=False)
    sink.open(64, 48, 25)
    for rgb in real_frames(3, 64, 48):
        sink.write(rgb, None)
    shutil.rmtree(tmp_path / "rec")  # the user cleans up while it records
    with pytest.raises(VcamError, match="disappeared"):
        sink.close()


class SwallowingLibrary(logging.Handler):
    """Like a library's __del__ or callback that a Ctrl-C lands in: it eats the KeyboardInterrupt."""

    def __init__(self):
        super().__init__()
        self.swallowed = False

    def emit(self, record):
        if self.swallowed or "wrote" not in record.getMessage():
            return
        try:
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(1000):  # the handler runs between these bytecodes
                pass
        except KeyboardInterrupt:
            self.swallowed = True


def test_a_ctrl_c_that_a_library_swallowed_still_stops_the_batch(tmp_path):
    for i in range(5):
        Image.fromarray(real_frames(1, 32, 24)[0]).save(tmp_path / f"p{i}.png")
    library = SwallowingLibrary()
    logging.getLogger("vcam_sr.upscale").addHandler(library)
    try:
        proc = cli("upscale", str(tmp_path), "-o", str(tmp_path / "out"), "--backend", "bicubic")
    finally:
        logging.getLogger("vcam_sr.upscale").removeHandler(library)
    assert library.swallowed and proc.returncode == 130, proc.stderr
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["p0_2x.png"]


@pytest.mark.slow
def test_a_source_blocked_in_the_operating_system_does_not_make_a_stop_hang(tmp_path):
    """A named pipe that its writer opened and never writes: the read cannot be interrupted."""
    pipe = tmp_path / "feed.mp4"
    os.mkfifo(pipe)
    proc = subprocess.Popen([sys.executable, "-m", "vcam_sr.cli", "--source", str(pipe), "--sink", "null",
                             "--backend", "bicubic"], cwd=REPO, stderr=subprocess.PIPE, text=True)
    deadline, writer = time.monotonic() + 60, None
    while writer is None and time.monotonic() < deadline and proc.poll() is None:
        try:  # succeeds once vcam-sr has the pipe open for reading
            writer = os.open(pipe, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            assert exc.errno == errno.ENXIO
            time.sleep(0.05)
    assert writer is not None, "vcam-sr never opened the pipe"
    try:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 143
        assert "did not let go" in proc.stderr.read()
    finally:
        os.close(writer)
        proc.kill()
