#!/usr/bin/env python3
"""CI smoke test of vcam-sr as users install it: the wheel, in fresh venvs (base, [web], [tray]),
run outside the repository so that its sources are not on sys.path.

Every README command on its documented install: each subcommand's --help, `upscale` of an image
and a 1 s clip, README's test-pattern demo and the preview window (Xvfb) on the base install;
a job over HTTP on [web]; the tray icon (Xvfb + trayer) on [tray]. One line per check, PASS or
FAIL with the reason; exit status 1 if any failed. Standard library only (it runs before any
install). Needs Xvfb, openbox, trayer and xdotool (.ci/run installs them).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SUBCOMMANDS = ["upscale", "web", "tray", "doctor", "models", "bench", "build-engine", "autostart"]
INSTALLS = {"base": "", "web": "[web]", "tray": "[tray]"}
MAKE_INPUTS = """
import fractions, sys, av, cv2, numpy as np
y, x = np.mgrid[0:64, 0:96]
frame = np.dstack([x * 2, y * 3, (x + y) % 256]).astype(np.uint8)
cv2.imwrite(sys.argv[1], cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
with av.open(sys.argv[2], "w") as out:
    stream = out.add_stream("libx264", rate=fractions.Fraction(25))
    stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
    for i in range(25):
        out.mux(stream.encode(av.VideoFrame.from_ndarray(np.roll(frame, i, axis=1), format="rgb24")))
    out.mux(stream.encode(None))
"""
VIDEO_INFO = """
import json, sys, av
with av.open(sys.argv[1]) as c:
    frames = [f for f in c.decode(video=0)]
print(json.dumps({"frames": len(frames), "size": [frames[0].width, frames[0].height] if frames else None}))
"""


class Fail(Exception):
    """A check's reason for failing."""


class Smoke:
    def __init__(self, work: Path):
        self.work, self.failed = work, 0
        self.run_dir = work / "run"  # the commands' working folder: outside the repository
        self.run_dir.mkdir()
        self.env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "QT_QPA_PLATFORM")}
        for name in ("CONFIG", "DATA", "STATE", "CACHE"):  # nothing of the machine's user is touched
            self.env[f"XDG_{name}_HOME"] = str(work / "home" / name.lower())

    def check(self, name: str, fn, *args) -> None:
        start = time.monotonic()
        try:
            detail = fn(*args)
            print(f"PASS {name}: {detail} ({time.monotonic() - start:.0f} s)", flush=True)
        except Fail as exc:
            self.failed += 1
            print(f"FAIL {name}: {exc}", flush=True)
        except (subprocess.SubprocessError, OSError, ValueError, KeyError, StopIteration) as exc:
            self.failed += 1
            print(f"FAIL {name}: {type(exc).__name__}: {exc}", flush=True)

    def venv_env(self, venv: str, **extra) -> dict:
        return {**self.env, "PATH": f"{self.work / venv / 'bin'}{os.pathsep}{self.env['PATH']}", **extra}

    def run(self, venv: str, args: list[str], timeout: float, **extra) -> subprocess.CompletedProcess:
        return subprocess.run(args, cwd=self.run_dir, env=self.venv_env(venv, **extra), capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL)

    def python(self, venv: str, code: str, *args: str) -> str:
        proc = self.run(venv, [str(self.work / venv / "bin" / "python"), "-c", code, *args], timeout=120)
        if proc.returncode:
            raise Fail(f"helper script failed: {last_line(proc.stderr)}")
        return proc.stdout

    # -- install --------------------------------------------------------------------------------
    def build_wheel(self) -> str:
        """From a copy of the files git would commit (of the tree, less what builds leave, when
        it is not a git checkout), so no stale build/ folder leaks into the wheel."""
        src = self.work / "src"
        try:
            listed = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others",
                                     "--exclude-standard"], capture_output=True, text=True, timeout=60, check=True)
        except (OSError, subprocess.CalledProcessError):
            shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info",
                                                                     "__pycache__"))
        else:
            for name in filter(None, listed.stdout.split("\0")):
                if (REPO / name).is_file():
                    (src / name).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(REPO / name, src / name)
        subprocess.run([sys.executable, "-m", "venv", str(self.work / "build")], check=True, timeout=300)
        proc = subprocess.run([str(self.work / "build" / "bin" / "pip"), "wheel", "-q", "--no-deps", "-w",
                               str(self.work / "dist"), str(src)], capture_output=True, text=True, timeout=600)
        if proc.returncode:
            raise Fail(f"pip wheel failed: {last_line(proc.stderr)}")
        self.wheel = next((self.work / "dist").glob("vcam_sr-*.whl"))
        return self.wheel.name

    def install(self, venv: str, extra: str) -> str:
        subprocess.run([sys.executable, "-m", "venv", str(self.work / venv)], check=True, timeout=300)
        proc = self.run(venv, [str(self.work / venv / "bin" / "pip"), "install", "-q", f"{self.wheel}{extra}"],
                        timeout=900)
        if proc.returncode:
            raise Fail(f"pip install failed: {last_line(proc.stderr)}")
        where = self.python(venv, "import vcam_sr; print(vcam_sr.__file__)").strip()
        if not where.startswith(str(self.work / venv)):
            raise Fail(f"vcam_sr is imported from {where}, not from the venv")
        return f"pip install 'vcam_sr.whl{extra}' into a fresh venv"

    # -- base -----------------------------------------------------------------------------------
    def help(self, command: str) -> str:
        proc = self.run("base", ["vcam-sr", *([command] if command else []), "--help"], timeout=120)
        if "Traceback" in proc.stderr:
            raise Fail(f"traceback: {last_line(proc.stderr)}")
        if proc.returncode == 0 and "usage:" in proc.stdout:
            return "usage shown"
        lines = proc.stderr.strip().splitlines()
        if command == "build-engine" and proc.returncode and len(lines) == 1:
            return f"one sentence: {lines[0]}"  # it may need the trt extra
        raise Fail(f"exit {proc.returncode}: {last_line(proc.stderr or proc.stdout)}")

    def make_inputs(self) -> str:
        self.python("base", MAKE_INPUTS, "photo.png", "clip.mp4")
        return "photo.png (96x64) and clip.mp4 (25 frames, 1 s) written by the venv's OpenCV and PyAV"

    def upscale_image(self) -> str:
        vcam_sr(self, "base", ["upscale", "photo.png"], timeout=300)
        size = png_size(self.run_dir / "photo_2x.png")
        if size != (192, 128):
            raise Fail(f"photo_2x.png is {size}, not 192x128")
        return "photo_2x.png is 192x128"

    def upscale_video(self) -> str:
        vcam_sr(self, "base", ["upscale", "clip.mp4"], timeout=300)
        info = json.loads(self.python("base", VIDEO_INFO, "clip_2x.mp4"))
        if info != {"frames": 25, "size": [192, 128]}:
            raise Fail(f"clip_2x.mp4 has {info}, not 25 frames of 192x128")
        return "clip_2x.mp4: 25 frames of 192x128"

    def readme_demo(self) -> str:
        """README's demo command, read from the README itself."""
        found = re.search(r"pip install \. && (vcam-sr --source test [^`\n]*)", (REPO / "README.md").read_text())
        if not found:
            raise Fail("README shows no 'pip install . && vcam-sr --source test ...' command")
        args = shlex.split(found.group(1))[1:]
        vcam_sr(self, "base", args, timeout=300)
        out = next((a.removeprefix("file:") for a in args if a.startswith("file:")), None)
        frames = int(args[args.index("--frames") + 1]) if "--frames" in args else None
        info = json.loads(self.python("base", VIDEO_INFO, out))
        if info["frames"] != frames or info["size"] != [1280, 720]:
            raise Fail(f"{out} has {info}, not {frames} frames of 1280x720")
        return f"{found.group(1)}: {frames} frames of 1280x720"

    def window(self, display: str) -> str:
        args = ["--source", "test", "--sink", "window", "--frames", "60"]
        proc = vcam_sr(self, "base", args, timeout=180, DISPLAY=display)
        if "finished: 60 frames" not in proc.stderr:
            raise Fail(f"ended without showing 60 frames: {last_line(proc.stderr)}")
        return "vcam-sr " + " ".join(args) + " ended by itself after 60 frames"

    # -- [web] and [tray] -----------------------------------------------------------------------
    def web(self) -> str:
        proc = self.start("web", ["vcam-sr", "web", "--port", "0", "--jobs-dir", str(self.work / "jobs")])
        try:
            line = proc.wait_for_line(r"vcam-sr web on (http://\S+/)", 120)
            base = re.search(r"(http://\S+/)", line).group(1)
            client = WebClient(base)
            job = client.post_file("api/jobs", self.run_dir / "photo.png")["id"]
            deadline = time.monotonic() + 180
            while (state := client.get_json(f"api/jobs/{job}"))["state"] in ("queued", "running"):
                if time.monotonic() > deadline:
                    raise Fail(f"the job is still {state['state']} after 180 s")
                time.sleep(0.5)
            if state["state"] != "done":
                raise Fail(f"the job ended {state['state']}: {state.get('error')}")
            (self.run_dir / "web_2x.png").write_bytes(client.get(f"api/jobs/{job}/result"))
            size = png_size(self.run_dir / "web_2x.png")
            if size != (192, 128):
                raise Fail(f"the result is {size}, not 192x128")
        finally:
            code = proc.stop(signal.SIGTERM, 20)
        if code not in (0, 143):
            raise Fail(f"after SIGTERM it exited {code}")
        return f"upload, poll, download: 192x128; SIGTERM: exit {code}"

    def tray(self, display: str) -> str:
        proc = self.start("tray", ["vcam-sr", "tray", "--source", "test", "--sink", "null", "--backend",
                                   "bicubic", "--start"], DISPLAY=display)
        try:
            proc.wait_for_line(r"tray ready", 120)
            deadline = time.monotonic() + 30
            while not (icons := subprocess.run(["xdotool", "search", "--onlyvisible", "--pid", str(proc.popen.pid)],
                                               env={**self.env, "DISPLAY": display}, capture_output=True,
                                               text=True, timeout=30).stdout.split()):
                if time.monotonic() > deadline:
                    raise Fail("no tray icon was shown within 30 s")
                time.sleep(0.5)
        finally:
            code = proc.stop(signal.SIGTERM, 30)
        if code != 0:
            raise Fail(f"after SIGTERM it exited {code}")
        return f"icon window {icons[0]} shown in the tray; SIGTERM: exit 0"

    def start(self, venv: str, args: list[str], **extra) -> Background:
        return Background(subprocess.Popen(args, cwd=self.run_dir, env=self.venv_env(venv, **extra), text=True,
                                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                           stderr=subprocess.PIPE))


