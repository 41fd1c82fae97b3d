"""The live or file run, `vcam-sr --source ...`: a source upscaled into the sinks through the
same Controller as the tray and the web page."""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import time

from vcam_sr.commands import COMMANDS, STOP_SIGNALS, StartupInterrupted, common, model_options, wrap
from vcam_sr.errors import VcamError

STOP_GRACE_S = 10.0  # how long a stop waits for a source that is still opening
EXAMPLES = """examples:
  vcam-sr --source 0                       camera 0 -> 2x -> virtual camera
  vcam-sr --source 0 --sink window         ... and watch it in a window
  vcam-sr --source test --sink window      the built-in test pattern, no camera needed
  vcam-sr upscale talk.mp4                 a whole video (sound kept) -> talk_2x.mp4
"""

EPILOG = """sources: a camera index (0, 1, ...), 'test' (moving test pattern), 'screen' or
'screen:X,Y,W,H' (what you see, e.g. the call you receive), a video file or a stream URL.
sinks (repeat --sink for several): virtualcam, window, file:PATH.mp4, null.
Options not given here come from --config (see config.yaml for every key), then the defaults."""


def build_parser() -> argparse.ArgumentParser:
    commands = "\n".join(f"  {name:<13} {summary}" for name, (_, summary) in COMMANDS.items())
    ap = argparse.ArgumentParser(
        prog="vcam-sr", formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="vcam-sr [--source SOURCE] [options]\n       vcam-sr COMMAND [options]  "
              "(COMMAND: " + ", ".join(COMMANDS) + ")",
        description=wrap("Real-time 2x super-resolution: your camera (or a video, a stream, the screen, the "
                    "built-in test pattern) upscaled by a trained model, sent to a virtual camera that "
                    "Zoom, Meet and Teams can pick, a preview window or a file."),
        epilog=EXAMPLES + "\ncommands (each with --help):\n" + commands + "\n\n" + EPILOG,
        parents=[common(top=True), model_options(default=None)])
    ap.add_argument("--config", help="YAML file of options (see config.yaml)")
    ap.add_argument("-s", "--source", help="camera index, 'test', 'screen' or 'screen:X,Y,W,H', video "
                                           "file or stream URL (default 0)")
    ap.add_argument("--width", type=int, dest="camera.width", metavar="W", help="camera / test width to ask for (640)")
    ap.add_argument("--height", type=int, dest="camera.height", metavar="H", help="camera / test height (360)")
    ap.add_argument("--fps", type=float, dest="camera.fps", metavar="FPS", help="camera / test frame rate (30)")
    ap.add_argument("--no-mjpg", action="store_false", dest="camera.mjpg", default=None,
                    help="do not ask the camera for MJPG")
    ap.add_argument("--loop", action="store_true", default=None, help="loop a video file")
    ap.add_argument("--no-reconnect", action="store_false", dest="reconnect", default=None,
                    help="end the run when a camera or stream drops, instead of showing a "
                         "'reconnecting' slate and retrying every second")
    ap.add_argument("--degrade", type=float,
                    help="downscale the source by this factor first, e.g. 0.5, to simulate a poor link")
    ap.add_argument("--degrade-jpeg", type=int, dest="degrade_jpeg", metavar="QUALITY",
                    help="also JPEG-compress the source at this quality (1-100)")
    ap.add_argument("--sink", action="append", dest="sinks",
                    help="where frames go: virtualcam (default), window, file:PATH, null")
    ap.add_argument("--virtualcam-backend", dest="virtualcam.backend", metavar="NAME",
                    help="pyvirtualcam backend: v4l2loopback, obs, unitycapture")
    ap.add_argument("--virtualcam-device", dest="virtualcam.device", metavar="DEVICE", help="e.g. /dev/video10")
    ap.add_argument("--side-by-side", action="store_true", dest="window.side_by_side", default=None,
                    help="window sink shows source | upscaled")
    ap.add_argument("--max-fps", type=float, dest="max_fps", help="cap the output frame rate")
    ap.add_argument("--frames", type=int, help="stop after this many output frames")
    ap.add_argument("--no-realtime", action="store_false", dest="realtime",
                    help="process every frame of a file, as fast as possible (no pacing, no drops)")
    ap.add_argument("--overwrite", action="store_true", default=None,
                    help="let a file sink replace an existing file (never the input)")
    ap.add_argument("--keep-partial", action="store_true", dest="keep_partial", default=None,
                    help="keep an interrupted conversion as NAME.partial.mp4 instead of removing it")
    ap.add_argument("--stats", action="store_true", default=None,
                    help="print fps, model ms, latency and drops every second")
    return ap


def wait_for(controller, stopped_by: list[int]) -> bool:
    """Wait for the run to end; once a stop signal came, for at most STOP_GRACE_S more while it
    is still starting: a source blocked in the operating system (a pipe that no one writes)
    cannot be interrupted and must not keep the program from exiting. False if it gave up.
    A run already going is always waited for, so a recording is finished, not cut off."""
    from vcam_sr.controller import STARTING

    stopped_at = None
    while not controller.wait(timeout=0.5):
        if stopped_by and stopped_at is None:
            stopped_at = time.monotonic()
        if stopped_at is not None and controller.state == STARTING and \
                time.monotonic() - stopped_at > STOP_GRACE_S:
            return False
    return True


def run(argv: list[str], stopped_by: list[int]) -> int:
    """The live or file pipeline, through the same Controller as the tray and the web page.
    `stopped_by` collects the exit codes of the signals that arrived (130 Ctrl-C, 143 SIGTERM).
    Loading happens in the controller's thread, which a signal never interrupts: a stop asked
    meanwhile calls the run off once loaded, so no import or device open is cut in half."""
    from vcam_sr.config import load_config
    from vcam_sr.controller import ERROR, Controller

    args = vars(build_parser().parse_args(argv))
    config_path, realtime = args.pop("config"), args.pop("realtime")
    cfg = load_config(config_path, {k: v for k, v in args.items() if v is not None})
    logging.getLogger().setLevel(cfg.log_level.upper())
    controller = Controller(cfg, realtime=realtime, log_errors=False)
    for sig, code in STOP_SIGNALS:  # loading happens in the controller's thread: stopping is safe
        signal.signal(sig, lambda *_, code=code: (stopped_by.append(code), controller.request_stop()))
    if stopped_by:
        raise StartupInterrupted
    controller.start()
    if stopped_by:  # a signal between the check above and start() must still stop it
        controller.request_stop()
    if not wait_for(controller, stopped_by):
        print(f"vcam-sr: error: the source did not let go within {STOP_GRACE_S:g} s of the stop (a pipe "
              "with no writer, or a device that hangs); exiting without it", file=sys.stderr)
        return stopped_by[0]
    if controller.state == ERROR:
        raise VcamError(controller.error)
    pipeline = controller.last_run
    if pipeline is None:  # called off while loading
        raise StartupInterrupted
    log = logging.getLogger("vcam_sr")
    if not realtime and not pipeline.finished:
        total = pipeline.max_frames or pipeline.source.frame_count
        print(f"vcam-sr: error: interrupted after {pipeline.stats.frames}"
              f"{f' of {total}' if total else ''} frames; the conversion did not finish",
              file=sys.stderr)
        return stopped_by[0] if stopped_by else 1
    if not realtime and pipeline.stats.frames == 0:
        raise VcamError(f"no frame of {cfg.source} could be decoded, so nothing was written; "
                        "check that the file plays")
    return 0
