"""The call curve: what a viewer of a video call sees, per bitrate, with and without vcam-sr.

Each clip is the 720p truth (HR); shrunk 2x it is a 360p camera, delivered clean or webcam-like
(training/clips.py). Four ways to put that on a call, each through a real-time encoder at call
bitrates (libvpx VP8 `deadline=realtime` CBR, no lag; libx264 `zerolatency` CBR; see
training/codecs.py), decoded and scored against HR:

- 720p camera: HR itself is sent (a real 720p camera; clean in both conditions);
- plain 360p: the camera's frames are sent, the receiver shows them with a bicubic 2x;
- vcam-sr at the sender: the virtual camera upscales the camera's frames, the 2x frames are sent;
- vcam-sr at the receiver: the camera's frames are sent, vcam-sr upscales the decoded pictures
  (told, as `--source screen` tells it, that they came through the call's codec).

Bitrates are given for a 640x360 camera and scaled by pixel area to each clip's camera size;
the 2x sends get the same scaled rate (equal bitrate is the point). Scores: Y-PSNR (BT.601
luma, 16-235, 2-pixel border cropped, as training/metrics.py), VMAF and VMAF-NEG (libvmaf's
built-in vmaf_v0.6.1 / vmaf_v0.6.1neg, through the ffmpeg of the imageio-ffmpeg wheel); plain
VMAF rewards sharpening, VMAF-NEG does not. Bjontegaard delta rate of each scenario against
plain 360p: log-rate interpolated as a piecewise cubic Hermite (PCHIP) function of quality,
averaged over the quality range both curves cover; negative = bitrate saved at equal quality.
Curves and BD-rates are over the clips' mean scores (per-clip BD-rates are in the JSON).

    python -m training.callcurve ../shared/data/val/clips --frames 60 --out callcurve
"""
from __future__ import annotations

import argparse
import fractions
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from scipy.interpolate import PchipInterpolator
from skimage.metrics import peak_signal_noise_ratio
from tqdm import tqdm

from vcam_sr.atomic import atomic_path, check_output
from vcam_sr.contract import SCALE
from vcam_sr.errors import VcamError
from training.clips import CONDITIONS, degrade_clip, find_clips, read_clip
from training.codecs import CAMERA_SPACE, CODECS, round_trip
from training.metrics import luma
from vcam_sr.media.colour import YuvPicture, rgb_to_yuv
from vcam_sr.sources.screen import ScreenSource
from vcam_sr.upscalers import create_upscaler
from vcam_sr.upscalers.bicubic import BicubicUpscaler

SCENARIOS = ("720p camera", "plain 360p", "vcam-sr at the sender", "vcam-sr at the receiver")
BASELINE = "plain 360p"
METRICS = {"psnr": "Y-PSNR", "vmaf": "VMAF", "vmaf_neg": "VMAF-NEG"}
RATE_SIZE = (640, 360)  # the camera size --kbps is given for
CALL_CONDITIONS = ("clean", "webcam")
VMAF_MODELS = "version=vmaf_v0.6.1\\:name=vmaf|version=vmaf_v0.6.1neg\\:name=vmaf_neg"
FFMPEG_TIMEOUT = 900  # seconds for one VMAF run (60 frames of 720p take a few)


# -- metrics ------------------------------------------------------------------------------------
def vmaf_ffmpeg() -> str:
    """The imageio-ffmpeg binary, checked to carry the libvmaf filter."""
    try:
        import imageio_ffmpeg
    except ImportError:
        raise VcamError("VMAF needs the imageio-ffmpeg wheel; run pip install imageio-ffmpeg") from None
    exe = imageio_ffmpeg.get_ffmpeg_exe()
    probe = subprocess.run([exe, "-hide_banner", "-h", "filter=libvmaf"], capture_output=True,
                           text=True, timeout=60)
    if "libvmaf AVOptions" not in probe.stdout:
        raise VcamError(f"the ffmpeg at {exe} has no libvmaf filter; install an imageio-ffmpeg "
                        "wheel built with it (pip install --upgrade imageio-ffmpeg)")
    return exe


