"""Shared by the web tests: real waitress servers in this process (port 0) over a real job
queue with the bicubic backend (the page is under test, not the model), a plain-HTTP client
that behaves like the page, and headless Chromium through Playwright."""
from __future__ import annotations

import io
import os
import struct
import time
import zlib
from dataclasses import dataclass

import pytest
import requests
from PIL import Image

from conftest import real_frames
from vcam_sr.config import load_config
from vcam_sr.convert.jobs import JobQueue
from vcam_sr.controller import Controller
from vcam_sr.sinks.preview import PreviewSink
from vcam_sr.upscalers import create_upscaler
from vcam_sr.apps.web import WebServer, create_app

CHROMIUM = "/usr/bin/chromium"
TIMEOUT = 30


def bicubic(size, fps):
    return create_upscaler("bicubic", "auto", 0, 1.0, size)


# The pictures kept for docs/ (VCAM_SR_SCREENSHOTS) show the real models; the tests use bicubic.
SHOWN_BACKEND = "auto" if os.environ.get("VCAM_SR_SCREENSHOTS") else "bicubic"


def shown(size, fps):
    return create_upscaler(SHOWN_BACKEND, "auto", 0, 1.0, size)


@dataclass
class Site:
    base: str
    port: int
    queue: JobQueue
    controller: Controller | None

    def client(self) -> requests.Session:
        """A browser-like client: its own session cookie and the page's CSRF header."""
        session = requests.Session()
        csrf = session.get(self.base + "/api/session", timeout=TIMEOUT).json()["csrf"]
        session.headers["X-CSRF-Token"] = csrf
        return session

    def upload(self, client, name: str, data: bytes) -> requests.Response:
        return client.post(self.base + "/api/jobs", files={"file": (name, data)}, timeout=TIMEOUT)

    def wait_job(self, client, job_id: str, states=("done", "failed"), seconds: float = 90) -> dict:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            job = client.get(f"{self.base}/api/jobs/{job_id}", timeout=TIMEOUT).json()
            if job.get("state") in states:
                return job
            time.sleep(0.05)
        raise AssertionError(f"job {job_id} did not reach {states}: {job}")


@pytest.fixture
def serve(tmp_path):
    """serve(live=False, host=..., keep_hours=..., server={...}, **create_app options) -> Site;
    everything it started is closed after the test."""
    opened = []

    def start(live=False, host="127.0.0.1", keep_hours=24.0, server=None, jobs=None, **options):
        queue = JobQueue(jobs or tmp_path / "jobs", shown, keep_hours=keep_hours)
        preview = controller = None
        if live:
            preview = PreviewSink()
            controller = Controller(load_config(None, {
                "source": "test", "camera.width": 320, "camera.height": 180, "sinks": ["null"],
                "backend": SHOWN_BACKEND}), [preview])
        options.setdefault("max_bytes", 4 << 20)
        web = WebServer(create_app(queue, preview, controller, host=host, **options), host=host, port=0,
                        **(server or {})).start()
        opened.append((web, controller, queue))
        name = "127.0.0.1" if host in ("0.0.0.0", "127.0.0.1") else host
        return Site(f"http://{name}:{web.port}", web.port, queue, controller)

    yield start
    for web, controller, queue in reversed(opened):
        web.close()
        if controller:
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
            "--disable-sync", "--no-first-run", "--autoplay-policy=no-user-gesture-required"])
        yield chromium
        chromium.close()


def keep(page, name):
    """Screenshots for a look: VCAM_SR_SCREENSHOTS=folder keeps them."""
    if os.environ.get("VCAM_SR_SCREENSHOTS"):
        page.screenshot(path=os.path.join(os.environ["VCAM_SR_SCREENSHOTS"], name), full_page=True)


def png_bytes(width=40, height=30) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(real_frames(1, width, height)[0]).save(buf, "PNG")
    return buf.getvalue()


def declared_png(width: int, height: int) -> bytes:
    """A ~100-byte PNG whose header declares width x height (a decompression bomb's shape)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def assert_json_refusal(response, *codes):
    assert response.status_code in codes, (response.status_code, response.text)
    assert response.headers["Content-Type"].startswith("application/json"), response.headers
    sentence = response.json()["error"]
    assert sentence and "Traceback" not in sentence
    return sentence
