"""Bad input gets one plain sentence, a non-zero exit and no traceback."""
import subprocess
import sys

import pytest

from conftest import REPO, assert_clean_error, read_video, real_frames, cli, write_video
from vcam_sr.atomic import atomic_path
from vcam_sr.sinks.virtualcam import video_devices


@pytest.mark.skipif(not video_devices(loopback=False),
                    reason="no camera here (no /dev/video node that is not a v4l2loopback device)")
def test_real_camera_delivers_frames(tmp_path):
    out = tmp_path / "cam.mp4"
    proc = cli("--source", "0", "--backend", "bicubic", "--sink", f"file:{out}", "--frames", "10")
    assert proc.returncode == 0, proc.stderr
    assert "negotiated" in proc.stderr and len(read_video(out)) == 10


def test_missing_camera(tmp_path):
    assert_clean_error(cli("--source", "7", "--sink", "null"), "camera", "--source test")


def test_corrupt_video_file(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)
    assert_clean_error(cli("--source", str(bad), "--sink", "null"), "broken.mp4")


def test_missing_video_file(tmp_path):
    assert_clean_error(cli("--source", str(tmp_path / "nope.mp4"), "--sink", "null"), "does not exist")


def test_broken_model_file(tmp_path):
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"this is not an onnx model")
    assert_clean_error(cli("--source", "test", "--model", str(bad), "--sink", "null"),
                       "broken.onnx", "could not be loaded")


def test_unknown_model_name():
    assert_clean_error(cli("--source", "test", "--model", "ultra", "--sink", "null"),
                       "ultra", "auto", "fast-clean")


@pytest.mark.skipif(bool(video_devices(loopback=True)), reason="a v4l2loopback device exists here")
def test_no_virtual_camera_device_says_how_to_create_one():
    proc = cli("--source", "test", "--sink", "virtualcam", "--frames", "3")
    assert_clean_error(proc, "virtual camera", "modprobe v4l2loopback")


def test_model_with_the_wrong_input_type(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "u8",
                              [helper.make_tensor_value_info("x", TensorProto.UINT8, [1, 1, None, None])],
                              [helper.make_tensor_value_info("y", TensorProto.UINT8, [1, 1, None, None])])
    path = tmp_path / "uint8.onnx"
    onnx.save(helper.make_model(graph), str(path))
    assert_clean_error(cli("--source", "test", "--model", str(path), "--sink", "null"),
                       "uint8.onnx", "uint8", "not a float32 luma plane")


def test_an_interrupted_write_keeps_the_old_file_and_leaves_no_partial(tmp_path):
    out = tmp_path / "fast.onnx"
    out.write_text("good")
    with pytest.raises(RuntimeError):
        with atomic_path(out) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert out.read_text() == "good" and sorted(tmp_path.iterdir()) == [out]
    with atomic_path(out) as tmp:
        tmp.write_text("new")
    assert out.read_text() == "new" and sorted(tmp_path.iterdir()) == [out]
    assert out.stat().st_mode & 0o777 == 0o644  # readable like any other output, not mkstemp's 0600