def write_y4m(path: Path, pictures: list[YuvPicture], fps: float) -> None:
    """4:2:0 8-bit pictures as a YUV4MPEG2 file, planes as they are (no conversion)."""
    h, w = pictures[0].y.shape
    ch, cw = (h + 1) // 2, (w + 1) // 2
    rate = fractions.Fraction(fps).limit_denominator(1001)
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F{rate.numerator}:{rate.denominator} Ip A1:1 C420jpeg "
                "XCOLORRANGE=LIMITED\n".encode())
        for p in pictures:
            f.write(b"FRAME\n")
            for plane in (p.y, p.u[:ch, :cw], p.v[:ch, :cw]):  # upscaled odd chroma is 1 too big
                f.write(np.ascontiguousarray(plane, dtype=np.uint8).tobytes())


def vmaf(ffmpeg: str, distorted: Path, reference: Path, threads: int) -> dict[str, float]:
    """{"vmaf", "vmaf_neg"}: libvmaf's mean over frames of two y4m files."""
    log = distorted.with_suffix(".json")
    graph = (f"[0:v][1:v]libvmaf=model='{VMAF_MODELS}':log_fmt=json:log_path={log}:"
             f"n_threads={threads}")
    proc = subprocess.run([ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-i", str(distorted),
                           "-i", str(reference), "-lavfi", graph, "-f", "null", "-"],
                          capture_output=True, text=True, timeout=FFMPEG_TIMEOUT)
    if proc.returncode != 0:
        raise VcamError(f"ffmpeg's libvmaf failed: {proc.stderr.strip()[-300:]}")
    pooled = json.loads(log.read_text())["pooled_metrics"]
    return {name: float(pooled[name]["mean"]) for name in ("vmaf", "vmaf_neg")}


def y_psnr(distorted: list[YuvPicture], hr_luma: list[np.ndarray]) -> float:
    """Mean over frames of the Y-PSNR of decoded pictures against the exact HR luma."""
    b = SCALE
    return float(np.mean([peak_signal_noise_ratio(ref[b:-b, b:-b], p.y[b:-b, b:-b].astype(np.float64),
                                                  data_range=255)
                          for p, ref in zip(distorted, hr_luma)]))


def bd_rate(anchor: tuple, test: tuple) -> float | None:
    """Bjontegaard delta rate in percent of `test` against `anchor`, each (rates, qualities):
    the mean bitrate change at equal quality over the quality range both cover. None when the
    ranges do not overlap or a curve's quality does not rise with its rate."""
    curves = []
    for rates, quality in (anchor, test):
        order = np.argsort(rates)
        q, log_r = np.asarray(quality, float)[order], np.log(np.asarray(rates, float)[order])
        if len(q) < 2 or not np.all(np.isfinite(q)) or np.any(np.diff(q) <= 0):
            return None
        curves.append((q, PchipInterpolator(q, log_r)))
    low = max(q[0] for q, _ in curves)
    high = min(q[-1] for q, _ in curves)
    if high <= low:
        return None
    (_, a), (_, t) = curves
    mean_log_ratio = (t.integrate(low, high) - a.integrate(low, high)) / (high - low)
    return float(100 * np.expm1(mean_log_ratio))


# -- the scenarios -----------------------------------------------------------------------------
def kbps_scale(size: tuple[int, int]) -> float:
    """From a clip's camera (LR) size back to the --kbps scale (a 640x360 camera)."""
    return RATE_SIZE[0] * RATE_SIZE[1] / (size[0] * size[1])


def scaled_kbps(kbps: float, size: tuple[int, int]) -> float:
    """A rate given for a 640x360 camera, scaled by pixel area to a `size` (w, h) camera."""
    return kbps * size[0] * size[1] / (RATE_SIZE[0] * RATE_SIZE[1])


