"""Configuration: the documented file equals the defaults; bad values are named clearly."""

import pytest
import yaml

from conftest import REPO, assert_clean_error, cli
from vcam_sr.config import Config, load_config
from vcam_sr.errors import VcamError


def test_config_yaml_documents_every_key_with_its_default():
    documented = yaml.safe_load((REPO / "config.yaml").read_text())
    assert load_config(REPO / "config.yaml") == Config()
    assert set(documented) == set(Config.model_fields)


def test_cli_flags_override_the_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("source: test\nbackend: bicubic\ncamera: {width: 320}\n")
    cfg = load_config(path, {"backend": "onnxruntime", "camera.height": 200})
    assert (cfg.source, cfg.backend, cfg.camera.width, cfg.camera.height) == ("test", "onnxruntime", 320, 200)


@pytest.mark.parametrize("text, words", [
    ("backend: gpu\n", ["'backend'", "'gpu'", "'onnxruntime'", "'tensorrt'"]),
    ("camera: {width: 5}\n", ["camera.width", "5"]),
    ("colour: red\n", ["colour"]),
    ("degrade: 2\n", ["degrade", "2"]),
])
def test_bad_config_values_are_named(tmp_path, text, words):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(VcamError) as info:
        load_config(path)
    for w in words:
        assert w in str(info.value)


def test_bad_values_exit_cleanly_from_the_cli(tmp_path):
    assert_clean_error(cli("--source", "test", "--backend", "gpu"), "backend", "gpu", "bicubic")
    bad_yaml = tmp_path / "broken.yaml"
    bad_yaml.write_text("source: [unclosed\n")
    assert_clean_error(cli("--config", str(bad_yaml)), "yaml")
    assert_clean_error(cli("--config", str(tmp_path / "none.yaml")), "does not exist")
    assert_clean_error(cli("--source", "test", "--sink", "printer"), "unknown sink", "virtualcam")


def test_config_that_is_a_folder_or_not_text_is_named(tmp_path):
    assert_clean_error(cli("--config", str(tmp_path)), "is a folder")
    binary = tmp_path / "b.yaml"
    binary.write_bytes(bytes(range(128, 256)) * 4)
    assert_clean_error(cli("--config", str(binary)), "not text")


def test_documented_edges_and_a_bare_yaml_null_sink_are_accepted(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("sinks: [null]\ndegrade: 0.05\n")  # config.yaml documents 0.05-1.0
    cfg = load_config(path)
    assert cfg.sinks == ["null"] and cfg.degrade == 0.05


def test_unknown_virtual_camera_backend_is_one_line_without_a_destructor_traceback():
    proc = cli("--source", "test", "--sink", "virtualcam", "--virtualcam-backend", "foo", "--frames", "2")
    assert_clean_error(proc, "unknown virtual camera backend 'foo'")
    assert "Exception ignored" not in proc.stderr


@pytest.mark.parametrize("args, words", [
    (["--sizes", "0x0"], ["0x0", "out of range"]),
    (["--sizes", "wide"], ["WIDTHxHEIGHT"]),
    (["--frames", "0"], ["--frames", "at least 1"]),
    (["--rounds", "0"], ["--rounds", "at least 1"]),
    (["--repeats", "-2"], ["--repeats", "at least 1"]),
    (["--backends", "foo"], ["unknown backend foo", "onnxruntime"]),
    (["--out", "{tmp}"], ["is a folder"]),
    (["--threads", "100000"], ["--threads", "to 256"]),  # once 16 GB of thread stacks
])
def test_bench_bad_arguments_get_one_sentence_before_anything_runs(tmp_path, args, words):
    proc = cli("bench", *[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert_clean_error(proc, *words)
