"""The GPU lane's rehearsal: the very script a lent GPU runs, with --dry-run, every step at toy
size on the CPU (the CPU standing in for CUDA), so it cannot rot between lent sessions."""
import pytest
import json
import os
import shutil
import subprocess

from conftest import REPO, real_frames, write_video

pytestmark = pytest.mark.slow  # real servers, browsers, displays or whole clips: the full run only


def test_the_lane_runs_every_step_at_toy_size_on_the_cpu(tmp_path, tiny_data):
    val = tmp_path / "val"
    shutil.copytree(tiny_data / "val", val)
    (val / "clips").mkdir()
    write_video(val / "clips" / "held_out.mp4", real_frames(6, 96, 64))
    out = tmp_path / "out"
    proc = subprocess.run([str(REPO / "tools" / "gpu_lane.sh"), "--dry-run", "--budget-s", "400",
                           "--data", str(tiny_data / "train"), "--val", str(val), "--sets", "Tiny"],
                          cwd=REPO, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "OUT": str(out)})
    report = json.loads((out / "lane.json").read_text())
    steps = report["steps"]
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-3000:])
    assert report["dry_run"] and list(steps) == ["machine", "cuda tests", "torch-cuda vs CPU fp32 (grey levels)",
                                                 "bench", "training", "scores"]
    assert all(s["status"] == "ok" for s in steps.values()), steps
    assert "skipped" in steps["cuda tests"]["result"]  # no CUDA here: the gpu tests skip
    diffs = steps["torch-cuda vs CPU fp32 (grey levels)"]["result"]
    assert {"fast 37x23", "fast 64x36", "fast-clean 37x23"} <= set(diffs)
    assert all(d["max"] <= 1 for d in diffs.values())  # fp32 on both sides here
    assert "torch-cpu" in steps["bench"]["result"]["gpu"] and "onnxruntime" in steps["bench"]["result"]["cpu"]
    assert set(steps["training"]["result"]) == {"fast", "balanced", "quality"}
    for name in ("fast", "balanced", "quality"):
        assert (out / f"{name}.pt").is_file()
    assert "fast-gpu.onnx" in steps["scores"]["result"] and (out / "lane.md").is_file()