class Clip:
    """One clip's HR truth (exact luma, and y4m for VMAF) and its camera frames per condition."""

    def __init__(self, path: Path, frames: int, conditions, seed: int, workdir: Path):
        self.name = path.stem
        self.hr, self.fps = read_clip(path, frames)
        self.hr_luma = [luma(f) for f in self.hr]
        self.camera = {c: degrade_clip(self.hr, self.fps, c, seed) for c in conditions}
        h, w = self.camera[conditions[0]][0].shape[:2]
        self.size = (w, h)
        self.dir = workdir / self.name
        self.dir.mkdir()
        self.reference = self.dir / "reference.y4m"
        write_y4m(self.reference, [rgb_to_yuv(f, CAMERA_SPACE) for f in self.hr], self.fps)

    def score(self, pictures: list[YuvPicture], threads: int, ffmpeg: str) -> dict[str, float]:
        distorted = self.dir / "distorted.y4m"
        write_y4m(distorted, pictures, self.fps)
        return {"psnr": y_psnr(pictures, self.hr_luma), **vmaf(ffmpeg, distorted, self.reference, threads)}


class CallCurve:
    """Runs every clip x codec x condition x scenario x bitrate; vcam-sr is a new upscaler
    for every stream, as the runtime starts one per source."""

    def __init__(self, codecs, kbps, conditions, backend: str, model: str, threads: int):
        self.codecs, self.kbps, self.conditions = list(codecs), sorted(kbps), list(conditions)
        self.backend, self.model, self.threads = backend, model, threads
        self.ffmpeg = vmaf_ffmpeg()
        self.choices: list[str] = []
        self.new_upscaler((64, 36)).close()  # a bad backend or model fails before any work

    def new_upscaler(self, size: tuple[int, int]):
        return create_upscaler(self.backend, self.model, self.threads, 30.0, size)

    def upscale_stream(self, frames: list, size: tuple[int, int], received: bool = False) -> list:
        """vcam-sr on a camera's frames, or (`received`) on a call's decoded frames, which it
        is told came through the call's codec, as a screen source tells it."""
        with self.new_upscaler(size) as upscaler:
            upscaler.new_stream(ScreenSource.compressed if received else "")
            out = [upscaler.upscale(f) for f in frames]
            self.choices.append(upscaler.describe())
        return out

    def send(self, frames: list, codec: str, fps: float, kbps: float, size: tuple[int, int]) -> tuple[list, float]:
        """(decoded pictures, the rate really sent, on the --kbps scale): VP8 overshoots its
        target for 2x frames at low rates, so curves are drawn at what each stream cost."""
        sizes: list[int] = []
        pictures = round_trip(frames, codec, fps, kbps=kbps, threads=2, sent=sizes)
        sent = 8 * sum(sizes) / (len(frames) / fps) / 1000
        return pictures, sent * kbps_scale(size)

    def run_clip(self, clip: Clip, progress: tqdm) -> dict:
        """{codec: {condition: {scenario: [scores per kbps]}}} of one clip."""
        sender = {c: self.upscale_stream(clip.camera[c], clip.size) for c in self.conditions}
        bicubic = BicubicUpscaler()
        out = {}
        for codec in self.codecs:
            out[codec] = {c: {s: [] for s in SCENARIOS} for c in self.conditions}
            for kbps in self.kbps:
                rate = scaled_kbps(kbps, clip.size)
                hr_sent, hr_kbps = self.send(clip.hr, codec, clip.fps, rate, clip.size)
                camera_720p = {**clip.score(hr_sent, self.threads, self.ffmpeg), "kbps_sent": hr_kbps}
                for c in self.conditions:
                    received, lr_kbps = self.send(clip.camera[c], codec, clip.fps, rate, clip.size)
                    up_sent, up_kbps = self.send(sender[c], codec, clip.fps, rate, clip.size)
                    streams = {
                        "plain 360p": ([bicubic.upscale(p) for p in received], lr_kbps),
                        "vcam-sr at the sender": (up_sent, up_kbps),
                        "vcam-sr at the receiver": (self.upscale_stream(received, clip.size, True), lr_kbps)}
                    out[codec][c]["720p camera"].append(camera_720p)
                    for scenario, (pictures, sent) in streams.items():
                        out[codec][c][scenario].append({**clip.score(pictures, self.threads, self.ffmpeg),
                                                        "kbps_sent": sent})
                progress.update()
        return out

    def run(self, paths: list[Path], frames: int, seed: int = 0) -> dict:
        per_clip = {}
        with tempfile.TemporaryDirectory(prefix="callcurve-") as work, \
                tqdm(total=len(paths) * len(self.codecs) * len(self.kbps), unit="rate",
                     desc="call curve") as progress:
            for i, path in enumerate(paths):
                progress.set_postfix_str(path.name)
                clip = Clip(path, frames, self.conditions, seed + i, Path(work))
                per_clip[clip.name] = {"size": list(clip.size), "fps": clip.fps,
                                       "curves": self.run_clip(clip, progress)}
        return summarize(per_clip, self.kbps, self.codecs, self.conditions, self.choices)


