"""The Flask app: the page (a Jinja2 template) and the JSON API it uses, which scripts can too.

    GET    /api/session          {"csrf": ...}: the token that POST and DELETE send as X-CSRF-Token
    POST   /api/jobs             multipart field `file` -> 201 {"id": ...}
    GET    /api/jobs             this browser's jobs (state, progress, eta, took, model, sizes)
    GET    /api/jobs/ID          one of them;  DELETE /api/jobs/ID  cancel it and remove it
    GET    /api/jobs/ID/result   the upscaled file; /input the upload; /before an image's bicubic 2x
    GET    /api/live, POST /api/live/start|stop, GET /live.mjpg?csrf=...

Every refusal is JSON: {"error": "one sentence naming the problem and the fix"}. A script keeps
its session cookie and sends the token, e.g. with curl:
    curl -c jar http://127.0.0.1:8300/api/session            # {"csrf": "T"}
    curl -b jar -H 'X-CSRF-Token: T' -F file=@talk.mp4 http://127.0.0.1:8300/api/jobs
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path
from types import SimpleNamespace

from flask import Flask, Request, Response, g, jsonify, render_template, request, send_file
from werkzeug.exceptions import HTTPException
from werkzeug.utils import secure_filename

from vcam_sr.convert.jobs import JobFull, storage_problem
from vcam_sr.apps.web.live import LiveViewers
from vcam_sr.apps.web.security import Guard, refuse
from vcam_sr.apps.web.uploads import Refused, probe

log = logging.getLogger("vcam_sr.apps.web")
NO_LIVE = "no live source; start vcam-sr web with --source 0 (a camera), or --source test"
FORM_OVERHEAD = 64 << 10  # multipart headers around the file: a file of exactly --max-mb fits


def too_large(max_bytes: int) -> str:
    return (f"the upload is larger than the limit of {max_bytes / 2**20:.0f} MB; upload a smaller "
            "file or start vcam-sr web with a higher --max-mb")


def create_app(queue, preview=None, controller=None, token: str | None = None,
               max_bytes: int = 2 << 30, *, host: str = "127.0.0.1", max_pixels: int = 4_000_000,
               max_viewers: int = 3, live_grace: float = 5.0):
    """`queue`: a JobQueue; `preview`/`controller`: the live pipeline's preview sink and service,
    or None; `token`: required from other machines when set; `host`: the address served on;
    `max_bytes`, `max_pixels`: the largest upload and image taken."""
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = max_bytes + FORM_OVERHEAD
    guard = Guard(host, token)
    guard.install(app)
    viewers = LiveViewers(controller, preview, max_viewers, live_grace) if controller else None
    state = SimpleNamespace(queue=queue, viewers=viewers, stopping=threading.Event(),
                            too_large=too_large(max_bytes))
    app.extensions["vcam_sr"] = state

    class UploadRequest(Request):
        def _get_file_stream(self, total_content_length, content_type, filename=None, content_length=None):
            spooled = queue.spool()  # straight into the jobs folder: one copy, never in TMPDIR
            g.setdefault("spooled", []).append(Path(spooled.name))
            return spooled

    app.request_class = UploadRequest

    @app.teardown_request
    def remove_spooled(_exc):
        for path in g.pop("spooled", []):
            path.unlink(missing_ok=True)

    @app.errorhandler(HTTPException)
    def http_error(exc):
        sentences = {413: state.too_large, 404: "no such page or job; check the address or the job id",
                     405: f"{request.method} is not allowed on {request.path}"}
        return refuse(exc.code, sentences.get(exc.code, exc.description))

    @app.errorhandler(OSError)
    def storage_error(exc):  # disk full, read-only, gone: one sentence, logged
        if isinstance(exc, FileNotFoundError):
            return refuse(404, "that file is gone: the job was deleted or removed after its "
                               "retention period; upload the file again")
        sentence = storage_problem(exc, queue.folder)
        log.warning("%s", sentence)
        return refuse(507, sentence)

    @app.get("/")
    def page():
        return render_template("index.html", csrf=guard.csrf, live=controller is not None,
                               token=token if guard.shows_token() else "", max_bytes=max_bytes,
                               max_mb=round(max_bytes / 2**20), max_megapixels=f"{max_pixels / 1e6:g}",
                               keep_hours=f"{queue.keep_seconds / 3600:g}" if queue.keep_seconds else "")

    @app.get("/api/session")
    def session():
        return jsonify(csrf=guard.csrf)

    @app.post("/api/jobs")
    def submit():
        files = request.files.getlist("file")
        if len(files) != 1:
            return refuse(400, "send exactly one file, in the multipart field 'file'")
        upload = files[0]
        path = Path(upload.stream.name)
        upload.stream.close()
        if path.stat().st_size == 0:
            return refuse(400, "the upload is empty; choose a video or image file")
        try:
            found = probe(path, max_pixels)
            name = secure_filename(upload.filename or "") or f"upload{found.suffix}"
            job_id = queue.submit(path, name, found.kind, found.suffix, g.owner, found.size, found.frames)
        except Refused as exc:
            return refuse(exc.status, str(exc))
        except JobFull as exc:
            return refuse(429, str(exc))
        return jsonify(id=job_id), 201

    @app.get("/api/jobs")
    def jobs():
        return jsonify(jobs=[queue.view(j) for j in queue.list(g.owner)])

    @app.get("/api/jobs/<job_id>")
    def job(job_id):
        found = queue.get(job_id, g.owner)
        return jsonify(queue.view(found)) if found else refuse(404, f"no job {job_id[:40]} from this browser")

    @app.delete("/api/jobs/<job_id>")
    def delete(job_id):
        if not queue.delete(job_id, g.owner):
            return refuse(404, f"no job {job_id[:40]} from this browser")
        return jsonify(id=job_id, state="deleted")

    @app.get("/api/jobs/<job_id>/<which>")
    def job_file(job_id, which):
        found = queue.get(job_id, g.owner)
        if found is None or which not in ("input", "result", "before"):
            return refuse(404, f"no job {job_id[:40]} with a {which[:20]} from this browser")
        if which != "input" and found.state != "done":
            return refuse(409, f"job {job_id} is {found.state}, not done")
        path = queue.path(found, which)
        if not path.is_file():
            return refuse(404, f"job {job_id} has no {which} file")
        name = {"result": found.download, "input": found.name}.get(which, "before_2x.png")
        return send_file(path, download_name=name, as_attachment=which == "result", conditional=True)

    @app.get("/api/live")
    def live():
        return jsonify(viewers.status() if viewers else {"state": "none", "error": NO_LIVE})

    @app.post("/api/live/<action>")
    def live_action(action):
        if viewers is None or action not in ("start", "stop"):
            return refuse(404, NO_LIVE if viewers is None else "the live actions are start and stop")
        viewers.start() if action == "start" else viewers.stop()
        return jsonify(viewers.status())

    @app.get("/live.mjpg")
    def mjpeg():
        if viewers is None:
            return refuse(404, NO_LIVE)
        if not viewers.join():
            return refuse(503, f"{viewers.limit} live views are open already, the most this page "
                               "serves at once; close another Live tab and try again")
        disconnected = request.environ.get("waitress.client_disconnected", lambda: False)
        response = Response(viewers.frames(state.stopping, disconnected),
                            mimetype="multipart/x-mixed-replace; boundary=frame")
        response.call_on_close(viewers.leave)
        return response

    return app
