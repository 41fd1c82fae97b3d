"""Upscaling jobs for the web page: a queue kept on disk, done one at a time in the background,
so a restart loses nothing. Finished results stay downloadable; a job that a restart cut off is
marked failed with the reason; queued jobs run after the restart.

Each job is a folder JOBS/ID/ holding job.json (state, progress, names), the upload as
input.EXT and, once done, the result. Names on disk are chosen here, never by a client."""
from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from pathlib import Path
from typing import Callable

from engine_build.atomic import atomic_path
from engine_build.errors import VcamError
from vcam_sr.upscale import output_name, upscale_image, upscale_video
from vcam_sr.upscalers.base import Upscaler

log = logging.getLogger("vcam_sr.jobs")
QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"


class JobQueue:
    def __init__(self, folder: Path, make_upscaler: Callable[[tuple[int, int] | None, float], Upscaler]):
        self.folder, self.make_upscaler = Path(folder), make_upscaler
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        for job in self.list():  # what a restart found
            if job["state"] == RUNNING:
                self._update(job["id"], state=FAILED, error="vcam-sr was restarted while this job "
                                                            "ran; upload the file again")
        self._worker = threading.Thread(target=self._work, name="jobs", daemon=True)
        self._worker.start()

    # -- the API the web page uses --------------------------------------------------------
    def submit(self, upload: Path, original_name: str, kind: str, suffix: str) -> str:
        """Take ownership of `upload` (already checked to be a readable `kind`) and queue it."""
        job_id = secrets.token_hex(8)
        folder = self.folder / job_id
        folder.mkdir()
        stored = folder / f"input{suffix}"
        upload.replace(stored)
        self._write(job_id, {"id": job_id, "state": QUEUED, "kind": kind, "name": original_name,
                             "input": stored.name, "result": output_name(Path(f"input{suffix}")),
                             "download": output_name(Path(original_name).with_suffix(suffix)),
                             "progress": 0.0, "error": None, "created": time.time()})
        self._wake.set()
        return job_id

    def get(self, job_id: str) -> dict | None:
        if not (len(job_id) == 16 and all(c in "0123456789abcdef" for c in job_id)):
            return None  # ids are ours; anything else is not looked up on disk
        try:
            return json.loads((self.folder / job_id / "job.json").read_text())
        except (OSError, ValueError):
            return None

    def path(self, job: dict, which: str) -> Path:
        return self.folder / job["id"] / job[which]

    def list(self) -> list[dict]:
        jobs = [self.get(p.name) for p in self.folder.iterdir() if p.is_dir()]
        return sorted((j for j in jobs if j), key=lambda j: j["created"])

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        self._worker.join(timeout=30)

    # -- the worker ---------------------------------------------------------------------------
    def _work(self) -> None:
        while not self._stop.is_set():
            queued = [j for j in self.list() if j["state"] == QUEUED]
            if not queued:
                self._wake.wait(timeout=1.0)
                self._wake.clear()
                continue
            self._run(queued[0])

    def _run(self, job: dict) -> None:
        job_id = job["id"]
        self._update(job_id, state=RUNNING, started=time.time())
        src, dst = self.path(job, "input"), self.path(job, "result")
        try:
            if job["kind"] == "image":
                with self.make_upscaler(None, 1.0) as upscaler:
                    upscale_image(src, dst, upscaler)
            else:
                upscale_video(src, dst, self.make_upscaler, progress=False,
                              on_frame=lambda done, total: self._progress(job_id, done, total),
                              should_stop=self._stop.is_set)
            self._update(job_id, state=DONE, progress=1.0, finished=time.time())
            log.info("job %s (%s) done", job_id, job["name"])
        except VcamError as exc:
            self._update(job_id, state=FAILED, error=str(exc))
        except Exception as exc:  # a job fails with its reason; the server keeps serving
            log.exception("job %s failed", job_id)
            self._update(job_id, state=FAILED, error=f"{type(exc).__name__}: {exc}")

    def _progress(self, job_id: str, done: int, total: int | None) -> None:
        if total and done % 10 == 0:
            self._update(job_id, progress=round(min(done / total, 0.99), 3))

    def _update(self, job_id: str, **changes) -> None:
        with self._lock:
            job = self.get(job_id)
            if job is not None:
                self._write(job_id, {**job, **changes})

    def _write(self, job_id: str, job: dict) -> None:
        with atomic_path(self.folder / job_id / "job.json") as tmp:
            tmp.write_text(json.dumps(job))
