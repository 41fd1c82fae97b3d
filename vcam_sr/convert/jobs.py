"""Upscaling jobs for the web page: a queue kept on disk, done one at a time in the background,
so a restart loses nothing. Each job belongs to the browser session that uploaded it; it can be
cancelled (a running video stops at its next frame) and deleted; finished jobs are removed
after a retention period. A job that a crash cut off is marked failed with the reason; a clean
stop puts the running job back in the queue.

Each job is a folder JOBS/ID/ holding job.json (state, names, times), the upload as input.EXT
and, once done, the result (and for images a bicubic 2x of the input, the page's "before").
Names on disk are chosen here, never by a client. A job.json that cannot be read, has the
wrong shape or names another folder is skipped with one logged warning: the worker never dies
and never retries a job in a loop."""
from __future__ import annotations

import errno
import logging
import re
import secrets
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Literal

import numpy as np
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vcam_sr.atomic import AtomicOutput, atomic_path
from vcam_sr.errors import VcamError
from vcam_sr.media.images import read_still
from vcam_sr.convert.files import output_name, upscale_image, upscale_video
from vcam_sr.upscalers.base import Upscaler

log = logging.getLogger("vcam_sr.convert.jobs")
QUEUED, RUNNING, DONE, FAILED, DELETED = "queued", "running", "done", "failed", "deleted"
JOB_ID = re.compile(r"[0-9a-f]{32}")
SPOOL_PREFIX = ".upload-"
BEFORE = "before_2x.png"


class JobFull(VcamError):
    """Too many jobs are waiting."""


class Job(BaseModel):
    """job.json: validated on every read, so a hand-edited or foreign file is refused."""
    model_config = ConfigDict(extra="ignore")
    id: str = Field(pattern=JOB_ID.pattern)
    owner: str = Field(min_length=1)
    state: Literal["queued", "running", "done", "failed", "deleted"]
    kind: Literal["image", "video"]
    name: str
    input: str = Field(pattern=r"^input\.[a-z0-9]+$")
    result: str = Field(pattern=r"^input_2x\.[a-z0-9]+$")
    download: str
    error: str | None = None
    warning: str | None = None  # done, but with only part of a damaged input
    model: str | None = None
    created: float
    started: float | None = None
    finished: float | None = None
    size: tuple[int, int] | None = None  # the input's width and height
    frames: int | None = None            # a video's frame count, as its header tells it


def storage_problem(exc: OSError, folder: Path) -> str:
    """One sentence for an OSError while writing into the jobs folder."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return (f"the jobs folder {folder} is full; delete finished jobs or free some space there, "
                "or start vcam-sr web with --jobs-dir on another disk")
    return (f"the jobs folder {folder} cannot be written ({exc.strerror or exc}); start vcam-sr "
            "web with a writable --jobs-dir")


def model_label(upscaler: Upscaler, requested: str) -> str:
    """What ran: auto's pick for this file, the requested model, or bicubic when no model did."""
    picked = getattr(upscaler, "current", None)
    if picked is not None:
        return picked.name
    if upscaler.name == "bicubic" or requested == "auto":
        return upscaler.name
    return Path(requested).stem


