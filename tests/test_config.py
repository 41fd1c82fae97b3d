"""Configuration: the documented file equals the defaults; bad values are named clearly."""

import pytest
import yaml

from conftest import REPO, assert_clean_error, run_cli
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
    assert_clean_error(run_cli("--source", "test", "--backend", "gpu"), "backend", "gpu", "bicubic")
    bad_yaml = tmp_path / "broken.yaml"
    bad_yaml.write_text("source: [unclosed\n")
    assert_clean_error(run_cli("--config", str(bad_yaml)), "yaml")
    assert_clean_error(run_cli("--config", str(tmp_path / "none.yaml")), "does not exist")
    assert_clean_error(run_cli("--source", "test", "--sink", "printer"), "unknown sink", "virtualcam")
