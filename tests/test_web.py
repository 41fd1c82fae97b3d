"""`vcam-sr web` as a process: bad arguments, a missing extra, what it prints for --host,
SIGTERM (deterministic, nothing lost) and a crash (the cut-off job marked failed, the queued
one run after the restart). The page itself: test_web_page.py; attacks: test_web_security.py."""
import re
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests

from conftest import REPO, assert_clean_error, run_cli
from test_upscale import clip_with_sound
from web_helpers import TIMEOUT, png_bytes

pytestmark = pytest.mark.slow  # real servers, browsers, displays or whole clips: the full run only


class WebProcess:
    """`vcam-sr web --port 0 ...` in a subprocess; `base` is the address it printed."""

    def __init__(self, jobs, *args):
        self.proc = subprocess.Popen([sys.executable, "-m", "vcam_sr.cli", "web", "--port", "0", "--jobs-dir",
                                      str(jobs), "--backend", "bicubic", *args], cwd=REPO,
                                     stderr=subprocess.PIPE, text=True)
        self.lines = []
        deadline = time.monotonic() + 60
        for line in self.proc.stderr:
            self.lines.append(line)
            assert "Traceback" not in line and time.monotonic() < deadline, line
            found = re.search(r"vcam-sr web on (http://\S+?)/ ", line)
            if found:
                self.base = found.group(1)
                break
        else:
            raise AssertionError("".join(self.lines))
        self.client = requests.Session()
        self.client.headers["X-CSRF-Token"] = self.client.get(self.base + "/api/session", timeout=TIMEOUT).json()["csrf"]

    def upload(self, name, data):
        return self.client.post(self.base + "/api/jobs", files={"file": (name, data)}, timeout=TIMEOUT).json()["id"]

    def job(self, job_id):
        return self.client.get(f"{self.base}/api/jobs/{job_id}", timeout=TIMEOUT).json()

    def wait_state(self, job_id, *states):
        deadline = time.monotonic() + 90
        while (job := self.job(job_id))["state"] not in states:
            assert time.monotonic() < deadline, job
            time.sleep(0.05)
        return job

    def stop(self, sig=signal.SIGTERM, timeout=30):
        self.proc.send_signal(sig)
        rest = self.proc.communicate(timeout=timeout)[1]
        return self.proc.returncode, "".join(self.lines) + rest

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=30)


def test_sigterm_stops_it_at_once_with_a_job_running_and_a_live_viewer(tmp_path):
    """It once stayed up 12 minutes after SIGTERM; the running job is queued again, not lost."""
    web = WebProcess(tmp_path / "jobs", "--source", "test")
    try:
        long = web.upload("long.mp4", clip_with_sound(tmp_path / "l.mp4", 300, size=(320, 192)).read_bytes())
        web.wait_state(long, "running")
        viewer = web.client.get(f"{web.base}/live.mjpg?csrf={web.client.headers['X-CSRF-Token']}",
                                stream=True, timeout=TIMEOUT)
        assert next(viewer.iter_content(1024)).startswith(b"--frame")
        code, log = web.stop(signal.SIGTERM, timeout=30)
        viewer.close()
    finally:
        web.kill()
    assert code == 143 and "Traceback" not in log, log
    again = WebProcess(tmp_path / "jobs")
    try:
        again.client.cookies.update(web.client.cookies)  # the same browser
        assert again.wait_state(long, "done")["state"] == "done"
        assert again.stop(signal.SIGINT)[0] == 130
    finally:
        again.kill()


def test_a_crash_marks_the_cut_off_job_failed_and_runs_the_queued_one(tmp_path):
    web = WebProcess(tmp_path / "jobs")
    try:
        long = web.upload("long.mp4", clip_with_sound(tmp_path / "l.mp4", 300, size=(320, 192)).read_bytes())
        queued = web.upload("photo.png", png_bytes())
        web.wait_state(long, "running")
        web.stop(signal.SIGKILL)  # a crash or a power cut, not a clean stop
    finally:
        web.kill()
    again = WebProcess(tmp_path / "jobs")
    try:
        again.client.cookies.update(web.client.cookies)
        cut = again.job(long)
        assert cut["state"] == "failed" and "restarted" in cut["error"]
        assert again.wait_state(queued, "done", "failed")["state"] == "done"
        assert again.client.get(f"{again.base}/api/jobs/{queued}/result", timeout=TIMEOUT).status_code == 200
    finally:
        again.stop()
        again.kill()


@pytest.mark.parametrize("host, shown", [("::", "http://[::1]:"), ("0.0.0.0", "http://127.0.0.1:"),
                                         ("::1", "http://[::1]:"), ("localhost", "http://localhost:")])
def test_the_address_it_prints_answers(tmp_path, host, shown):
    """`--host ::` told the user to open a 127.0.0.1 address that was refused."""
    if ":" in host and not socket.has_ipv6:
        pytest.skip("no IPv6 here")
    web = WebProcess(tmp_path / "jobs", "--host", host)
    try:
        assert web.base.startswith(shown)
        page = requests.get(web.base + "/", timeout=TIMEOUT)
        assert page.status_code == 200
        if host in ("::", "0.0.0.0"):  # served to the LAN: the local page shows the token
            assert 'id="token"' in page.text
    finally:
        web.stop()
        web.kill()


@pytest.mark.parametrize("args, words", [
    (["--port", "99999"], ["--port", "0 to 65535"]),
    (["--max-mb", "0"], ["--max-mb", "1 to"]),
    (["--keep-hours", "-1"], ["--keep-hours", "0 to"]),
    (["--max-megapixels", "0"], ["--max-megapixels", "1 to"]),
    (["--jobs-dir", "{tmp}/afile"], ["--jobs-dir", "is a file"]),
    (["--jobs-dir", "/proc/version/jobs"], ["jobs folder", "cannot be written"]),
    (["--port", "{taken}"], ["cannot serve", "choose another --port"]),
    (["--host", "203.0.113.9"], ["cannot serve", "--host"]),
])
def test_web_bad_arguments_get_one_sentence(tmp_path, args, words):
    (tmp_path / "afile").write_text("x")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        args = [a.replace("{tmp}", str(tmp_path)).replace("{taken}", str(taken.getsockname()[1])) for a in args]
        if "--jobs-dir" not in args:
            args += ["--jobs-dir", str(tmp_path / "jobs")]
        assert_clean_error(run_cli("web", *args), *words)


def test_web_help_names_the_limits():
    out = run_cli("web", "--help").stdout
    assert "--keep-hours" in out and "--max-megapixels" in out and "--max-mb" in out


def test_web_without_flask_names_the_extra():
    code = "import sys; sys.modules['flask'] = None\nfrom vcam_sr.cli import main\nsys.exit(main(['web']))"
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "pip install 'vcam-sr[web]'" in proc.stderr