class Background:
    """A process in the background whose stderr lines a thread collects as they come."""

    def __init__(self, popen: subprocess.Popen):
        self.popen, self.lines, self.cond = popen, [], threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.popen.stderr:
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()
        with self.cond:
            self.lines.append(None)  # the end
            self.cond.notify_all()

    def wait_for_line(self, pattern: str, timeout: float) -> str:
        """The first stderr line matching `pattern`; failing if the process ends or stays silent."""
        def match():
            return next((line for line in self.lines if line and re.search(pattern, line)), None)

        with self.cond:
            self.cond.wait_for(lambda: match() or None in self.lines, timeout)
            line = match()
        if line is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=10 if None in self.lines else 0)
            raise Fail(f"no line matching {pattern!r} within {timeout} s (exit {self.popen.returncode}): "
                       f"{last_line(''.join(filter(None, self.lines)))}")
        return line

    def stop(self, sig: int, timeout: float) -> int | str:
        """Send `sig`; the exit code, or 'still running' (then it is killed)."""
        self.popen.send_signal(sig)
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout=10)
            return f"still running {timeout} s after it"


class WebClient:
    """A script's session, as vcam_sr/apps/web/app.py documents it: a cookie jar, and the CSRF
    token of GET /api/session sent as X-CSRF-Token."""

    def __init__(self, base: str):
        self.base, self.headers = base, {}
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        self.headers = {"X-CSRF-Token": self.get_json("api/session")["csrf"]}

    def get(self, path: str) -> bytes:
        with self.opener.open(urllib.request.Request(self.base + path, headers=self.headers),
                              timeout=30) as response:
            return response.read()

    def get_json(self, path: str) -> dict:
        return json.loads(self.get(path))

    def post_file(self, path: str, file: Path) -> dict:
        boundary = uuid.uuid4().hex
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file.name}\"\r\n"
                f"Content-Type: application/octet-stream\r\n\r\n").encode() + file.read_bytes() + \
            f"\r\n--{boundary}--\r\n".encode()
        request = urllib.request.Request(self.base + path, data=body, method="POST", headers={
            **self.headers, "Content-Type": f"multipart/form-data; boundary={boundary}"})
        try:
            with self.opener.open(request, timeout=60) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise Fail(f"the upload got HTTP {exc.code}: {exc.read()[:300]!r}") from None