def summarize(per_clip: dict, kbps: list, codecs, conditions, choices: list[str]) -> dict:
    """Mean curves over the clips, BD-rates against plain 360p (mean curves and per clip)."""
    curves, bd, clip_bd = {}, {}, {}
    for codec in codecs:
        curves[codec], bd[codec] = {}, {}
        for c in conditions:
            curves[codec][c] = {s: [{"kbps": r, **{m: float(np.mean([clip["curves"][codec][c][s][i][m]
                                                                      for clip in per_clip.values()]))
                                                   for m in (*METRICS, "kbps_sent")}}
                                    for i, r in enumerate(kbps)] for s in SCENARIOS}
            bd[codec][c] = bd_table(curves[codec][c])
            for name, clip in per_clip.items():
                clip_bd.setdefault(name, {}).setdefault(codec, {})[c] = bd_table(clip["curves"][codec][c])
    return {"kbps_at": f"{RATE_SIZE[0]}x{RATE_SIZE[1]}", "kbps": kbps, "codecs": list(codecs),
            "conditions": {c: CONDITIONS[c] for c in conditions}, "curves": curves, "bd_rate": bd,
            "clips": {n: {"size": clip["size"], "fps": clip["fps"], "curves": clip["curves"],
                          "bd_rate": clip_bd[n]} for n, clip in per_clip.items()},
            "vcam_sr": {d: choices.count(d) for d in sorted(set(choices))}}


def bd_table(curves: dict) -> dict:
    """{scenario: {metric: BD-rate % or None}} against BASELINE, each point at the rate its
    stream really cost (kbps_sent; the nominal kbps where a point has no measurement)."""
    def points(scenario, metric):
        rows = curves[scenario]
        return [r.get("kbps_sent", r.get("kbps")) for r in rows], [r[metric] for r in rows]

    return {s: {m: bd_rate(points(BASELINE, m), points(s, m)) for m in METRICS}
            for s in SCENARIOS if s != BASELINE}


