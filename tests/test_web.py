"""The local web page: a real waitress server on 127.0.0.1, driven by headless Chromium through
Playwright (upload, progress, download, compare, live) and by plain HTTP (bad uploads, restart)."""
import io
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import requests
from PIL import Image

from conftest import REPO, assert_clean_error, real_frames, run_cli
from test_upscale import clip_with_sound
from vcam_sr.config import load_config
from vcam_sr.jobs import JobQueue
from vcam_sr.service import Controller
from vcam_sr.sinks.preview import PreviewSink
from vcam_sr.upscalers import create_upscaler
from vcam_sr.web import WebServer, create_app

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def server(tmp_path):
    """A page over a job queue (bicubic: the page is under test, not the model) and a live test
    pattern."""
    queue = JobQueue(tmp_path / "jobs", lambda size, fps: create_upscaler("bicubic", "auto", 0, 1.0, size))
    preview = PreviewSink()
    controller = Controller(load_config(None, {"source": "test", "camera.width": 160, "camera.height": 96,
                                               "sinks": ["null"], "backend": "bicubic"}), [preview])
    web = WebServer(create_app(queue, preview, controller, max_bytes=4 << 20), port=0).start()
    yield f"http://127.0.0.1:{web.port}", queue
    web.close()
    controller.stop()
    queue.close()


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        yield chromium
        chromium.close()


def keep(page, name):
    """Screenshots for a look: VCAM_SR_SCREENSHOTS=folder keeps them."""
    if os.environ.get("VCAM_SR_SCREENSHOTS"):
        page.screenshot(path=os.path.join(os.environ["VCAM_SR_SCREENSHOTS"], name), full_page=True)


def test_upload_an_image_follow_it_download_it_and_compare(server, browser, tmp_path):
    base, _ = server
    photo = tmp_path / "photo.png"
    Image.fromarray(real_frames(1, 120, 80)[0]).save(photo)
    page = browser.new_page()
    page.goto(base)
    keep(page, "web-upload.png")
    page.set_input_files("#file", str(photo))
    page.wait_for_selector("#download:not([hidden])", timeout=30000)
    assert page.eval_on_selector("#bar", "b => b.value") == 1
    with page.expect_download() as download:
        page.click("#download")
    saved = tmp_path / "got.png"
    download.value.save_as(saved)
    assert download.value.suggested_filename == "photo_2x.png" and Image.open(saved).size == (240, 160)
    page.wait_for_selector("#split")  # the before | after slider
    page.fill("#split", "30")
    page.dispatch_event("#split", "input")
    assert page.eval_on_selector("#before-half", "e => e.style.width") == "30%"
    keep(page, "web-compare-image.png")
    page.close()


def test_upload_a_video_shows_progress_and_two_players(server, browser, tmp_path):
    base, _ = server
    clip = clip_with_sound(tmp_path / "talk.mp4", frames=200, size=(320, 192))
    page = browser.new_page()
    page.goto(base)
    page.set_input_files("#file", str(clip))
    seen = set()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and page.is_hidden("#download"):
        seen.add(round(page.eval_on_selector("#bar", "b => b.value"), 2))
        if 0.2 < max(seen) < 1:
            keep(page, "web-progress.png")
        time.sleep(0.1)
    assert page.is_visible("#download")
    assert any(0 < v < 1 for v in seen), seen  # progress moved through the job
    assert page.locator("video").count() == 2
    keep(page, "web-compare-video.png")
    page.close()


def test_live_tab_shows_changing_frames(server, browser):
    base, _ = server
    page = browser.new_page()
    page.goto(base)
    page.click("#tab-live")
    page.click("#live-start")
    page.wait_for_function("document.getElementById('live-img').naturalWidth > 0", timeout=30000)
    first = page.locator("#live-img").screenshot()
    time.sleep(1.0)
    second = page.locator("#live-img").screenshot()
    assert first != second  # the test pattern moves: the stream is live, not one picture
    assert "running" in page.inner_text("#live-state")
    keep(page, "web-live.png")
    page.close()


def post(base, files):
    return requests.post(f"{base}/api/jobs", files=files, timeout=30)


def png_bytes():
    buf = io.BytesIO()
    Image.fromarray(real_frames(1, 40, 30)[0]).save(buf, "PNG")
    return buf.getvalue()


