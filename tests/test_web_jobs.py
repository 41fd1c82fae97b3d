"""The job queue behind the page: cancel and delete (over HTTP), progress per frame, the
retention period, a clean stop that queues the running job again, and job folders that are
broken in every way a disk or a person can break them."""
import json
import logging
import threading
import time

import pytest

from test_upscale import clip_with_sound
from web_helpers import TIMEOUT, assert_json_refusal, bicubic, png_bytes, serve  # noqa: F401
from vcam_sr.convert.jobs import JobQueue
from vcam_sr.upscalers.bicubic import BicubicUpscaler


def long_clip(tmp_path, frames=300):
    return clip_with_sound(tmp_path / "long.mp4", frames=frames, size=(320, 192)).read_bytes()


def test_a_running_video_is_cancelled_at_its_next_frame_and_the_queue_goes_on(serve, tmp_path):
    site = serve(max_bytes=32 << 20)
    client = site.client()
    running = site.upload(client, "long.mp4", long_clip(tmp_path)).json()["id"]
    after = site.upload(client, "photo.png", png_bytes()).json()["id"]
    site.wait_job(client, running, states=("running",))
    deadline = time.monotonic() + TIMEOUT
    while client.get(f"{site.base}/api/jobs/{running}", timeout=TIMEOUT).json()["progress"] == 0:
        assert time.monotonic() < deadline
    response = client.delete(f"{site.base}/api/jobs/{running}", timeout=TIMEOUT)
    assert response.status_code == 200 and response.json()["state"] == "deleted"
    assert_json_refusal(client.get(f"{site.base}/api/jobs/{running}", timeout=TIMEOUT), 404)
    assert site.wait_job(client, after)["state"] == "done"  # the long job no longer blocks it
    assert not (site.queue.folder / running).exists()
    assert [j["id"] for j in client.get(site.base + "/api/jobs", timeout=TIMEOUT).json()["jobs"]] == [after]


def test_queued_and_finished_jobs_are_deleted_with_their_files(serve, tmp_path):
    site = serve(max_bytes=32 << 20)
    client = site.client()
    first = site.upload(client, "long.mp4", long_clip(tmp_path, 120)).json()["id"]
    queued = site.upload(client, "photo.png", png_bytes()).json()["id"]
    assert client.delete(f"{site.base}/api/jobs/{queued}", timeout=TIMEOUT).status_code == 200
    assert not (site.queue.folder / queued).exists()
    assert site.wait_job(client, first)["state"] == "done"
    assert client.delete(f"{site.base}/api/jobs/{first}", timeout=TIMEOUT).status_code == 200
    assert not (site.queue.folder / first).exists()
    assert_json_refusal(client.delete(f"{site.base}/api/jobs/{first}", timeout=TIMEOUT), 404)


def test_video_progress_moves_frame_by_frame_with_an_eta(serve, tmp_path):
    site = serve(max_bytes=32 << 20)
    client = site.client()
    job_id = site.upload(client, "long.mp4", long_clip(tmp_path, 200)).json()["id"]
    seen, etas = set(), []
    while (job := client.get(f"{site.base}/api/jobs/{job_id}", timeout=TIMEOUT).json())["state"] != "done":
        assert job["state"] in ("queued", "running"), job
        seen.add(job["progress"])
        if job["eta"] is not None:
            etas.append(job["eta"])
        time.sleep(0.02)
    assert len([p for p in seen if 0 < p < 1]) >= 5, seen  # many small steps, not ~11% jumps
    assert etas and min(etas) >= 0
    assert job["took"] > 0 and job["model"] == "bicubic" and job["output_size"] == [640, 384]


class HeldBicubic(BicubicUpscaler):
    """The real bicubic upscaler, held until the test lets it go: a stand-in for a model that
    takes long on a big image (none is that slow here)."""

    def __init__(self, release):
        super().__init__()
        self.release = release

    def upscale_y(self, y, *args):
        assert self.release.wait(TIMEOUT)
        return super().upscale_y(y, *args)


