"""Disk full, TMPDIR too small and a read-only jobs folder, on real small file systems: the
test runs itself again inside a user and mount namespace (`unshare -rm`) with a 6 MB tmpfs
as the jobs folder and a 4 MB tmpfs as TMPDIR. Each problem is one JSON sentence or a job
failed with one; the worker lives on and no traceback is logged."""
import logging
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
import requests

from conftest import REPO
from web_helpers import TIMEOUT, assert_json_refusal, bicubic
from vcam_sr.convert.jobs import JobQueue
from vcam_sr.apps.web import WebServer, create_app

pytestmark = pytest.mark.slow  # real servers, browsers, displays or whole clips: the full run only

INSIDE = os.environ.get("VCAM_SR_TEST_MOUNTS")


def noise_png(side: int) -> bytes:
    """A PNG that does not compress: about 3 bytes per pixel."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(side).integers(0, 255, (side, side, 3), np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def can_unshare() -> bool:
    return shutil.which("unshare") is not None and subprocess.run(
        ["unshare", "-rm", "true"], capture_output=True, timeout=30).returncode == 0


@pytest.mark.skipif(bool(INSIDE), reason="the outer half of the test")
def test_storage_problems_are_sentences_on_real_small_disks(tmp_path):
    if not can_unshare():
        pytest.skip("user namespaces are not available here (unshare -rm fails)")
    jobs, tmp = tmp_path / "jobs", tmp_path / "tmp"
    jobs.mkdir()
    tmp.mkdir()
    inner = f"{__file__}::test_inside_the_namespace"
    script = (f"mount -t tmpfs -o size=6m none {jobs} && mount -t tmpfs -o size=4m none {tmp} && "
              f"exec {sys.executable} -m pytest -q -p no:cacheprovider --timeout 240 {inner}")
    proc = subprocess.run(["unshare", "-rm", "sh", "-c", script], cwd=REPO, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "VCAM_SR_TEST_MOUNTS": f"{jobs}:{tmp}",
                                            "TMPDIR": str(tmp)})
    assert proc.returncode == 0 and "1 passed" in proc.stdout, proc.stdout[-4000:] + proc.stderr[-2000:]


@pytest.mark.skipif(not INSIDE, reason="runs inside the namespace that the test above makes")
def test_inside_the_namespace(caplog):
    caplog.set_level(logging.INFO)
    jobs = INSIDE.split(":")[0]
    queue = JobQueue(jobs, bicubic)
    web = WebServer(create_app(queue, max_bytes=64 << 20), port=0).start()
    base = f"http://127.0.0.1:{web.port}"
    client = requests.Session()
    client.headers["X-CSRF-Token"] = client.get(base + "/api/session", timeout=TIMEOUT).json()["csrf"]

    def upload(data):
        return client.post(base + "/api/jobs", files={"file": ("noise.png", data)}, timeout=TIMEOUT)

    def finish(response):
        assert response.status_code == 201, response.text
        job_id = response.json()["id"]
        while (job := client.get(f"{base}/api/jobs/{job_id}", timeout=TIMEOUT).json())["state"] not in ("done", "failed"):
            time.sleep(0.05)
        return job

    filler = os.path.join(jobs, "filler")

    def fill(leave_bytes):
        os.unlink(filler) if os.path.exists(filler) else None
        free = shutil.disk_usage(jobs).free
        with open(filler, "wb") as f:
            f.write(b"\0" * max(0, free - leave_bytes))

    try:
        assert "TMPDIR" in assert_json_refusal(upload(os.urandom(5 << 20)), 507)       # TMPDIR too small
        assert finish(upload(noise_png(300)))["state"] == "done"                      # room for it
        fill(600 << 10)
        assert "too full" in assert_json_refusal(upload(os.urandom(900 << 10)), 507)   # checked up front
        fill(100 << 10)
        assert "is full" in assert_json_refusal(upload(noise_png(250)), 507)           # while receiving
        fill(1200 << 10)
        failed = finish(upload(noise_png(400)))                                        # while upscaling
        assert failed["state"] == "failed" and "No space left" in failed["error"], failed
        os.unlink(filler)
        assert finish(upload(noise_png(200)))["state"] == "done"                      # the worker lives
        subprocess.run(["mount", "-o", "remount,ro", jobs], check=True, timeout=30)
        assert "cannot be written" in assert_json_refusal(upload(noise_png(200)), 507)  # read-only
        some = client.get(base + "/api/jobs", timeout=TIMEOUT).json()["jobs"][0]["id"]
        assert_json_refusal(client.delete(f"{base}/api/jobs/{some}", timeout=TIMEOUT), 507)
        subprocess.run(["mount", "-o", "remount,rw", jobs], check=True, timeout=30)
        assert finish(upload(noise_png(200)))["state"] == "done"
    finally:
        web.close()
        queue.close()
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