# -- report ------------------------------------------------------------------------------------
def markdown(result: dict, frames: int, clips: list[str]) -> str:
    size = result["kbps_at"]
    lines = [f"Call curve over {len(clips)} clip(s) ({', '.join(clips)}), first {frames} frames each, as a "
             f"camera at half the clip's size; kbps are for a {size} camera, scaled by pixel area to "
             "each clip's camera size, and the 2x sends (720p camera, vcam-sr at the sender) get the "
             "same scaled rate; each cell shows the rate the stream really cost (sent kbps, the "
             "axis of the BD-rates) after the metrics. The 720p camera is clean in every condition.",
             "Conditions: " + "; ".join(f"{c}: {d}" for c, d in result["conditions"].items()) + ".",
             "vcam-sr ran as: " + "; ".join(f"{d} x{n}" for d, n in result["vcam_sr"].items()) + "."]
    heads = " | ".join(SCENARIOS)
    for codec in result["codecs"]:
        for c in result["conditions"]:
            lines += ["", f"**{codec}, {c} camera**: Y-PSNR dB / VMAF / VMAF-NEG @ sent kbps", "",
                      f"| kbps at {size} | {heads} |", "|---" * (len(SCENARIOS) + 1) + "|"]
            for i, r in enumerate(result["kbps"]):
                cells = [" / ".join(f"{result['curves'][codec][c][s][i][m]:.2f}" for m in METRICS)
                         + f" @ {result['curves'][codec][c][s][i]['kbps_sent']:.0f}" for s in SCENARIOS]
                lines.append(f"| {r:g} | " + " | ".join(cells) + " |")
    lines += ["", f"**BD-rate against {BASELINE}** (% bitrate at equal quality; negative = saving; "
              "n/a: no common quality range, or quality not rising with rate)", "",
              "| codec | camera | scenario | " + " | ".join(METRICS.values()) + " |",
              "|---" * (3 + len(METRICS)) + "|"]
    for codec in result["codecs"]:
        for c in result["conditions"]:
            for s, values in result["bd_rate"][codec][c].items():
                cells = ["n/a" if v is None else f"{v:+.1f}%" for v in values.values()]
                lines.append(f"| {codec} | {c} | {s} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("clips", nargs="+", help="clip files and/or folders of clips")
    ap.add_argument("--frames", type=int, default=60, help="first frames of each clip (60)")
    ap.add_argument("--codecs", nargs="+", default=["vp8", "h264"], choices=list(CODECS),
                    help="real-time encoders: vp8 (WebRTC's default) and/or h264")
    ap.add_argument("--kbps", nargs="+", type=float, default=[200, 400, 800, 1600],
                    help=f"call bitrates for a {RATE_SIZE[0]}x{RATE_SIZE[1]} camera (200 400 800 1600)")
    ap.add_argument("--conditions", nargs="+", default=list(CALL_CONDITIONS), choices=CALL_CONDITIONS)
    ap.add_argument("--model", default="auto", help="vcam-sr's model: auto, a bundled name or a file")
    ap.add_argument("--backend", default="auto", help="vcam-sr's backend (auto, onnxruntime, torch, ...)")
    ap.add_argument("--threads", type=int, default=2, help="threads for vcam-sr and libvmaf (2)")
    ap.add_argument("--out", default="callcurve", help="folder for callcurve.md and callcurve.json")
    ap.add_argument("--overwrite", action="store_true", help="replace an earlier callcurve.md/.json")
    args = ap.parse_args(argv)
    try:
        if args.frames < 2:
            raise ValueError(f"--frames must be at least 2, not {args.frames}")
        if min(args.kbps) <= 0 or len(set(args.kbps)) < 2:
            raise ValueError("--kbps needs at least two different positive bitrates, such as "
                             "--kbps 200 400 800 1600")
        out = Path(args.out)
        if out.exists() and not out.is_dir():
            raise ValueError(f"--out {out} is a file; give a folder for callcurve.md and callcurve.json")
        out.mkdir(parents=True, exist_ok=True)
        targets = [check_output(out / f"callcurve.{ext}", args.overwrite) for ext in ("md", "json")]
        paths = [p for where in args.clips
                 for p in (find_clips(where) if Path(where).is_dir() else find_clips([where]))]
        runner = CallCurve(args.codecs, set(args.kbps), args.conditions, args.backend, args.model,
                           args.threads)
        result = runner.run(paths, args.frames)
    except (FileNotFoundError, ValueError, VcamError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report = markdown(result, args.frames, [p.stem for p in paths])
    with atomic_path(targets[0]) as tmp:
        tmp.write_text(report + "\n")
    with atomic_path(targets[1]) as tmp:
        tmp.write_text(json.dumps({"frames": args.frames, **result}, indent=1))
    print(report)
    print(f"\nwrote {targets[0]} and {targets[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