class JobQueue:
    def __init__(self, folder: Path, make_upscaler: Callable[[tuple[int, int] | None, float], Upscaler],
                 keep_hours: float = 24.0, model: str = "auto", max_waiting: int = 50):
        """`keep_hours`: finished jobs are removed that long after they end (0: never).
        `model`: the requested model's name, shown when no other is known."""
        self.folder, self.make_upscaler, self.model = Path(folder), make_upscaler, model
        self.keep_seconds, self.max_waiting = keep_hours * 3600, max_waiting
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=self.folder):
                pass
        except OSError as exc:
            raise VcamError(storage_problem(exc, self.folder)) from None
        self._lock = threading.RLock()
        self._wake, self._stop = threading.Event(), threading.Event()
        self._warned: set[str] = set()   # folders already reported as unreadable
        self._tried: set[str] = set()    # started in this run: never picked twice
        self._cancel: set[str] = set()
        self._running: str | None = None
        self._upscaler: Upscaler | None = None  # the running job's
        self._frames_done = 0
        self._seconds_per_pixel = 2e-7   # an image's expected time, learnt from each image done
        for job in self.list():          # what a crash left
            if job.state == RUNNING:
                self._update(job.id, state=FAILED, finished=time.time(),
                             error="vcam-sr was restarted after a crash while this job ran; "
                                   "upload the file again")
        self.sweep(strays_older_than=0)
        self._worker = threading.Thread(target=self._work, name="jobs", daemon=True)
        self._worker.start()

    # -- the API the web page uses --------------------------------------------------------
    def spool(self):
        """An open file in the jobs folder for an upload being received (one copy on one disk,
        then renamed into its job); the caller removes it if it is not submitted."""
        self.folder.mkdir(parents=True, exist_ok=True)  # removed by hand while running: again
        return tempfile.NamedTemporaryFile(dir=self.folder, prefix=SPOOL_PREFIX, delete=False)

    def submit(self, upload: Path, original_name: str, kind: str, suffix: str, owner: str,
               size: tuple[int, int] | None = None, frames: int | None = None) -> str:
        """Take ownership of `upload` (already checked to be a readable `kind`) and queue it;
        JobFull when too many wait, OSError when the folder cannot be written."""
        with self._lock:
            waiting = sum(j.state in (QUEUED, RUNNING) for j in self.list())
            if waiting >= self.max_waiting:
                raise JobFull(f"{waiting} jobs are waiting already, the most this page keeps; wait "
                              "for some to finish or cancel them, then upload again")
            job_id = secrets.token_hex(16)
            folder = self.folder / job_id
            try:
                folder.mkdir()
                upload.replace(folder / f"input{suffix}")
                stem = Path(original_name).stem or "upload"
                self._write(Job(id=job_id, owner=owner, state=QUEUED, kind=kind, name=original_name,
                                input=f"input{suffix}", result=output_name(Path(f"input{suffix}")),
                                download=output_name(Path(stem + suffix)), created=time.time(),
                                size=size, frames=frames))
            except OSError:
                shutil.rmtree(folder, ignore_errors=True)
                raise
        self._wake.set()
        return job_id

    def get(self, job_id: str, owner: str | None = None) -> Job | None:
        """The job, or None when there is none of that id (for `owner`, when given)."""
        job = self._read(job_id) if JOB_ID.fullmatch(job_id) else None
        if job is None or job.state == DELETED or (owner is not None and job.owner != owner):
            return None
        return job

    def list(self, owner: str | None = None) -> list[Job]:
        jobs = [self.get(name, owner) for name in self._folders()]
        return sorted((j for j in jobs if j), key=lambda j: j.created)

    def path(self, job: Job, which: str) -> Path:
        """The job's `input`, `result` or `before` file; never outside its folder."""
        folder = self.folder / job.id
        path = folder / (BEFORE if which == "before" else getattr(job, which))
        if path.resolve().parent != folder.resolve():
            raise FileNotFoundError(path)
        return path

    def view(self, job: Job) -> dict:
        """The job for the page: state, progress (per frame for videos, by time for images),
        seconds taken or left, model and sizes."""
        now = time.time()
        out = job.model_dump(include={"id", "state", "kind", "name", "download", "error", "warning", "model",
                                      "created", "size"})
        out["output_size"] = [2 * job.size[0], 2 * job.size[1]] if job.size else None
        out.update(progress=1.0 if job.state == DONE else 0.0, eta=None, took=None)
        if job.state in (DONE, FAILED) and job.started and job.finished:
            out["took"] = round(job.finished - job.started, 2)
        elif job.state == RUNNING and job.started:
            out["progress"], out["eta"] = self._estimate(job, now - job.started)
            upscaler = self._upscaler if job.id == self._running else None
            out["model"] = model_label(upscaler, self.model) if upscaler else self.model
        return out

    def delete(self, job_id: str, owner: str) -> bool:
        """Cancel and remove the job; a running video stops at its next frame, then goes.
        False when `owner` has no such job."""
        with self._lock:
            job = self.get(job_id, owner)
            if job is None:
                return False
            self._update(job_id, state=DELETED)
            if job_id == self._running:
                self._cancel.add(job_id)
            else:
                self._remove(job_id)
        return True

    def sweep(self, strays_older_than: float = 3600.0) -> None:
        """Remove deleted jobs, finished ones past the retention period, and uploads that a
        stopped server left half-received."""
        now = time.time()
        for name in self._folders():
            job = self._read(name)
            if job is None or name == self._running:
                continue
            expired = (self.keep_seconds and job.state in (DONE, FAILED)
                       and now - (job.finished or job.created) > self.keep_seconds)
            if job.state == DELETED or expired:
                self._remove(name)
        try:
            for stray in self.folder.glob(SPOOL_PREFIX + "*"):
                if now - stray.stat().st_mtime >= strays_older_than:
                    stray.unlink(missing_ok=True)
        except OSError as exc:
            self._warn("strays", f"cannot tidy {self.folder} ({exc.strerror or exc})")

    def close(self, timeout: float = 30.0) -> None:
        """Stop the worker; a running video stops at its next frame and is queued again."""
        self._stop.set()
        self._wake.set()
        self._worker.join(timeout)

    # -- the worker ---------------------------------------------------------------------------
    def _work(self) -> None:
        tick = min(30.0, max(0.2, self.keep_seconds / 10)) if self.keep_seconds else 30.0
        while not self._stop.is_set():
            try:
                self.sweep()
                queued = [j for j in self.list() if j.state == QUEUED and j.id not in self._tried]
                if queued:
                    self._run(queued[0])
                    continue
            except Exception:  # never a dead worker: log it, wait, go on
                log.exception("the jobs worker hit an unexpected error")
            self._wake.wait(timeout=tick)
            self._wake.clear()

    def _run(self, job: Job) -> None:
        job_id = job.id
        self._tried.add(job_id)
        with self._lock:
            current = self.get(job_id)
            if current is None or current.state != QUEUED:
                return
            try:
                self._update(job_id, state=RUNNING, started=time.time())
            except OSError as exc:
                self._warn(job_id, f"job {job_id} cannot be started: {storage_problem(exc, self.folder)}")
                return
            self._running, self._frames_done = job_id, 0
        changes = self._upscale(job)
        with self._lock:
            self._running, self._upscaler = None, None
            if job_id in self._cancel:
                self._cancel.discard(job_id)
                self._remove(job_id)
                return
            try:
                self._update(job_id, **changes)
            except OSError as exc:
                self._warn(job_id, f"job {job_id} ended but cannot be recorded: "
                                   f"{storage_problem(exc, self.folder)}")

    def _upscale(self, job: Job) -> dict:
        """Do the job; the changes to record: done, failed with a sentence, or queued again."""
        src, dst = self.path(job, "input"), self.path(job, "result")
        used: list[Upscaler] = []

        def make(size, fps):
            used.append(self.make_upscaler(size, fps))
            self._upscaler = used[-1]
            return used[-1]

        started = time.monotonic()
        try:
            if job.kind == "image":
                with make(job.size, 1.0) as upscaler:
                    upscale_image(src, dst, upscaler)
                self._learn(job, time.monotonic() - started)
                self._write_before(src, self.path(job, "before"))
                warning = None
            else:
                warning = upscale_video(src, dst, make, progress=False, on_frame=self._on_frame,
                                        should_stop=lambda: self._stop.is_set() or job.id in self._cancel).warning
            log.info("job %s (%s) done", job.id, job.name)
            return {"state": DONE, "finished": time.time(), "error": None, "warning": warning,
                    "model": model_label(used[0], self.model) if used else None}
        except VcamError as exc:
            if self._stop.is_set() and job.id not in self._cancel:  # a clean stop: run it next time
                return {"state": QUEUED, "started": None}
            return {"state": FAILED, "finished": time.time(), "error": str(exc)}
        except OSError as exc:
            return {"state": FAILED, "finished": time.time(), "error": storage_problem(exc, self.folder)}
        except Exception as exc:  # a job fails with its reason; the server keeps serving
            log.exception("job %s failed", job.id)
            return {"state": FAILED, "finished": time.time(), "error": f"{type(exc).__name__}: {exc}"}

    def _on_frame(self, done: int, total: int | None) -> None:
        self._frames_done = done

    def _estimate(self, job: Job, elapsed: float) -> tuple[float, float | None]:
        """(progress, seconds left) of the running job."""
        if job.kind == "video":
            done = self._frames_done if job.id == self._running else 0
            total = max(job.frames or 0, done + 1)
            eta = elapsed / done * (total - done) if done else None
            return round(min(done / total, 0.99), 4), eta and round(eta, 1)
        expected = max(0.5, (job.size[0] * job.size[1] if job.size else 1e6) * self._seconds_per_pixel)
        return round(min(elapsed / expected, 0.95), 4), round(max(expected - elapsed, 0.0), 1)

    def _learn(self, job: Job, seconds: float) -> None:
        if job.size:
            self._seconds_per_pixel = seconds / (job.size[0] * job.size[1])

    def _write_before(self, src: Path, dst: Path) -> None:
        """The page's "before": the input at twice the size, bicubic, upright like the result."""
        try:
            still = read_still(src)  # as upscale_image reads it: upright, 16-bit and grey too
            if still.rgb is not None:
                im = Image.fromarray(still.rgb)
            else:
                im = Image.fromarray(np.rint(still.grey * 255).astype(np.uint8))
            out = im.resize((im.width * 2, im.height * 2), Image.BICUBIC)
            output = AtomicOutput(dst)
            try:
                out.save(output.tmp, "PNG", compress_level=1)
                output.commit()
            finally:
                output.discard()
        except (OSError, ValueError, VcamError) as exc:  # the page falls back to the browser's scale
            log.warning("no bicubic 'before' for %s (%s)", src.parent.name, exc)

    # -- job.json -----------------------------------------------------------------------------
    def _folders(self) -> list[str]:
        try:
            return [p.name for p in self.folder.iterdir()
                    if JOB_ID.fullmatch(p.name) and p.is_dir() and not p.is_symlink()]
        except OSError as exc:
            self._warn("folder", f"cannot list the jobs folder {self.folder} ({exc.strerror or exc})")
            return []

    def _read(self, job_id: str) -> Job | None:
        path = self.folder / job_id / "job.json"
        try:
            job = Job.model_validate_json(path.read_bytes())
        except FileNotFoundError:
            return None
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "the file"
            self._warn(job_id, f"{path} is not a job of this version ({where}: {first['msg']}); skipped")
            return None
        except OSError as exc:
            self._warn(job_id, f"{path} cannot be read ({exc.strerror or exc}); skipped")
            return None
        if job.id != job_id:
            self._warn(job_id, f"{path} names job {job.id}, not its folder's; skipped")
            return None
        return job

    def _update(self, job_id: str, **changes) -> None:
        with self._lock:
            job = self._read(job_id)
            if job is not None:
                self._write(job.model_copy(update=changes))

    def _write(self, job: Job) -> None:
        with atomic_path(self.folder / job.id / "job.json") as tmp:
            tmp.write_text(job.model_dump_json())

    def _remove(self, job_id: str) -> None:
        try:
            shutil.rmtree(self.folder / job_id)
            self._warned.discard(job_id)
        except FileNotFoundError:
            pass
        except OSError as exc:
            self._warn(job_id, f"cannot remove job {job_id} ({exc.strerror or exc})")

    def _warn(self, key: str, message: str) -> None:
        """Log `message` once per `key`, so a bad file is reported, not repeated every second."""
        if key not in self._warned:
            self._warned.add(key)
            log.warning("%s", message)