def test_an_image_s_progress_moves_with_time_while_it_runs(tmp_path):
    release = threading.Event()
    queue = JobQueue(tmp_path / "jobs", lambda size, fps: HeldBicubic(release))
    try:
        photo = tmp_path / "p.png"
        photo.write_bytes(png_bytes(400, 300))
        job_id = queue.submit(photo, "p.png", "image", ".png", "o" * 32, (400, 300))
        views = []
        deadline = time.monotonic() + TIMEOUT
        while len({v["progress"] for v in views}) < 4:  # it moves, though no frame is done yet
            assert time.monotonic() < deadline
            view = queue.view(queue.get(job_id))
            if view["state"] == "running":
                views.append(view)
            time.sleep(0.05)
        progress = [v["progress"] for v in views]
        assert progress == sorted(progress) and 0 <= progress[0] and progress[-1] <= 0.95
        assert views[-1]["eta"] <= views[0]["eta"]
        release.set()
        while queue.get(job_id).state != "done":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert queue.view(queue.get(job_id))["progress"] == 1.0
    finally:
        release.set()
        queue.close()


def test_finished_jobs_are_removed_after_the_retention_period(serve, tmp_path):
    site = serve(keep_hours=0.5 / 3600)  # half a second
    client = site.client()
    job_id = site.upload(client, "photo.png", png_bytes()).json()["id"]
    site.wait_job(client, job_id)
    deadline = time.monotonic() + TIMEOUT
    while (site.queue.folder / job_id).exists():
        assert time.monotonic() < deadline, "the finished job was never removed"
        time.sleep(0.05)
    assert_json_refusal(client.get(f"{site.base}/api/jobs/{job_id}", timeout=TIMEOUT), 404)


def write_job(folder, job_id, **fields):
    job = {"id": job_id, "owner": "o" * 32, "state": "done", "kind": "image", "name": "a.png",
           "input": "input.png", "result": "input_2x.png", "download": "a_2x.png", "created": time.time()}
    job.update(fields)
    (folder / job_id).mkdir(parents=True)
    (folder / job_id / "job.json").write_text(json.dumps(job))
    (folder / job_id / "input.png").write_bytes(png_bytes())


def test_old_finished_jobs_and_stray_uploads_are_removed_at_start(tmp_path):
    jobs = tmp_path / "jobs"
    write_job(jobs, "a" * 32, finished=time.time() - 25 * 3600)
    write_job(jobs, "b" * 32, finished=time.time() - 3600)
    (jobs / ".upload-abc").write_bytes(b"half an upload")
    queue = JobQueue(jobs, bicubic, keep_hours=24)
    try:
        assert [j.id for j in queue.list()] == ["b" * 32]
        assert not (jobs / ("a" * 32)).exists() and not (jobs / ".upload-abc").exists()
    finally:
        queue.close()


BROKEN = {
    "a list": b"[1, 2, 3]",
    "a string": b'"job"',
    "not JSON": b"{state: done",
    "not UTF-8": b"\xff\xfe\x00{",
    "empty": b"",
    "missing keys": b'{"id": "ID"}',
    "wrong types": b'{"id": "ID", "owner": 5, "state": ["done"], "kind": "image", "name": 1, "input": "input.png",'
                   b' "result": "input_2x.png", "download": "x", "created": "yesterday"}',
    "an unknown state": None,
    "a path outside its folder": None,
    "another folder's id": None,
}