def vcam_sr(smoke: Smoke, venv: str, args: list[str], timeout: float, **extra) -> subprocess.CompletedProcess:
    proc = smoke.run(venv, ["vcam-sr", *args], timeout=timeout, **extra)
    if proc.returncode or "Traceback" in proc.stderr:
        raise Fail(f"vcam-sr {' '.join(args)}: exit {proc.returncode}: {last_line(proc.stderr)}")
    return proc


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        raise Fail(f"{path.name} is not a PNG")
    return struct.unpack(">II", head[16:24])


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def start_desktop() -> tuple[str, list[subprocess.Popen]]:
    """Xvfb with a window manager and a system tray; its DISPLAY and processes."""
    missing = [tool for tool in ("Xvfb", "openbox", "trayer", "xdotool") if not shutil.which(tool)]
    if missing:
        raise Fail(f"{', '.join(missing)} not installed (.ci/run installs them)")
    read_fd, write_fd = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1024x768x24", "-nolisten",
                               "tcp"], pass_fds=(write_fd,), stderr=subprocess.DEVNULL)
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        display = f":{pipe.readline().strip()}"
    env = {**os.environ, "DISPLAY": display}
    quiet = {"env": env, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    return display, [server, subprocess.Popen(["openbox", "--sm-disable"], **quiet),
                     subprocess.Popen(["trayer", "--edge", "top", "--align", "left", "--width", "10", "--height",
                                       "40", "--SetDockType", "true", "--transparent", "false"], **quiet)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--keep", action="store_true", help="keep the work folder (venvs, inputs, outputs)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="vcam-sr-smoke-"))
    smoke, desktop = Smoke(work), []
    try:
        smoke.check("build the wheel", smoke.build_wheel)
        if smoke.failed:
            return 1
        for venv, extra in INSTALLS.items():
            smoke.check(f"install {venv}", smoke.install, venv, extra)
        for command in ["", *SUBCOMMANDS]:
            smoke.check(f"base: vcam-sr {command + ' ' if command else ''}--help", smoke.help, command)
        smoke.check("base: make inputs", smoke.make_inputs)
        smoke.check("base: vcam-sr upscale photo.png", smoke.upscale_image)
        smoke.check("base: vcam-sr upscale clip.mp4", smoke.upscale_video)
        smoke.check("base: README's demo", smoke.readme_demo)
        smoke.check("web: a job over HTTP, then SIGTERM", smoke.web)
        try:
            display, desktop = start_desktop()
        except Fail as exc:
            smoke.failed += 2
            print(f"FAIL window and tray: {exc}", flush=True)
        else:
            smoke.check("base: preview window on Xvfb", smoke.window, display)
            smoke.check("tray: icon on Xvfb + trayer, then SIGTERM", smoke.tray, display)
    finally:
        for process in reversed(desktop):
            process.terminate()
            process.wait(timeout=10)
        if args.keep:
            print(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"smoke: {'all passed' if not smoke.failed else f'{smoke.failed} failed'}", flush=True)
    return 1 if smoke.failed else 0


if __name__ == "__main__":
    sys.exit(main())
