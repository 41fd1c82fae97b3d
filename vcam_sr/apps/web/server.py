"""`vcam-sr web`: waitress serving the app, with limits that keep it answering: a real upload
limit (--max-mb, refused in JSON), idle and half-sent connections timed out, a cap on open
connections, and enough threads that the Live viewers cannot take the API's. The main thread
waits for a stop signal, then closes server, live pipeline and job queue, in that order."""
from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import logging
import os
import secrets
import shutil
import signal
import tempfile
import threading
from pathlib import Path

from vcam_sr.commands import apply_log_level, parser
from vcam_sr.errors import VcamError

log = logging.getLogger("vcam_sr.apps.web")
API_THREADS = 6  # besides one per allowed Live viewer


def room_problem(size: int, jobs: Path) -> str | None:
    """Why an upload of `size` bytes does not fit, or None. waitress keeps a request's body in
    TMPDIR until it is whole; the app then writes the file into the jobs folder."""
    need: dict[int, list] = {}
    for folder, what in ((Path(tempfile.gettempdir()), "the temporary folder {} (TMPDIR)"),
                         (jobs, "the jobs folder {}")):
        try:
            entry = need.setdefault(os.stat(folder).st_dev, [folder, what, 0])
            entry[2] += size
        except OSError:
            continue
    for folder, what, bytes_needed in need.values():
        free = shutil.disk_usage(folder).free
        if free < bytes_needed + (1 << 20):
            return (f"{what.format(folder)} is too full: the upload needs {bytes_needed / 2**20:.1f} MB "
                    f"there, {free / 2**20:.1f} MB are free; free some space, or start vcam-sr web "
                    "with TMPDIR or --jobs-dir on a larger disk")
    return None


def json_error_channel(too_large: str, jobs: Path):
    """waitress's channel, refusing in JSON like the app (instead of text/plain) a body over the
    limit, a bad request, and, before receiving it, an upload with no room on the disk."""
    from waitress.channel import HTTPChannel
    from waitress.parser import HTTPRequestParser
    from waitress.task import ErrorTask
    from waitress.utilities import Error

    class InsufficientStorage(Error):
        code, reason = 507, "Insufficient Storage"

    class RoomCheckingParser(HTTPRequestParser):
        def parse_header(self, header_plus):
            super().parse_header(header_plus)
            if self.content_length > self.adj.inbuf_overflow:  # it will go to disk
                problem = room_problem(self.content_length, jobs)
                if problem:
                    self.error, self.completed = InsufficientStorage(problem), True

    class JsonErrorTask(ErrorTask):
        def execute(self):
            error = self.request.error
            sentence = {413: too_large, 507: error.body}.get(error.code, f"{error.reason}: {error.body}")
            body = json.dumps({"error": sentence}).encode()
            self.status = f"{error.code} {error.reason}"
            self.response_headers.append(("Content-Type", "application/json"))
            self.set_close_on_finish()
            self.content_length = len(body)
            self.write(body)

    class JsonErrorChannel(HTTPChannel):
        error_task_class, parser_class = JsonErrorTask, RoomCheckingParser

    return JsonErrorChannel


class WebServer:
    """waitress serving the app in a thread; `close()` ends the Live streams first, or their
    threads would keep waitress from closing."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 8300, idle_timeout: int = 20,
                 connection_limit: int = 200):
        from waitress.server import BaseWSGIServer, create_server

        state = app.extensions["vcam_sr"]
        self.app = app
        try:
            self.server = create_server(
                app, host=host, port=port, ident="vcam-sr",
                threads=API_THREADS + (state.viewers.limit if state.viewers else 0),
                max_request_body_size=app.config["MAX_CONTENT_LENGTH"],
                channel_timeout=idle_timeout, cleanup_interval=max(1, idle_timeout // 4),
                connection_limit=connection_limit,
                channel_request_lookahead=1)  # a viewer that left is noticed while it streams
        except (OSError, ValueError) as exc:  # in use, not an address of this machine, unknown name
            raise VcamError(f"cannot serve on {host} port {port} ({getattr(exc, 'strerror', None) or exc}); "
                            "choose another --port, or a --host that is an address of this machine") from None
        listeners = [self.server] if isinstance(self.server, BaseWSGIServer) else [  # one per address
            s for s in self.server.map.values() if isinstance(s, BaseWSGIServer)]
        for listener in listeners:
            listener.channel_class = json_error_channel(state.too_large, state.queue.folder)
        self.listener, self.port = listeners[0], listeners[0].effective_port
        self._closing = threading.Event()
        self.thread = threading.Thread(target=self._serve, name="web", daemon=True)

    def start(self) -> "WebServer":
        self.thread.start()
        return self

    def _serve(self) -> None:
        """waitress's loop, a second at a time until close() asks it to end; then every socket
        is closed here (closing them from another thread races this thread's select), and a
        request thread that wakes the loop later wakes nothing: its pipe's number may be reused."""
        from waitress import wasyncore

        adj, sockets = self.listener.adj, self.listener._map
        while sockets and not self._closing.is_set():
            wasyncore.loop(timeout=adj.asyncore_loop_timeout, map=sockets, use_poll=adj.asyncore_use_poll,
                           count=1)
        self.listener.trigger._physical_pull = lambda: None
        wasyncore.close_all(sockets)

    def close(self) -> None:
        """Stop the streams, let the request threads finish, then end the loop and wait for it.
        The wake-up only hurries it: a wake-up pipe already closed (seen in CI: EBADF) leaves it
        to notice within its one-second timeout."""
        self.app.extensions["vcam_sr"].stopping.set()
        self.listener.task_dispatcher.shutdown(timeout=5)
        self._closing.set()
        with contextlib.suppress(OSError):
            self.listener.trigger.pull_trigger()
        self.thread.join(timeout=10)

def browse_address(host: str, port: int) -> str:
    """The address to open on this machine: a wildcard host is reached at its loopback."""
    name = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)
    try:
        bracketed = f"[{name}]" if ipaddress.ip_address(name).version == 6 else name
    except ValueError:
        bracketed = name
    return f"http://{bracketed}:{port}/"


