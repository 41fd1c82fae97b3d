"""`vcam-sr web`: a small local page (Flask, served by waitress; the `web` extra) over the same
API as the command line: upload a video or image, follow it in a list of this browser's jobs,
cancel or delete it, download the result and compare before and after (a slider on the
picture, 100% crops, players that play and seek together); a Live tab shows the pipeline's
before | after, and the pipeline runs only while someone watches.

app.py holds the JSON API, security.py who may use it (Host, token, CSRF, sessions),
uploads.py the checks of an upload's header, live.py the Live stream, server.py waitress and
the command. Bound to 127.0.0.1 by default; on any other address every request from elsewhere
needs the token that the page shows on the machine itself.
"""
from vcam_sr.apps.web.server import WebServer, main


def create_app(*args, **kwargs):
    """The Flask app (vcam_sr.apps.web.app.create_app); imported on call, so `vcam-sr web --help`
    and the missing-Flask sentence work without Flask."""
    from vcam_sr.apps.web.app import create_app as create

    return create(*args, **kwargs)


__all__ = ["WebServer", "create_app", "main"]
