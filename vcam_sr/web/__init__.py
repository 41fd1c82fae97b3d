"""`vcam-sr web`: a small local page (Flask, served by waitress; the `web` extra) over the same
API as the command line: upload a video or image, follow its progress, download the result and
compare before and after; a Live tab shows the running pipeline's before | after as MJPEG.

The JSON API the page uses, and scripts can too:
    POST /api/jobs            multipart field `file` -> 201 {"id": ...}
    GET  /api/jobs/ID         state (queued, running, done, failed), progress, error
    GET  /api/jobs/ID/result  the upscaled file;  GET /api/jobs/ID/input  the upload
    GET  /api/live, POST /api/live/start|stop, GET /live.mjpg

Safety: uploads are limited in size while they are read; their type is found by opening them
(Pillow, PyAV), never by their name; stored names are the server's; files are served by job id
only. Bound to 127.0.0.1 by default; on any other address every request from elsewhere needs
the token that the page shows on the machine itself.
"""
from __future__ import annotations

import argparse
import logging
import secrets
import threading
from pathlib import Path

from engine_build.errors import VcamError

log = logging.getLogger("vcam_sr.web")
PAGE = Path(__file__).with_name("index.html")
LOCAL = ("127.0.0.1", "::1")


def probe(path: Path) -> tuple[str, str]:
    """(kind, suffix) of an upload, found by opening it; VcamError when it is neither."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.verify()
            fmt = im.format
        suffixes = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp"}
        if fmt not in suffixes:
            raise VcamError(f"{fmt} images are not supported; upload a PNG, JPEG or WebP image")
        return "image", suffixes[fmt]
    except (OSError, SyntaxError):
        pass
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VcamError("the upload has no video stream; upload a video or an image")
            next(container.decode(video=0))
            name = container.format.name
    except (av.FFmpegError, StopIteration, OSError):
        raise VcamError("the upload is neither an image nor a playable video; upload a PNG, JPEG, "
                        "WebP image or a video such as MP4") from None
    return "video", ".mp4" if "mp4" in name else ".mov" if "mov" in name else ".mkv"


def create_app(queue, preview=None, controller=None, token: str | None = None,
               max_bytes: int = 2 << 30, stopping: threading.Event | None = None):
    """The Flask app. `queue`: a JobQueue; `preview`/`controller`: the live pipeline's preview
    sink and service, or None; `token`: required from non-local clients when set."""
    from flask import Flask, Response, jsonify, request, send_file
    from werkzeug.exceptions import HTTPException
    from werkzeug.utils import secure_filename

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = max_bytes  # werkzeug stops reading past it: 413
    stopping = stopping or threading.Event()
    app.extensions["vcam_sr_stopping"] = stopping

    @app.errorhandler(HTTPException)
    def http_error(exc):
        sentences = {413: f"the upload is larger than the limit of {max_bytes / 2**20:.0f} MB; "
                          "upload a smaller file or start vcam-sr web with a higher --max-mb",
                     404: "no such page or job; check the address or the job id"}
        return jsonify(error=sentences.get(exc.code, exc.description)), exc.code

    @app.before_request
    def check_token():
        if token is None or request.remote_addr in LOCAL:
            return None
        given = request.headers.get("X-Token") or request.args.get("token") or request.cookies.get("vcam_sr_token")
        if not secrets.compare_digest(given or "", token):
            return jsonify(error="this vcam-sr page needs its token: open it on the machine "
                                 "running vcam-sr to read it, then add ?token=... to the address"), 401
        return None

    @app.after_request
    def remember_token(response):
        if token and request.args.get("token") == token:
            response.set_cookie("vcam_sr_token", token, httponly=True, samesite="Strict")
        return response

    @app.get("/")
    def page():
        html = PAGE.read_text()
        shown = token if token and request.remote_addr in LOCAL else ""
        return html.replace("{{TOKEN}}", shown).replace("{{LIVE}}", "1" if controller else "")

    @app.post("/api/jobs")
    def submit():
        files = request.files.getlist("file")
        if len(files) != 1:
            return jsonify(error="send exactly one file, in the multipart field 'file'"), 400
        upload = files[0]
        tmp = queue.folder / f".upload-{secrets.token_hex(8)}"
        try:
            upload.save(tmp)
            if tmp.stat().st_size == 0:
                return jsonify(error="the upload is empty; choose a video or image file"), 400
            kind, suffix = probe(tmp)
            name = secure_filename(upload.filename or "") or f"upload{suffix}"
            return jsonify(id=queue.submit(tmp, name, kind, suffix)), 201
        except VcamError as exc:
            return jsonify(error=str(exc)), 415
        finally:
            tmp.unlink(missing_ok=True)

    @app.get("/api/jobs")
    def jobs():
        return jsonify(jobs=[public(j) for j in queue.list()])

    @app.get("/api/jobs/<job_id>")
    def job(job_id):
        found = queue.get(job_id)
        return (jsonify(public(found)), 200) if found else (jsonify(error=f"no job {job_id}"), 404)

    @app.get("/api/jobs/<job_id>/<which>")
    def job_file(job_id, which):
        found = queue.get(job_id)
        if found is None or which not in ("input", "result"):
            return jsonify(error=f"no job {job_id} with a {which}"), 404
        if which == "result" and found["state"] != "done":
            return jsonify(error=f"job {job_id} is {found['state']}, not done"), 409
        name = found["download"] if which == "result" else found["name"]
        return send_file(queue.path(found, which), download_name=name, as_attachment=which == "result",
                         conditional=True)

    @app.get("/api/live")
    def live():
        return jsonify(controller.status() if controller else {"state": "none", "error":
                       "no live source; start vcam-sr web with --source 0 (or test)"})

    @app.post("/api/live/<action>")
    def live_action(action):
        if controller is None or action not in ("start", "stop"):
            return jsonify(error="no live source, or not start/stop"), 404
        controller.start(wait=True) if action == "start" else controller.stop()
        return jsonify(controller.status())

    @app.get("/live.mjpg")
    def mjpeg():
        if preview is None:
            return jsonify(error="no live source; start vcam-sr web with --source 0 (or test)"), 404

        def frames():
            count = 0
            while not stopping.is_set():
                jpeg, count = preview.jpeg(count, timeout=0.5)
                if jpeg is not None:
                    yield b"--frame\r\nContent-Type: image/jpeg\r\n\r\n" + jpeg + b"\r\n"

        return Response(frames(), mimetype="multipart/x-mixed-replace; boundary=frame")

    return app


def public(job: dict) -> dict:
    return {k: job[k] for k in ("id", "state", "kind", "name", "progress", "error", "download")}


class WebServer:
    """waitress serving the app in a thread; `close()` ends the MJPEG streams first, or their
    threads would keep waitress from closing."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 8300):
        from waitress.server import create_server

        self.app = app
        try:
            self.server = create_server(app, host=host, port=port, threads=8)
        except (OSError, ValueError) as exc:  # in use, not an address of this machine, unknown name
            raise VcamError(f"cannot serve on {host} port {port} ({getattr(exc, 'strerror', None) or exc}); "
                            "choose another --port, or a --host that is an address of this machine") from None
        self.port = self.server.effective_port
        self.thread = threading.Thread(target=self.server.run, name="web", daemon=True)

    def start(self) -> "WebServer":
        self.thread.start()
        return self

    def close(self) -> None:
        self.app.extensions["vcam_sr_stopping"].set()
        self.server.close()
        self.thread.join(timeout=10)