def build_parser() -> argparse.ArgumentParser:
    from platformdirs import user_data_dir

    from vcam_sr.config import bounded_int
    from vcam_sr.media.images import MAX_PIXELS

    ap = parser("web", "A page in your browser: upload a video or image, follow your jobs, compare "
                       "before and after, download the 2x result; with --source, watch a camera "
                       "before and after live. It answers on this machine only, unless --host names "
                       "another address.", models=("backend", "model"))
    ap.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1; "
                                                        "anything else requires the page's token)")
    ap.add_argument("--port", type=bounded_int(0, 65535), default=8300, help="port (default 8300; 0 = any free one)")
    ap.add_argument("--max-mb", type=bounded_int(1, 1 << 20), default=2048, metavar="MB",
                    help="largest upload in MB (default 2048)")
    ap.add_argument("--max-megapixels", type=bounded_int(1, MAX_PIXELS // 1_000_000), default=4,
                    metavar="MP",
                    help="largest image in megapixels (default 4; each takes about 0.3 GB of "
                         "memory while it is upscaled; videos: up to 1920x1080)")
    ap.add_argument("--keep-hours", type=bounded_int(0, 24 * 365), default=24, metavar="HOURS",
                    help="remove finished jobs this many hours after they end (default 24; 0 keeps them)")
    ap.add_argument("--jobs-dir", type=Path, default=Path(user_data_dir("vcam-sr")) / "jobs", metavar="FOLDER",
                    help="where uploads, results and the queue are kept")
    ap.add_argument("--source", help="a live source for the Live tab (camera index, test, screen, ...)")
    return ap


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    apply_log_level(args)
    try:
        import flask  # noqa: F401
        import waitress  # noqa: F401
    except ImportError:
        raise VcamError("the web page needs Flask and waitress; run pip install 'vcam-sr[web]'") from None
    from vcam_sr.config import load_config
    from vcam_sr.convert.jobs import JobQueue
    from vcam_sr.controller import Controller
    from vcam_sr.sinks.preview import PreviewSink
    from vcam_sr.upscalers import create_upscaler
    from vcam_sr.apps.web.app import create_app
    from vcam_sr.apps.web.security import LOOPBACK_NAMES

    if args.jobs_dir.exists() and not args.jobs_dir.is_dir():
        raise VcamError(f"--jobs-dir {args.jobs_dir} is a file; give a folder for the uploads and results")
    local = args.host.strip("[]") in LOOPBACK_NAMES
    token = None if local else secrets.token_urlsafe(16)
    queue = JobQueue(args.jobs_dir, lambda size, fps: create_upscaler(args.backend, args.model, 0, fps, size),
                     keep_hours=args.keep_hours, model=args.model)
    preview = controller = None
    if args.source is not None:  # started when someone opens the Live tab
        preview = PreviewSink()
        controller = Controller(load_config(None, {"source": args.source, "sinks": ["null"],
                                                   "model": args.model, "backend": args.backend}), [preview])
    try:
        app = create_app(queue, preview, controller, token, args.max_mb << 20, host=args.host,
                         max_pixels=args.max_megapixels * 1_000_000)
        server = WebServer(app, args.host, args.port).start()
    except BaseException:
        queue.close()
        raise
    return serve(server, queue, app.extensions["vcam_sr"].viewers, args, token)


def serve(server: WebServer, queue, viewers, args, token: str | None) -> int:
    """Run until SIGINT, SIGTERM or SIGHUP (exit 130, 143, 129), then close everything."""
    stop, codes = threading.Event(), []
    for sig, code in ((signal.SIGINT, 130), (signal.SIGTERM, 143), (getattr(signal, "SIGHUP", None), 129)):
        if sig is not None:
            signal.signal(sig, lambda *_, code=code: (codes.append(code), stop.set()))
    address = browse_address(args.host, server.port)
    log.info("vcam-sr web on %s (jobs in %s)", address, args.jobs_dir)
    if token:
        log.warning("serving on %s: other machines can reach this page, so each needs the token "
                    "shown on the page opened on this machine (%s)", args.host,
                    browse_address("127.0.0.1", server.port))
    try:
        while not stop.wait(1.0):
            if not server.thread.is_alive():
                log.error("the web server stopped unexpectedly")
                codes.append(1)
                break
    finally:
        log.info("stopping: the server, the live view, then the job queue")
        server.close()
        if viewers is not None:
            viewers.stop()
        queue.close()
    return codes[0] if codes else 0