def test_bad_uploads_get_a_4xx_with_a_sentence_and_the_server_keeps_serving(server, tmp_path):
    base, queue = server
    good_clip = clip_with_sound(tmp_path / "c.mp4", frames=30).read_bytes()
    cases = {
        "empty": [("file", ("e.mp4", b""))],
        "not a video": [("file", ("notes.mp4", b"just some text" * 50))],
        "too large": [("file", ("big.mp4", b"\0" * (5 << 20)))],
        "two at once": [("file", ("a.png", png_bytes())), ("file", ("b.png", png_bytes()))],
        "no file field": [("upload", ("a.png", png_bytes()))],
    }
    for what, files in cases.items():
        r = post(base, files)
        assert 400 <= r.status_code < 500 and r.json()["error"] and "Traceback" not in r.text, (what, r.text)
    truncated = post(base, [("file", ("cut.mp4", good_clip[: len(good_clip) // 2]))])
    if truncated.status_code == 201:  # opened, so it fails as a job with its reason
        job = wait_job(base, truncated.json()["id"])
        assert job["state"] in ("failed", "done") and (job["state"] == "done" or job["error"])
    else:
        assert 400 <= truncated.status_code < 500
    traversal = post(base, [("file", ("../../../../tmp/evil.png", png_bytes()))])
    assert traversal.status_code == 201
    job = wait_job(base, traversal.json()["id"])
    assert job["name"].endswith("evil.png") and "/" not in job["name"] and ".." not in job["name"]
    assert not list(tmp_path.rglob("*evil*")) and not os.path.exists("/tmp/evil.png")  # our names on disk
    cut_mid_upload(base)
    r = post(base, [("file", ("ok.png", png_bytes()))])  # the next good upload still works
    assert r.status_code == 201 and wait_job(base, r.json()["id"])["state"] == "done"
    assert requests.get(f"{base}/api/jobs/zzzz/result", timeout=10).status_code == 404


def cut_mid_upload(base):
    """A client that announces 1 MB, sends 100 kB and hangs up."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as s:
        s.sendall(b"POST /api/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=B\r\n"
                  b"Content-Length: 1000000\r\n\r\n--B\r\nContent-Disposition: form-data; name=\"file\"; "
                  b"filename=\"x.mp4\"\r\n\r\n" + b"\0" * 100_000)
    time.sleep(0.5)


def wait_job(base, job_id, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job = requests.get(f"{base}/api/jobs/{job_id}", timeout=10).json()
        if job["state"] in ("done", "failed"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_web(port, jobs):
    proc = subprocess.Popen([sys.executable, "-m", "vcam_sr.cli", "web", "--port", str(port), "--jobs-dir",
                             str(jobs), "--model", "balanced"], cwd=REPO, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    for line in proc.stderr:
        assert "Logging error" not in line and time.monotonic() < deadline, line
        if f"vcam-sr web on http://127.0.0.1:{port}/" in line:
            break
    return proc


def test_a_restart_marks_the_cut_off_job_failed_and_runs_the_queued_one(tmp_path):
    port, jobs = free_port(), tmp_path / "jobs"
    base = f"http://127.0.0.1:{port}"
    web = start_web(port, jobs)
    try:
        long = post(base, [("file", ("long.mp4", clip_with_sound(tmp_path / "l.mp4", 250, size=(320, 192)).read_bytes()))])
        queued = post(base, [("file", ("photo.png", png_bytes()))])
        deadline = time.monotonic() + 60
        while requests.get(f"{base}/api/jobs/{long.json()['id']}").json()["state"] != "running":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        web.send_signal(signal.SIGKILL)  # a crash or a power cut, not a clean stop
        web.wait()
        web = start_web(port, jobs)
        cut = requests.get(f"{base}/api/jobs/{long.json()['id']}").json()
        assert cut["state"] == "failed" and "restarted" in cut["error"]
        assert wait_job(base, queued.json()["id"])["state"] == "done"
        assert requests.get(f"{base}/api/jobs/{queued.json()['id']}/result").status_code == 200
    finally:
        web.terminate()
        web.wait(timeout=30)


def test_another_address_needs_the_token_that_the_local_page_shows(tmp_path):
    queue = JobQueue(tmp_path / "jobs", lambda size, fps: create_upscaler("bicubic", "auto", 0, 1.0, size))
    app = create_app(queue, token="s3cret")
    local = app.test_client()
    assert "s3cret" in local.get("/").get_data(as_text=True)
    remote = app.test_client()
    environ = {"REMOTE_ADDR": "192.0.2.7"}
    assert remote.get("/", environ_base=environ).status_code == 401
    assert "s3cret" not in remote.get("/", environ_base=environ).get_data(as_text=True)
    assert remote.get("/?token=s3cret", environ_base=environ).status_code == 200
    assert remote.get("/api/jobs", environ_base=environ).status_code == 200  # the cookie carries it
    queue.close()


@pytest.mark.parametrize("args, words", [
    (["--port", "99999"], ["--port", "0 to 65535"]),
    (["--max-mb", "0"], ["--max-mb", "1 to"]),
    (["--jobs-dir", "{tmp}/afile"], ["--jobs-dir", "is a file"]),
    (["--port", "{taken}"], ["cannot serve", "choose another --port"]),
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


def test_web_without_flask_names_the_extra():
    code = "import sys; sys.modules['flask'] = None\nfrom vcam_sr.cli import main\nsys.exit(main(['web']))"
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "pip install 'vcam-sr[web]'" in proc.stderr
