"""`vcam-sr upscale`: whole videos and images into new files at twice the size."""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from tqdm.contrib.logging import logging_redirect_tqdm

from vcam_sr.config import bounded_int
from vcam_sr.errors import VcamError
from vcam_sr.commands import apply_log_level, check_stop, parser
from vcam_sr.convert.files import CODECS, kind, plan, upscale_image, upscale_video
from vcam_sr.upscalers import create_upscaler

log = logging.getLogger("vcam_sr.upscale")
DESCRIPTION = """Upscale videos and images to twice their size, into new files beside them (or
into -o). Videos keep their sound, subtitles, timing and colours; images keep their type. A
folder upscales every video and image in it and skips what is already done, so running the
same command again after an interruption carries on where it stopped. Nothing is overwritten
unless you pass --overwrite, and an unfinished file never appears under its final name."""
EXAMPLES = """examples:
  vcam-sr upscale talk.mp4                      -> talk_2x.mp4
  vcam-sr upscale talk.mp4 -o big.mkv --codec hevc --crf 20
  vcam-sr upscale photos/ -o photos_2x/         (run it again after an interruption to resume)"""


def named_path(text: str) -> Path:
    """argparse type: a path that is not empty (Path("") would silently mean this folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("is empty; give a file or folder name")
    return Path(text)


def main(argv=None) -> int:
    ap = parser("upscale", DESCRIPTION, models=("backend", "model", "threads"), epilog=EXAMPLES)
    ap.add_argument("inputs", nargs="+", type=named_path, help="video or image files, or folders of them")
    ap.add_argument("-o", "--output", type=named_path, help="output file (one input) or folder (default: "
                                                       "NAME_2x beside each input)")
    ap.add_argument("--crf", type=bounded_int(0, 51), default=18, metavar="0-51",
                    help="video quality, lower is better and larger (default 18)")
    ap.add_argument("--codec", default="h264", choices=sorted(CODECS), help="video codec (default h264)")
    ap.add_argument("--overwrite", action="store_true", help="replace existing outputs (never an input)")
    args = ap.parse_args(argv)
    apply_log_level(args)

    jobs = plan(args.inputs, args.output, args.overwrite)
    if not jobs:
        print("nothing to do: every output already exists (--overwrite redoes them)")
        return 0
    # Offline auto's budget is a whole second a frame: it takes the best model for each input's condition.
    make = lambda size, fps=1.0: create_upscaler(args.backend, args.model, args.threads, 1.0, size)  # noqa: E731
    start, frames, media, done = time.monotonic(), 0, 0.0, 0
    current, failed, image_upscaler = None, [], None
    try:
        with logging_redirect_tqdm():  # log lines go above a progress bar, not onto it
            for src, dst in jobs:
                current = src
                check_stop()
                try:
                    if kind(src) == "image":  # one upscaler for all the images: logged once
                        image_upscaler = image_upscaler or make(None)
                        result = upscale_image(src, dst, image_upscaler, args.overwrite)
                    else:
                        result = upscale_video(src, dst, make, args.crf, args.codec, should_stop=check_stop,
                                               overwrite=args.overwrite)
                except VcamError as exc:
                    if len(jobs) == 1:
                        raise
                    print(f"vcam-sr: error: {exc}; skipped it", file=sys.stderr)  # the batch goes on
                    failed.append(src.name)
                    continue
                frames, media, done = frames + result.frames, media + result.media_seconds, done + 1
                log.info("wrote %s (%d frame%s in %.1f s)", result.path, result.frames,
                         "" if result.frames == 1 else "s", result.seconds)
    except KeyboardInterrupt:
        print(f"vcam-sr: error: interrupted while upscaling {current.name}: its output was not "
              f"written; {done} finished file(s) are kept, and the same command resumes", file=sys.stderr)
        return 130
    finally:
        if image_upscaler is not None:
            image_upscaler.close()
    seconds = time.monotonic() - start
    speed = f", {media / seconds:.2f}x realtime" if media else ""
    print(f"done: {done} file{'' if done == 1 else 's'}, {frames} frame{'' if frames == 1 else 's'} "
          f"in {seconds:.1f} s{speed}")
    if failed:
        print(f"vcam-sr: error: {len(failed)} file(s) could not be upscaled ({', '.join(failed)}); "
              "see the messages above", file=sys.stderr)
        return 1
    return 0