def onnx_model(path, nodes, in_shape, inits=()):
    """A tiny ONNX graph from `x` (float32, `in_shape`) to `y`."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(nodes, path.stem, [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def resize(factor, out="y", src="x"):
    import numpy as np
    from onnx import helper, numpy_helper

    scales = numpy_helper.from_array(np.array([1, 1, factor, factor], np.float32), f"s{factor}")
    return helper.make_node("Resize", [src, "", scales.name], [out], mode="nearest"), scales


def contract_breakers(tmp_path):
    import numpy as np
    from onnx import helper, numpy_helper

    identity = [helper.make_node("Identity", ["x"], ["y"])]
    up4, s4 = resize(4)
    up2, s2 = resize(2, out="r")
    nan = numpy_helper.from_array(np.array([np.nan], np.float32), "nan")
    return {
        "rgb": (onnx_model(tmp_path / "rgb.onnx", identity, [1, 3, None, None]), "luma models"),
        "fixed size": (onnx_model(tmp_path / "fixed.onnx", identity, [1, 1, 64, 64]), "64x64"),
        "1x": (onnx_model(tmp_path / "x1.onnx", identity, [1, 1, None, None]), "exactly 2x"),
        "4x": (onnx_model(tmp_path / "x4.onnx", [up4], [1, 1, None, None], [s4]), "exactly 2x"),
        "NaN": (onnx_model(tmp_path / "nan.onnx", [up2, helper.make_node("Mul", ["r", "nan"], ["y"])],
                           [1, 1, None, None], [s2, nan]), "NaN"),
    }


@pytest.mark.parametrize("breach", ["rgb", "fixed size", "1x", "4x", "NaN"])
def test_a_model_that_breaks_the_contract_is_refused_at_load(tmp_path, breach):
    path, words = contract_breakers(tmp_path)[breach]
    assert_clean_error(cli("--source", "test", "--model", str(path), "--sink", "null", "--frames", "2"),
                       path.name, words)


def test_negative_camera_index_is_not_called_a_missing_file():
    assert_clean_error(cli("--source", "-1", "--sink", "null"), "camera index -1", "from 0")


@pytest.mark.parametrize("name, words", [("out.avi", ".avi"), ("out", "without an extension"),
                                         (".", "folder")])
def test_file_sink_refuses_what_it_cannot_write_before_the_first_frame(tmp_path, name, words):
    proc = cli("--source", "test", "--backend", "bicubic", "--sink", f"file:{tmp_path / name}",
                   "--frames", "3")
    assert_clean_error(proc, words)
    assert "running:" not in proc.stderr  # refused before anything ran
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_an_existing_output_is_replaced_only_with_overwrite(tmp_path):
    out = tmp_path / "out.mp4"
    out.write_bytes(b"someone else's video")
    args = ["--source", "test", "--width", "64", "--height", "48", "--backend", "bicubic",
            "--sink", f"file:{out}", "--frames", "3"]
    assert_clean_error(cli(*args), "already exists", "--overwrite")
    assert out.read_bytes() == b"someone else's video"
    assert cli(*args, "--overwrite").returncode == 0
    assert len(read_video(out)) == 3


def test_the_input_is_never_overwritten_however_it_is_spelled(tmp_path, monkeypatch):
    src = write_video(tmp_path / "in.mp4", real_frames(3, 64, 48))
    (tmp_path / "link.mp4").symlink_to(src)
    before = src.read_bytes()
    for source, sink in [(f"file://{src}", f"file:{src}"), (str(src), f"file://{src}"),
                         (str(tmp_path / "link.mp4"), f"file:{tmp_path}/./in.mp4"),
                         (f"file://{str(src).replace('in.mp4', 'i%6E.mp4')}", f"file:{src}")]:
        proc = cli("--source", source, "--sink", sink, "--no-realtime", "--overwrite")
        assert_clean_error(proc, "is the input video")
    assert src.read_bytes() == before


def test_two_runs_never_share_a_temporary_file(tmp_path):
    from vcam_sr.atomic import AtomicOutput

    a, b = AtomicOutput(tmp_path / "out.mp4"), AtomicOutput(tmp_path / "out.mp4")
    assert a.tmp != b.tmp and a.tmp.parent == b.tmp.parent == tmp_path
    a.discard()
    b.discard()


def indexed_clip(path, frames: int) -> bytes:
    """An H.264 MP4 with its index first (faststart), so a cut file still opens; its bytes."""
    return write_video(path, real_frames(frames, 96, 64), container_options={"movflags": "faststart"}).read_bytes()


def test_truncated_video_is_converted_as_far_as_it_goes_with_a_warning(tmp_path):
    data = indexed_clip(tmp_path / "good.mp4", 40)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * 0.8)])
    out = tmp_path / "o.mp4"
    proc = cli("--source", str(cut), "--sink", f"file:{out}", "--no-realtime", "--backend", "bicubic")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    written = len(read_video(out))
    assert 0 < written < 40
    assert "truncated" in proc.stderr and f"after {written} of the 40 frames" in proc.stderr


def test_a_video_with_no_decodable_frame_is_an_error_not_an_empty_success(tmp_path):
    data = indexed_clip(tmp_path / "good.mp4", 10)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: data.index(b"mdat") + 64])  # the index, then not even one whole frame
    out = tmp_path / "o.mp4"
    proc = cli("--source", str(cut), "--sink", f"file:{out}", "--no-realtime", "--backend", "bicubic")
    assert_clean_error(proc, "no frame of", "could be decoded, so nothing was written")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.mp4", "good.mp4"]


@pytest.mark.parametrize("args, words", [
    (["--source", "99999999999"], ["camera index 99999999999", "0 to 255"]),
    (["--source", "test", "--no-realtime"], ["never ends", "--frames"]),
    (["--source", "test", "--sink", "file:/proc/x.mp4"], ["/proc", "not writable"]),
    (["--source", "test", "--sink", "file:.mp4"], ["without an extension", "out.mp4"]),
    (["--source", ""], ["source is empty", "camera index"]),
])
def test_more_bad_runs_get_one_sentence(args, words):
    assert_clean_error(cli(*args, "--backend", "bicubic", "--frames", "2") if "--no-realtime" not in args
                       else cli(*args, "--backend", "bicubic", "--sink", "null"), *words)


@pytest.mark.parametrize("args, words", [
    (["--width", "0"], ["camera.width"]), (["--fps", "0"], ["camera.fps"]),
    (["--width", "99999"], ["camera.width"]), (["--threads", "100000"], ["--threads"]),
])
def test_models_command_checks_its_numbers_like_the_main_command(args, words):
    assert_clean_error(cli("models", *args), *words)


def test_an_empty_sink_list_is_refused(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("sinks: []\n")
    assert_clean_error(cli("--config", str(cfg), "--source", "test"), "sinks", "at least 1")


def test_bench_writes_json_only_where_asked_and_never_over_a_file(tmp_path):
    quick = ["bench", "--backends", "onnxruntime", "--rounds", "1", "--repeats", "1", "--frames", "1",
             "--sizes", "32x32", "--threads", "1"]
    victim = tmp_path / "clip.mp4"
    victim.write_bytes(b"a video")
    assert_clean_error(cli(*quick, "--out", str(victim)), "already exists", "--overwrite")
    assert victim.read_bytes() == b"a video"
    assert_clean_error(cli(*quick, "--out", "/proc/b.json"), "not writable")
    assert cli(*quick, "--out", str(tmp_path / "b.json")).returncode == 0
    assert (tmp_path / "b.json").is_file()
    proc = subprocess.run([sys.executable, "-m", "vcam_sr.cli", *quick], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0 and not (tmp_path / "vcam-sr-bench.json").exists()  # no default file


@pytest.mark.slow
def test_export_never_writes_over_its_checkpoint_or_an_existing_file(tmp_path):
    from vcam_sr.models.networks import build_generator, preset_args
    import torch

    ckpt = tmp_path / "best.pt"
    torch.save({"preset": "fast", "model_args": preset_args("fast"),
                "generator": build_generator("fast").state_dict()}, ckpt)
    before = ckpt.read_bytes()
    export = [sys.executable, "-m", "engine_build.export", str(ckpt), "--out"]
    proc = subprocess.run([*export, str(tmp_path / "best.onnx")], cwd=REPO, capture_output=True, text=True)
    assert_clean_error(proc, "the checkpoint being exported")
    assert ckpt.read_bytes() == before
    (tmp_path / "taken.onnx").write_text("keep me")
    assert_clean_error(subprocess.run([*export, str(tmp_path / "taken.onnx")], cwd=REPO, capture_output=True,
                                      text=True), "already exists", "--overwrite")
    assert (tmp_path / "taken.onnx").read_text() == "keep me"


@pytest.mark.parametrize("args, words", [
    (["--set", "train.steps=-1"], ["train.steps", "greater than or equal to 1"]),
    (["--set", "data.batch=0"], ["data.batch", "greater than or equal to 1"]),
    (["--config", "{tmp}/list.yaml"], ["preset, data and train"]),
    (["--config", "{tmp}/broken.yaml"], ["not valid YAML", "line 2, column 1"]),
    (["--out", "{tmp}/afile"], ["is a file"]),
])
def test_train_bad_input_gets_one_sentence(tmp_path, args, words):
    import contextlib
    import io

    from training import train

    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    (tmp_path / "broken.yaml").write_text("data: [1, 2\n")
    (tmp_path / "afile").write_text("x")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    base = {"--config": str(REPO / "training" / "configs" / "fast.yaml"), "--out": str(tmp_path / "run")}
    for flag in ("--config", "--out"):
        if flag not in args:
            args = [flag, base[flag], *args]
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = train.main(args)
    assert_clean_error(subprocess.CompletedProcess(args, code, "", err.getvalue()), *words)