"""Who may use the page; checked before every request, in this order:

- Host: only the server's own names (127.0.0.1, localhost, [::1], the --host address; with a
  wildcard --host also any IP address and this machine's name) on the port it serves, so a
  DNS-rebinding page at evil.example that resolves to 127.0.0.1 gets nothing.
- The access token (with a --host other than loopback): a client not on this machine sends it
  (X-Token header, ?token= once, then a cookie). The page shows it only to a request that is
  local by both its address and its Host.
- Sec-Fetch-Site: another site's subresource request (an <img> or <video> pointing here) is
  refused; another site may only link to the page itself.
- State changes (POST, DELETE, and the Live stream, which starts the camera) come from the
  page itself: Origin, or else Referer, when sent, must be this page, and the page's per-run
  CSRF token must come in the X-CSRF-Token header (?csrf= for the stream). A script reads the
  token from GET /api/session, keeping the cookie it sets.
- Sessions: a random cookie per browser; a job belongs to a hash of it, so each browser sees
  only its own jobs.

Werkzeug's TRUSTED_HOSTS ignores the port and cannot accept "any address of this machine",
so the Host check is done here.
"""
from __future__ import annotations

import hashlib
import ipaddress
import re
import secrets
import socket
from urllib.parse import urlsplit

from flask import g, jsonify, redirect, request

SESSION_COOKIE, TOKEN_COOKIE = "vcam_sr_session", "vcam_sr_token"
SESSION_ID = re.compile(r"[A-Za-z0-9_-]{43}")
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
STARTS_SOMETHING = frozenset({"/live.mjpg"})  # GETs that change state: they need the CSRF token
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; media-src 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def is_loopback(address: str | None) -> bool:
    """True for 127.0.0.0/8 and ::1, also written as ::ffff:127.0.0.1."""
    try:
        ip = ipaddress.ip_address((address or "").split("%")[0])
    except ValueError:
        return False
    return (getattr(ip, "ipv4_mapped", None) or ip).is_loopback


def is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name.split("%")[0])
        return True
    except ValueError:
        return False


def refuse(status: int, sentence: str):
    return jsonify(error=sentence), status


class Guard:
    def __init__(self, host: str, token: str | None):
        """`host`: the address served on; `token`: required from other machines, or None."""
        self.token, self.csrf = token, secrets.token_urlsafe(32)
        self.any_address = host in ("0.0.0.0", "::", "")
        self.names = set(LOOPBACK_NAMES)
        if self.any_address:
            machine = socket.gethostname().lower()
            self.names |= {machine, machine + ".local"}
        else:
            self.names.add(host.strip("[]").lower())

    def install(self, app) -> None:
        app.before_request(self.check)
        app.after_request(self.finish)

    # -- the checks -----------------------------------------------------------------------
    def host_name(self) -> str | None:
        """The request's Host name when it is one of ours, on our port; else None."""
        raw = request.environ.get("HTTP_HOST", "")
        try:
            parts = urlsplit("//" + raw)
            name, port = parts.hostname, parts.port or 80
        except ValueError:  # a port that is not a number, or out of range
            return None
        if (not name or "@" in raw or parts.path or parts.query or parts.fragment
                or str(port) != request.environ.get("SERVER_PORT")):
            return None
        return name if name in self.names or (self.any_address and is_ip(name)) else None

    def check(self):
        g.host_name = self.host_name()
        own = f"http://127.0.0.1:{request.environ.get('SERVER_PORT')}/"
        if g.host_name is None:
            return refuse(403, f"this page answers only at its own address, such as {own}; a "
                               "request for another host name was refused")
        g.token_ok = self.token is None or is_loopback(request.remote_addr) or self.given_token()
        if not g.token_ok:
            return refuse(401, "this vcam-sr page needs its token: open it on the machine running "
                               "vcam-sr to read it, then add ?token=... to the address")
        if request.method == "GET" and request.path == "/" and self.matches(request.args.get("token")):
            response = redirect("/", 303)  # the token moves into a cookie, out of the address bar
            response.set_cookie(TOKEN_COOKIE, self.token, httponly=True, samesite="Strict")
            return response
        site = request.headers.get("Sec-Fetch-Site", "same-origin")
        navigation = request.headers.get("Sec-Fetch-Mode") == "navigate" and request.path == "/"
        if site not in ("same-origin", "none") and not (navigation and request.method == "GET"):
            return refuse(403, "another website asked this page for something; only the page "
                               f"itself may, so open {own} directly")
        if request.method not in SAFE_METHODS or request.path in STARTS_SOMETHING:
            problem = self.cross_site_problem()
            if problem:
                return refuse(403, problem)
        self.open_session()
        return None

    def given_token(self) -> bool:
        return any(self.matches(given) for given in (request.headers.get("X-Token"),
                   request.args.get("token"), request.cookies.get(TOKEN_COOKIE)))

    def matches(self, given: str | None) -> bool:
        """`given` is the access token (compared as bytes: any text, no exception)."""
        return bool(self.token and given) and secrets.compare_digest(
            given.encode("utf-8", "replace"), self.token.encode())

    def cross_site_problem(self) -> str | None:
        """Why this state-changing request may not come from the page itself, or None."""
        own = "http://" + request.environ["HTTP_HOST"].lower()
        origin, referer = request.headers.get("Origin"), request.headers.get("Referer")
        if origin is not None and origin.lower() != own:
            return "a request from another website (Origin) was refused; use the page itself"
        if origin is None and referer is not None:
            try:
                parts = urlsplit(referer)
            except ValueError:  # "http://[::1" and other addresses that are no address
                parts = urlsplit("")
            if f"{parts.scheme}://{parts.netloc}".lower() != own:
                return "a request from another website (Referer) was refused; use the page itself"
        sent = request.headers.get("X-CSRF-Token") or (
            request.args.get("csrf") if request.path in STARTS_SOMETHING else None)
        if not sent or not secrets.compare_digest(sent.encode("utf-8", "replace"), self.csrf.encode()):
            return ("this request needs the page's X-CSRF-Token header; use the page, or read the "
                    "token from GET /api/session in a script (keeping its cookie)")
        return None

    # -- sessions and headers ---------------------------------------------------------------
    def open_session(self) -> None:
        sid = request.cookies.get(SESSION_COOKIE, "")
        g.new_session = None if SESSION_ID.fullmatch(sid) else secrets.token_urlsafe(32)
        g.owner = hashlib.sha256((g.new_session or sid).encode()).hexdigest()[:32]

    def shows_token(self) -> bool:
        """The token is shown only on this machine: a loopback address and a loopback Host."""
        return bool(self.token) and is_loopback(request.remote_addr) and g.get("host_name") in LOOPBACK_NAMES

    def finish(self, response):
        response.headers.update(HEADERS)
        if request.path.startswith("/api/"):
            response.headers["Cache-Control"] = "no-store"
        if g.get("new_session"):
            response.set_cookie(SESSION_COOKIE, g.new_session, max_age=30 * 86400, httponly=True,
                                samesite="Lax")
        return response
