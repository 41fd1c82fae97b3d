"""What the tray says: short lines for the menu, a tooltip that names a problem (frames dropped)
and its fix, and the headline of an error sentence (the command line's 'problem; fix')."""
from __future__ import annotations

import re

SLOW_SHARE = 0.9  # below this share of the source's rate, with frames dropped, the run is too slow


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def parts(sentence: str) -> tuple[str, str, str]:
    """(problem, cause, fix) of an error sentence written as 'problem (cause); fix', the form
    of the command line's errors; ('sentence', '', '') for any other form."""
    match = re.fullmatch(r"(?P<head>[^(;]+?)(?: \((?P<why>.+?)\))?(?:; (?P<fix>.+))?", sentence, re.S)
    if match is None:
        return sentence, "", ""
    return match["head"], match["why"] or "", match["fix"] or ""


def headline(sentence: str, limit: int = 64) -> str:
    """The problem, capitalised, cut at a word if it is long (the menu item that shows it
    opens the whole sentence)."""
    head = parts(sentence)[0]
    if len(head) > limit:
        head = head[:limit].rsplit(" ", 1)[0] + "…"
    return _capital(head)


def explanation(sentence: str) -> str:
    """The cause and the fix on lines of their own, for a message box under the headline."""
    head, why, fix = parts(sentence)
    if not (why or fix) or len(head) > 64:
        return _capital(sentence) + "."
    return "\n\n".join(([f"Cause: {why}."] if why else []) + ([_capital(fix) + "."] if fix else []))


def running(fps: float, target: float | None, dropping: bool, model: str, output: str) -> tuple[str, str]:
    """(menu line, tooltip) for a running camera: when frames are dropped and the rate falls
    short of the source's, say so, why, and what to do."""
    if target and dropping and fps < SLOW_SHARE * target:
        rate = f"running at {fps:.1f} of {target:g} fps"
        return (f"vcam-sr: {rate}, too slow",
                f"vcam-sr: {rate}: frames are dropped because the model is too slow for this "
                "input;\nchoose a smaller camera size or the fast model")
    return (f"vcam-sr: running at {fps:.1f} fps, model {model}",
            f"vcam-sr: running at {fps:.1f} fps\nmodel {model}, output: {output}")


def output_name(output: str) -> str:
    """'virtualcam', 'preview', 'file:PATH' or a list of sinks, as the menu says it."""
    if output == "virtualcam":
        return "virtual camera"
    if output == "preview":
        return "preview window"
    if output == "null":
        return "none (frames are discarded)"
    if output.startswith("file:"):
        return f"recording to {output[5:]}"
    return output