@pytest.mark.parametrize("what", list(BROKEN))
def test_a_broken_job_file_is_skipped_with_one_warning_and_the_worker_lives(tmp_path, caplog, what):
    jobs, bad = tmp_path / "jobs", "c" * 32
    if BROKEN[what] is not None:
        (jobs / bad).mkdir(parents=True)
        (jobs / bad / "job.json").write_bytes(BROKEN[what].replace(b"ID", bad.encode()))
    elif what == "an unknown state":
        write_job(jobs, bad, state="exploded")
    elif what == "a path outside its folder":
        write_job(jobs, bad, state="queued", input="../../../../etc/passwd")
    else:  # a queued job.json copied into another folder: it made the worker rebuild in a loop
        write_job(jobs, bad, state="queued", id="d" * 32)
    built = []

    def counting(size, fps):
        built.append(size)
        return bicubic(size, fps)

    caplog.set_level(logging.INFO, logger="vcam_sr")
    write_job(jobs, "e" * 32, state="queued", owner="p" * 32, created=time.time() + 1)  # after the bad one
    queue = JobQueue(jobs, counting, keep_hours=1 / 3600)  # sweeps often: a hot loop would show
    try:
        deadline = time.monotonic() + TIMEOUT
        while queue.get("e" * 32).state != "done":
            assert time.monotonic() < deadline and queue._worker.is_alive()
            time.sleep(0.05)
        assert [j.id for j in queue.list()] == ["e" * 32]
        assert len(built) == 1  # the broken job, older, was never run (nor run again and again)
    finally:
        queue.close()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and bad in r.getMessage()]
    assert len(warnings) == 1, [r.getMessage() for r in caplog.records]
    assert not any(r.exc_info for r in caplog.records)


def test_a_clean_stop_queues_the_running_video_again(tmp_path):
    jobs = tmp_path / "jobs"
    queue = JobQueue(jobs, bicubic)
    clip = tmp_path / "c.mp4"
    clip.write_bytes(long_clip(tmp_path, 200))
    job_id = queue.submit(clip, "c.mp4", "video", ".mp4", "o" * 32, (320, 192), 200)
    deadline = time.monotonic() + TIMEOUT
    while queue.get(job_id).state != "running":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    queue.close()
    assert queue.get(job_id).state == "queued"
    again = JobQueue(jobs, bicubic)
    try:
        while again.get(job_id).state != "done":
            assert time.monotonic() < deadline + 60
            time.sleep(0.05)
    finally:
        again.close()


def test_the_before_of_a_16_bit_or_grey_image_keeps_its_tones(serve, tmp_path):
    """The page's bicubic "before" is read as the upscaler reads the image (a plain RGB
    conversion turns 16-bit greys white)."""
    import io

    import numpy as np
    from PIL import Image

    site = serve()
    client = site.client()
    ramp = (np.linspace(0, 65535, 64 * 48).reshape(48, 64)).astype(np.uint16)
    buf = io.BytesIO()
    Image.fromarray(ramp).save(buf, "PNG")
    job_id = site.upload(client, "ramp.png", buf.getvalue()).json()["id"]
    assert site.wait_job(client, job_id)["state"] == "done"
    before = client.get(f"{site.base}/api/jobs/{job_id}/before", timeout=TIMEOUT)
    tones = np.asarray(Image.open(io.BytesIO(before.content)).convert("L"), np.float32)
    assert tones.shape == (96, 128) and abs(tones.mean() - 127.5) < 3


def test_a_truncated_video_is_done_with_a_warning_the_page_shows(serve, tmp_path):
    """A cut upload used to come back 'done' with no word (the warning went to the server's
    log only): the job now says what was wrong, and so do the API and the page's job list."""
    from test_errors import indexed_clip

    data = indexed_clip(tmp_path / "good.mp4", 40)
    site = serve(max_bytes=32 << 20)
    client = site.client()
    job_id = site.upload(client, "cut.mp4", data[: int(len(data) * 0.8)]).json()["id"]
    job = site.wait_job(client, job_id)
    assert job["state"] == "done" and "of the 40 frames it declares" in job["warning"], job
    whole = site.upload(client, "whole.mp4", data).json()["id"]
    assert site.wait_job(client, whole)["warning"] is None
