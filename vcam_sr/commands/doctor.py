"""`vcam-sr doctor`: what to run when the camera does not show up in Zoom, Meet or Teams.

It lists the cameras, the virtual-camera devices (and which processes hold them), the inference
backends, the shipped models and what `auto` would choose here, and says each problem with its
exact fix. On Linux it reads v4l2loopback's module parameters, because the most common
complaint, "Chrome/Meet or Zoom does not see it", is usually exclusive_caps."""
from __future__ import annotations

import argparse
import importlib.util
import logging
import shutil
import subprocess
import sys
from pathlib import Path

from vcam_sr.commands import apply_log_level, parser
from vcam_sr.sinks.virtualcam import setup_help, video_devices
from vcam_sr.upscalers import nvidia_driver_present, openvino_devices, ort_providers, tensorrt_ready

V4L2LOOPBACK = Path("/sys/module/v4l2loopback/parameters")


def holders(device: str) -> list[str]:
    """'name (pid)' of each process with `device` open, from /proc/*/fd (Linux)."""
    found = []
    for fd in Path("/proc").glob("[0-9]*/fd/*"):
        try:
            if str(fd.resolve()) == device:
                pid = fd.parts[2]
                found.append(f"{Path(f'/proc/{pid}/comm').read_text().strip()} ({pid})")
        except OSError:
            continue
    return sorted(set(found))


def device_name(device: str) -> str:
    try:
        return Path(f"/sys/class/video4linux/{Path(device).name}/name").read_text().strip()
    except OSError:
        return "?"


def camera_lines() -> tuple[list[str], list[str]]:
    lines, problems = [], []
    if not sys.platform.startswith("linux"):
        return ["cameras: this platform has no device list; try --source 0, 1, ..."], []
    cameras = video_devices(loopback=False)
    for device in cameras:
        modes = "install v4l-utils to list its modes"
        if shutil.which("v4l2-ctl"):
            out = subprocess.run(["v4l2-ctl", "-d", device, "--list-formats-ext"], capture_output=True,
                                 text=True, timeout=10).stdout
            sizes = sorted({line.split()[-1] for line in out.splitlines() if "Size:" in line})
            modes = ", ".join(sizes) or "no modes reported"
        lines.append(f"camera {device} (--source {device.removeprefix('/dev/video')}): "
                     f"{device_name(device)}; modes {modes}; in use by {', '.join(holders(device)) or 'nobody'}")
    if not cameras:
        problems.append("no camera found: connect one, or use --source test / screen / a video file")
    return lines or ["cameras: none"], problems


def virtual_camera_lines() -> tuple[list[str], list[str]]:
    lines, problems = [], []
    if not sys.platform.startswith("linux"):
        return ["virtual camera: pyvirtualcam uses OBS Studio's Virtual Camera here"], []
    devices = video_devices(loopback=True)
    for device in devices:
        lines.append(f"virtual camera {device}: {device_name(device)}; opened by "
                     f"{', '.join(holders(device)) or 'nobody'}")
    if not devices:
        problems.append(f"no virtual-camera device: {setup_help()}")
        return lines or ["virtual cameras: none (v4l2loopback is not loaded)"], problems
    params = {p.name: p.read_text().strip() for p in V4L2LOOPBACK.glob("*")} if V4L2LOOPBACK.is_dir() else {}
    lines.append("v4l2loopback parameters: " + (", ".join(f"{k}={v}" for k, v in sorted(params.items())
                                                          if k in ("exclusive_caps", "card_label", "devices"))
                                                 or "unreadable"))
    if params.get("exclusive_caps", "").split(",")[0] in ("0", "N"):
        problems.append("v4l2loopback runs without exclusive_caps, so Chrome, Meet and other WebRTC "
                        "apps do not list the device; reload it: sudo modprobe -r v4l2loopback && "
                        "sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label=\"vcam-sr\"")
    else:
        lines.append("with exclusive_caps=1, Chrome and Meet list the device only while a producer "
                     "(vcam-sr) has it open: start vcam-sr before choosing the camera in the call")
    return lines, problems


def tensorrt_words() -> str:
    """Whether TensorRT can run here, and if not, the first thing missing."""
    if tensorrt_ready():
        return "ready"
    if not nvidia_driver_present():
        return "not used: no NVIDIA driver here (it is for NVIDIA GPUs)"
    if not any(importlib.util.find_spec(m) for m in ("tensorrt", "tensorrt_rtx")):
        return "not installed: pip install 'vcam-sr[trt]'"
    if importlib.util.find_spec("cuda") is None:
        return "cuda-python is missing: pip install 'vcam-sr[trt]'"
    return "installed, but no CUDA GPU answers (check nvidia-smi)"


def backend_lines() -> tuple[list[str], list[str]]:
    lines = [f"onnxruntime execution providers: {', '.join(ort_providers()) or 'none installed'}",
             f"OpenVINO devices: {', '.join(openvino_devices()) or 'not installed (pip install vcam-sr[openvino])'}",
             f"TensorRT: {tensorrt_words()}",
             f"PyTorch: {'installed' if importlib.util.find_spec('torch') else 'not installed'}"]
    problems = []
    missing = [name for name, module in (("Pillow", "PIL"), ("PyAV", "av"), ("OpenCV", "cv2"))
               if importlib.util.find_spec(module) is None]
    if missing:
        problems.append(f"{', '.join(missing)} missing, so files cannot be read or written: "
                        "reinstall vcam-sr (pip install --force-reinstall vcam-sr)")
    if not ort_providers():
        problems.append("onnxruntime is missing, so only bicubic can run: pip install onnxruntime")
    if nvidia_driver_present() and not tensorrt_ready():
        problems.append("an NVIDIA driver is present but TensorRT is not ready: pip install 'vcam-sr[trt]'")
    if importlib.util.find_spec("PySide6") is None:
        lines.append("tray: not installed (pip install 'vcam-sr[tray]')")
    return lines, problems


def report() -> str:
    """The whole report as text (the command prints it; the tray shows it)."""
    from vcam_sr.models import shipped
    from vcam_sr.commands.models import auto_choice, model_table

    out, problems = [], []
    for title, check in (("Cameras", camera_lines), ("Virtual cameras", virtual_camera_lines),
                         ("Inference", backend_lines)):
        lines, found = check()
        problems += found
        out += [f"{title}:"] + [f"  {line}" for line in lines]
    out += ["Models:"] + [f"  {line}" for line in model_table(shipped())]
    out += [f"  {line}" for line in auto_choice(640, 360, 30)]
    out += ["", "Problems, each with its fix:" if problems else "No problems found."]
    return "\n".join(out + [f"  - {problem}" for problem in problems])


def main(argv=None) -> int:
    ap = parser("doctor", "What to run when the virtual camera does not show up in Zoom, Meet or "
                          "Teams: the cameras and virtual cameras found (and which programs hold "
                          "them), the inference backends and models, and each problem with its fix.")
    apply_log_level(ap.parse_args(argv))
    logging.getLogger("vcam_sr").setLevel(logging.WARNING)
    print(report())
    return 0
