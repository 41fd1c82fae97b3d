"""Bad input gets one plain sentence, a non-zero exit and no traceback."""
import glob

import pytest

from conftest import assert_clean_error, run_cli, write_video, real_frames
from vcam_sr.atomic import atomic_path


def test_missing_camera(tmp_path):
    assert_clean_error(run_cli("--source", "7", "--sink", "null"), "camera", "--source test")


def test_corrupt_video_file(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)
    assert_clean_error(run_cli("--source", str(bad), "--sink", "null"), "broken.mp4")


def test_truncated_video_file(tmp_path):
    good = write_video(tmp_path / "good.mp4", real_frames(30, 96, 64))
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    proc = run_cli("--source", str(cut), "--sink", f"file:{tmp_path / 'o.mp4'}", "--no-realtime")
    assert "Traceback" not in proc.stderr
    if proc.returncode != 0:  # a moov-at-end MP4 cut short cannot be opened at all
        assert_clean_error(proc, "cut.mp4")


def test_missing_video_file(tmp_path):
    assert_clean_error(run_cli("--source", str(tmp_path / "nope.mp4"), "--sink", "null"), "does not exist")


def test_broken_model_file(tmp_path):
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"this is not an onnx model")
    assert_clean_error(run_cli("--source", "test", "--model", str(bad), "--sink", "null"),
                       "broken.onnx", "could not be loaded")


def test_unknown_model_name():
    assert_clean_error(run_cli("--source", "test", "--model", "ultra", "--sink", "null"),
                       "ultra", "auto", "fast-clean")


@pytest.mark.skipif(bool(glob.glob("/dev/video*")), reason="a /dev/video device exists here")
def test_no_virtual_camera_device_says_how_to_create_one():
    proc = run_cli("--source", "test", "--sink", "virtualcam", "--frames", "3")
    assert_clean_error(proc, "virtual camera", "modprobe v4l2loopback")


def test_model_with_the_wrong_input_type(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "u8",
                              [helper.make_tensor_value_info("x", TensorProto.UINT8, [1, 3, None, None])],
                              [helper.make_tensor_value_info("y", TensorProto.UINT8, [1, 3, None, None])])
    path = tmp_path / "uint8.onnx"
    onnx.save(helper.make_model(graph), str(path))
    assert_clean_error(run_cli("--source", "test", "--model", str(path), "--sink", "null"),
                       "uint8.onnx", "uint8", "not float32")


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
