"""The one exception type users see: a plain sentence naming the problem and the fix."""


class VcamError(Exception):
    """Raised for problems the user can fix (missing camera, bad file, wrong option).
    The CLI prints the message alone, without a traceback, and exits non-zero."""