def main(argv=None) -> int:
    from platformdirs import user_data_dir

    from vcam_sr.config import bounded_int, load_config
    from vcam_sr.jobs import JobQueue
    from vcam_sr.service import Controller
    from vcam_sr.sinks.preview import PreviewSink
    from vcam_sr.upscalers import create_upscaler

    ap = argparse.ArgumentParser(prog="vcam-sr web", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1; "
                                                        "anything else requires the page's token)")
    ap.add_argument("--port", type=bounded_int(0, 65535), default=8300, help="port (default 8300; 0 = any free one)")
    ap.add_argument("--max-mb", type=bounded_int(1, 1 << 20), default=2048, help="largest upload in MB (default 2048)")
    ap.add_argument("--jobs-dir", type=Path, default=Path(user_data_dir("vcam-sr")) / "jobs",
                    help="where uploads, results and the queue are kept")
    ap.add_argument("--source", help="a live source for the Live tab (camera index, test, screen, ...)")
    ap.add_argument("-m", "--model", default="auto", help="model for uploads and live (default auto)")
    ap.add_argument("-b", "--backend", default="auto", help="inference backend (default auto)")
    args = ap.parse_args(argv)
    try:
        import flask  # noqa: F401
        import waitress  # noqa: F401
    except ImportError:
        raise VcamError("the web page needs Flask and waitress; run pip install 'vcam-sr[web]'") from None
    token = None
    if args.host not in (*LOCAL, "localhost"):
        token = secrets.token_urlsafe(12)
        log.warning("serving on %s: other machines can reach this page, so each needs the token "
                    "shown on the page opened on this machine (http://127.0.0.1:%d/)", args.host, args.port)
    if args.jobs_dir.exists() and not args.jobs_dir.is_dir():
        raise VcamError(f"--jobs-dir {args.jobs_dir} is a file; give a folder for the uploads and results")
    queue = JobQueue(args.jobs_dir, lambda size, fps: create_upscaler(args.backend, args.model, 0, 1.0, size))
    preview = controller = None
    if args.source is not None:
        preview = PreviewSink()
        controller = Controller(load_config(None, {"source": args.source, "sinks": ["null"],
                                                   "model": args.model, "backend": args.backend}), [preview])
        controller.start()
    server = WebServer(create_app(queue, preview, controller, token, args.max_mb << 20), args.host, args.port)
    log.info("vcam-sr web on http://%s:%s/ (jobs in %s)", args.host, server.port, args.jobs_dir)
    try:
        server.start().thread.join()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        if controller:
            controller.stop()
        queue.close()
    return 0
