"""The background service the tray, CLI and web page share: start, stop, switch while running."""
import shlex
import subprocess
import sys
import threading
import time

import pytest

from conftest import REPO, assert_clean_error, real_frames, cli, write_video
from vcam_sr.config import load_config
from vcam_sr.controller import Controller


def wait_for(condition, seconds=20.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def our_threads():
    return sorted(t.name for t in threading.enumerate()
                  if t.name in ("pipeline", "capture", "writer", "source-reader"))


def test_start_switch_and_stop_while_running_leaves_nothing_behind(tmp_path):
    clip = write_video(tmp_path / "clip.mp4", real_frames(30, 96, 64))
    cfg = load_config(None, {"source": "test", "camera.width": 96, "camera.height": 64,
                             "sinks": ["null"], "model": "fast", "backend": "onnxruntime"})
    controller = Controller(cfg)
    controller.start(wait=True)
    assert controller.status()["state"] == "running", controller.status()
    assert wait_for(lambda: controller.status()["frames"] > 10)

    controller.switch_model("fast-clean")
    assert wait_for(lambda: "fast-clean" in controller.status()["upscaler"])
    controller.switch_source(str(clip))
    frames = controller.status()["frames"]
    assert wait_for(lambda: controller.status()["frames"] > frames + 10)
    assert controller.status()["state"] == "running"

    controller.stop()
    assert controller.status()["state"] == "stopped"
    assert wait_for(lambda: our_threads() == [], 5), our_threads()

    controller.start(wait=True)  # and again, in the same process
    assert controller.status()["state"] == "running"
    controller.stop()
    assert wait_for(lambda: our_threads() == [], 5), our_threads()


def test_a_start_that_fails_reports_the_sentence_in_status():
    controller = Controller(load_config(None, {"source": 7, "sinks": ["null"]}))
    controller.start(wait=True)
    status = controller.status()
    assert status["state"] == "error" and "no camera could be opened at index 7" in status["error"]
    assert our_threads() == []


def test_a_second_vcam_sr_on_the_same_camera_says_which_process_holds_it():
    holder = subprocess.Popen([sys.executable, "-c",
                               "from vcam_sr.instance import InstanceLock\n"
                               "lock = InstanceLock('camera 5', 'x'); lock.acquire()\n"
                               "print('held', flush=True); import time; time.sleep(60)"],
                              cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        proc = cli("--source", "5", "--sink", "null")
        assert_clean_error(proc, "camera 5 is in use by another vcam-sr", f"process {holder.pid}")
    finally:
        holder.kill()
        holder.wait()
    assert "in use" not in cli("--source", "5", "--sink", "null").stderr  # freed with its holder


def test_autostart_writes_and_removes_the_login_entry(tmp_path):
    env = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config"), "PATH": "/usr/bin:/bin"}
    run = lambda action: subprocess.run([sys.executable, "-m", "vcam_sr.cli", "autostart", action],  # noqa: E731
                                        cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    entry = tmp_path / "config" / "autostart" / "vcam-sr.desktop"
    assert "autostart is off" in run("status").stdout and not entry.exists()
    assert "autostart is on" in run("on").stdout
    text = entry.read_text()
    assert "[Desktop Entry]" in text and "vcam_sr.cli tray" in text and sys.executable in text
    assert "autostart is off" in run("off").stdout and not entry.exists()


@pytest.mark.skipif(sys.platform != "linux", reason="the XDG entry is Linux's")
def test_autostart_status_reads_a_hidden_entry_as_off_and_a_bad_config_home_is_a_sentence(tmp_path, monkeypatch):
    from vcam_sr.errors import VcamError
    from vcam_sr.commands import autostart

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    autostart.set_enabled(True)
    assert autostart.enabled()
    entry = autostart.entry_path()
    entry.write_text(entry.read_text() + "Hidden=true\n")  # what a desktop's settings app writes
    assert not autostart.enabled()
    (tmp_path / "afile").write_text("x")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "afile"))
    with pytest.raises(VcamError, match="writable folder"):
        autostart.set_enabled(True)


@pytest.mark.skipif(sys.platform != "linux", reason="the XDG entry is Linux's")
def test_the_login_entry_quotes_a_python_path_with_a_space():
    from vcam_sr.commands.autostart import entry_text

    command = ["/home/ann/my venv/bin/python", "-m", "vcam_sr.cli", "tray"]
    exec_line = next(line for line in entry_text(command).splitlines() if line.startswith("Exec="))
    assert shlex.split(exec_line[len("Exec="):]) == command


@pytest.mark.slow
def test_doctor_names_each_problem_with_its_fix():
    proc = cli("doctor")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for part in ("Cameras:", "Virtual cameras:", "onnxruntime execution providers", "fast-clean",
                 "--model auto at 640x360", "noisy or compressed input:", "TensorRT: "):
        assert part in out, out
    if "virtual cameras: none" in out:  # as on these machines
        assert "sudo modprobe v4l2loopback devices=1 exclusive_caps=1" in out


def test_a_stop_while_the_pipeline_is_still_loading_calls_the_run_off():
    """Start then Stop at once (a double click in the tray): the run must not go on unseen."""
    controller = Controller(load_config(None, {"source": "test", "camera.width": 96, "camera.height": 64,
                                               "sinks": ["null"], "model": "fast",
                                               "backend": "onnxruntime"}))
    controller.start()
    assert controller.status()["state"] == "starting"
    started = time.monotonic()
    controller.stop()
    assert time.monotonic() - started < 10
    assert controller.status()["state"] == "stopped"
    assert wait_for(lambda: our_threads() == [], 5), our_threads()
