"""Training pipeline on tiny real data: loss goes down, resume, DDP, data loading, errors."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from conftest import REPO
from training import train
from training.config import load_config
from training.data import PatchSampler, load_hr_pool, luma_of, sample_video_frames


def tiny_config(tmp_path: Path, data: Path, **train_overrides) -> Path:
    cfg = yaml.safe_load((REPO / "training" / "configs" / "fast.yaml").read_text())
    cfg["data"].update(train=str(data / "train"), val=str(data / "val"), val_sets=["Tiny"],
                       frames_per_video=4, lr_patch=24, context=8, batch=8, val_clips=None, exclude=[])
    cfg["train"].update(steps=60, lr=3e-3, warmup=5, log_every=10, val_every=30, ckpt_every=20,
                        init_from=None)
    cfg["train"].update(train_overrides)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.mark.parametrize("path", sorted((REPO / "training" / "configs").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_preset_config_is_valid(path):
    cfg = load_config(str(path))
    assert path.stem == cfg.preset


def test_loads_images_and_video_frames(tiny_data):
    pool = load_hr_pool(tiny_data / "train", frames_per_video=4, min_size=48)
    assert len(pool) == 6 + 4  # six photographs, four frames sampled from the clip
    frames = sample_video_frames(tiny_data / "train" / "clip.mp4", 4)
    assert len(frames) == 4 and frames[0].shape == (96, 128, 3)
    assert not np.array_equal(frames[0], frames[-1])  # spread over the clip, not one frame
    assert len(load_hr_pool(tiny_data / "train", 4, 48, exclude=["clip.mp4"])) == 6


def test_scales_add_shrunk_copies_of_every_image(tiny_data):
    full = load_hr_pool(tiny_data / "train", 4, 48)
    both = load_hr_pool(tiny_data / "train", 4, 48, scales=(1.0, 0.5))
    assert len(both) == 2 * len(full)  # every tiny image is >= 96 px, so its half stays in
    h, w = full[0].shape[:2]
    shrunk = both[1]  # the half-size copy of the first image directly follows it
    assert shrunk.shape[:2] == (round(h / 2), round(w / 2))
    ref = torch.nn.functional.avg_pool2d(torch.from_numpy(full[0][: h // 2 * 2, : w // 2 * 2])
                                         .permute(2, 0, 1).float()[None], 2)[0].permute(1, 2, 0)
    assert np.abs(shrunk[: h // 2, : w // 2].astype(float) - ref.numpy()).mean() < 6  # same content
    for bad in ((1.0, 2.0), 0.5, ["half"], []):
        with pytest.raises(ValueError, match="data.scales"):
            load_hr_pool(tiny_data / "train", 4, 48, scales=bad)


def test_patch_sampler_makes_matching_lr_hr_luma_pairs(tiny_data):
    pool = load_hr_pool(tiny_data / "train", 4, 48)
    lr, condition, hr = PatchSampler(pool, 24, seed=1).batch(5)
    assert lr.shape == (5, 1, 24, 24) and condition.shape == (5, 3) and hr.shape == (5, 1, 48, 48)
    down = torch.nn.functional.avg_pool2d(hr, 2)
    assert (lr - down).abs().mean() < 0.03  # LR really is HR made smaller, not a random crop
    assert abs(float(lr.mean() - down.mean())) < 0.1 / 255  # and no brighter or darker


def test_sampler_mixes_profiles_and_keeps_clean_targets(tiny_data):
    pool = load_hr_pool(tiny_data / "train", 4, 48)
    clean_lr, clean_condition, clean_hr = PatchSampler(pool, 24, {"clean": 1.0}, seed=2).batch(6)
    lr, condition, hr = PatchSampler(pool, 24, {"clean": 0.0, "webcam": 1.0, "call": 0.0}, seed=2).batch(6)
    assert torch.equal(hr, clean_hr)  # the same crops; only the LR is degraded
    diff = (lr - clean_lr).abs().mean(dim=(1, 2, 3))
    assert (diff > 0.002).all() and (diff < 0.1).all()
    assert condition[:, 0].mean() > clean_condition[:, 0].mean()  # noisier crops measure noisier
    with pytest.raises(ValueError, match="data.degradation"):
        PatchSampler(pool, 24, {"fog": 1.0})


def test_luma_of_matches_the_runtime_luma():
    from vcam_sr.media.colour import luma

    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3)).astype(np.uint8)
    ours = luma_of(torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255)[0, 0].numpy()
    assert np.allclose(ours, luma(rgb), atol=1e-6)


def test_bad_degradation_mix_is_a_clear_error(tmp_path, tiny_data, capsys):
    code = train.main(["--config", str(tiny_config(tmp_path, tiny_data)), "--out", str(tmp_path / "run"),
                       "--set", "data.degradation={clean: -1}"])
    assert code == 2 and "data.degradation" in capsys.readouterr().err


def test_empty_data_folder_is_a_clear_error(tmp_path, tiny_data, capsys):
    empty = tmp_path / "empty"
    (empty / "train").mkdir(parents=True)
    shutil.copytree(tiny_data / "val", empty / "val")
    code = train.main(["--config", str(tiny_config(tmp_path, empty)), "--out", str(tmp_path / "run")])
    assert code == 2
    err = capsys.readouterr().err
    assert "no usable training images or videos" in err and "Traceback" not in err


def test_unusable_warm_start_checkpoint_is_a_clear_error(tmp_path, tiny_data, capsys):
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    for init in (tmp_path / "missing.pt", broken):
        code = train.main(["--config", str(tiny_config(tmp_path, tiny_data)), "--out",
                           str(tmp_path / "run"), "--set", f"train.init_from={init}"])
        err = capsys.readouterr().err
        assert code == 2 and "train.init_from" in err and "Traceback" not in err


def test_set_reads_numbers_as_numbers_and_rejects_words(tmp_path):
    cfg = REPO / "training" / "configs" / "fast.yaml"
    assert load_config(str(cfg), ["train.lr=2e-4"]).train.lr == 2e-4  # plain YAML: a string
    in_file = tmp_path / "lr.yaml"
    in_file.write_text(re.sub(r"(?m)^  lr: \S+", "  lr: 3e-4", cfg.read_text()))
    assert load_config(str(in_file)).train.lr == 3e-4  # the same in the file
    for bad in ("train.lr=fast", "train.lr=true", "train.nosuch=1", "seed.x=1", "nosuch=1", "data=3",
                "train.steps=0", "preset=huge"):
        assert train.main(["--config", str(cfg), "--out", str(tmp_path / "run"), "--set", bad]) == 2


def test_set_reaches_top_level_keys():
    cfg = str(REPO / "training" / "configs" / "fast.yaml")
    assert load_config(cfg, ["seed=7"]).seed == 7
    assert load_config(cfg, ["seed=7"]).train == load_config(cfg).train


@pytest.mark.slow
def test_tiny_training_lowers_the_loss_and_resumes(tmp_path, tiny_data, caplog):
    caplog.set_level("INFO")
    cfg = tiny_config(tmp_path, tiny_data)
    out = tmp_path / "run"
    assert train.main(["--config", str(cfg), "--out", str(out), "--set", "train.steps=40"]) == 0
    first = torch.load(out / "last.pt", weights_only=True)
    assert first["step"] == 40 and (out / "best.pt").exists()
    assert any((out / "tb").iterdir())  # TensorBoard events written

    assert train.main(["--config", str(cfg), "--out", str(out), "--resume", "--set", "train.steps=80"]) == 0
    assert "resumed from" in caplog.text and "train.steps: 40 -> 80" in caplog.text
    second = torch.load(out / "last.pt", weights_only=True)
    assert second["step"] == 80
    steps = [s for s, _ in second["history"]]
    assert steps == sorted(steps) and steps[:4] == [10, 20, 30, 40]  # continued, not restarted
    losses = [loss for _, loss in second["history"]]
    assert np.mean(losses[-2:]) < losses[0]


@pytest.mark.slow
def test_two_process_gloo_ddp_run(tmp_path, tiny_data):
    cfg = tiny_config(tmp_path, tiny_data, steps=6, val_every=6, ckpt_every=6)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "training.train", "--config", str(cfg), "--out", str(tmp_path / "ddp"), "--device", "cpu"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ckpt = torch.load(tmp_path / "ddp" / "last.pt", weights_only=True)
    assert ckpt["step"] == 6
    assert "batch 4 per process" in proc.stderr


@pytest.mark.slow
def test_robust_run_validates_on_clips_and_saves_its_settings(tmp_path, tiny_data, capsys):
    clips = tmp_path / "clips"
    clips.mkdir()
    shutil.copy(tiny_data / "train" / "clip.mp4", clips / "held_out.mp4")
    cfg = tiny_config(tmp_path, tiny_data, steps=4, val_every=4, ckpt_every=4)
    out = tmp_path / "robust"
    assert train.main(["--config", str(cfg), "--out", str(out), "--set", "data.val_sets=[]",
                       f"data.val_clips={clips}", "data.val_clip_frames=3",
                       "data.degradation={clean: 0.2, call: 0.8}"]) == 0
    assert "clips_webcam" in capsys.readouterr().out  # tqdm.write goes to stdout
    best = torch.load(out / "best.pt", weights_only=True)
    assert best["model_args"] == {"arch": "plain", "channels": 16, "blocks": 4, "y_only": True, "conditions": 3}
    assert best["config"]["data"]["degradation"]["call"] == 0.8


def test_context_degrades_a_larger_region_then_cuts_it_away(tiny_data):
    pool = load_hr_pool(tiny_data / "train", 4, 48 + 2 * 16)
    lr, _, hr = PatchSampler(pool, 24, {"call": 1.0}, seed=3, context=8).batch(4)
    assert lr.shape == (4, 1, 24, 24) and hr.shape == (4, 1, 48, 48)
    down = torch.nn.functional.avg_pool2d(hr, 2)
    assert (lr - down).abs().mean() < 0.06  # still the centre of the same region


@pytest.mark.slow
def test_crop_bank_is_made_by_worker_processes_and_trains(tmp_path, tiny_data):
    from training.data import CropBank

    pool = load_hr_pool(tiny_data / "train", 4, 48 + 2 * 16)
    bank = CropBank(pool, 24, {"clean": 0.3, "call": 0.7}, seed=1, context=8, size=40, workers=2,
                    device=torch.device("cpu"), chunk=16)
    assert bank.lr.shape == (40, 1, 24, 24) and bank.lr.dtype == torch.float16 and bank.hr.shape == (40, 1, 48, 48)
    lr, condition, hr = bank.batch(8)
    assert condition.shape == (8, 3)
    assert lr.shape == (8, 1, 24, 24) and (lr - torch.nn.functional.avg_pool2d(hr, 2)).abs().mean() < 0.06
    assert len({bytes(bank.lr[i].numpy()) for i in range(40)}) == 40  # each worker drew its own crops
    cfg = tiny_config(tmp_path, tiny_data, steps=4, val_every=4, ckpt_every=4)
    assert train.main(["--config", str(cfg), "--out", str(tmp_path / "run"), "--set", "data.bank=32"]) == 0
