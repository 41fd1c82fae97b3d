"""`vcam-sr upscale`: whole videos with their sound, images, folders that resume."""
import signal
import subprocess
import sys
import time

import av
import numpy as np
import pytest
from PIL import Image

from conftest import REPO, assert_clean_error, real_frames, cli, write_video


def clip_with_sound(path, frames=50, rotation=0, size=(96, 64)):
    """H.264 video (optionally rotated) plus an AAC tone, as a phone or a call recorder writes."""
    return write_video(path, real_frames(frames, *size), rotation=rotation, sound=True)


def streams(path):
    with av.open(str(path)) as c:
        info = {s.type: (s.frames, float(s.duration * s.time_base)) for s in c.streams}
        sound = [bytes(p) for p in c.demux(audio=0) if p.dts is not None]
    with av.open(str(path)) as c:
        first = next(c.decode(video=0))
    return info, sound, first


def test_a_video_comes_out_2x_with_every_audio_packet_and_its_rotation(tmp_path):
    src = clip_with_sound(tmp_path / "talk.mp4", rotation=90)
    proc = cli("upscale", str(src), "--backend", "bicubic")
    assert proc.returncode == 0, proc.stderr
    assert "x realtime" in proc.stdout
    (info_in, sound_in, first_in), (info_out, sound_out, first_out) = streams(src), streams(tmp_path / "talk_2x.mp4")
    assert (first_out.width, first_out.height) == (2 * first_in.width, 2 * first_in.height)
    assert info_out["video"][0] == info_in["video"][0] == 50
    assert sound_out == sound_in  # copied, not re-encoded
    assert abs(info_out["video"][1] - info_in["video"][1]) <= 1024 / 44100
    assert first_out.rotation == first_in.rotation == 90


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp"])
def test_images_come_out_2x_in_the_same_type(tmp_path, suffix):
    src = tmp_path / f"photo{suffix}"
    Image.fromarray(real_frames(1, 80, 60)[0]).save(src)
    proc = cli("upscale", str(src), "--model", "fast-clean")
    assert proc.returncode == 0, proc.stderr
    with Image.open(tmp_path / f"photo_2x{suffix}") as out:
        assert out.size == (160, 120) and out.format == Image.open(src).format


def test_png_alpha_is_kept(tmp_path):
    rgba = np.dstack([real_frames(1, 40, 30)[0], np.full((30, 40), 128, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "logo.png")
    assert cli("upscale", str(tmp_path / "logo.png"), "--backend", "bicubic").returncode == 0
    out = np.asarray(Image.open(tmp_path / "logo_2x.png"))
    assert out.shape == (60, 80, 4) and abs(int(out[..., 3].mean()) - 128) <= 1


@pytest.mark.slow
def test_an_interrupted_folder_run_resumes_doing_each_file_once(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    clip_with_sound(folder / "a_first.mp4", frames=10)
    clip_with_sound(folder / "b_long.mp4", frames=250, size=(320, 192))
    Image.fromarray(real_frames(1, 64, 48)[0]).save(folder / "c_photo.png")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "vcam_sr.cli", "upscale", str(folder), "-o", str(out),
               "--model", "fast", "--threads", "1"]
    proc = subprocess.Popen(command, cwd=REPO, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (out / "a_first_2x.mp4").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)  # now inside the long clip
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    assert "b_long.mp4: its output was not written" in proc.stderr.read()
    assert sorted(p.name for p in out.iterdir()) == ["a_first_2x.mp4"]  # no partial file either
    first_done = (out / "a_first_2x.mp4").stat().st_mtime_ns

    again = subprocess.run(command[:-4] + ["--backend", "bicubic"], cwd=REPO, capture_output=True, text=True,
                           timeout=300)
    assert again.returncode == 0, again.stderr
    assert "skipping a_first.mp4" in again.stderr and "done: 2 files" in again.stdout
    assert sorted(p.name for p in out.iterdir()) == ["a_first_2x.mp4", "b_long_2x.mp4", "c_photo_2x.png"]
    assert (out / "a_first_2x.mp4").stat().st_mtime_ns == first_done


@pytest.mark.parametrize("args, words", [
    (["{tmp}/missing.mp4"], ["does not exist"]),
    (["{tmp}/notes.txt"], ["neither a video", "nor an image"]),
    (["{tmp}/broken.mp4"], ["cannot read video file", "playable"]),
    (["{tmp}/photo.png", "-o", "{tmp}/photo.jpg"], ["keep their type", "photo_2x.png"]),
    (["{tmp}/photo.png", "-o", "{tmp}/photo.png"], ["is the input"]),
    (["{tmp}/photo.png", "--crf", "99"], ["--crf"]),
    (["{tmp}/empty"], ["holds no videos", "or images"]),
    (["{tmp}/photo.png", "{tmp}/notes.txt", "-o", "{tmp}/x.png"], ["several inputs", "looks like a file name"]),
])
def test_bad_upscale_input_gets_one_sentence(tmp_path, args, words):
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "empty").mkdir()
    (tmp_path / "broken.mp4").write_bytes(b"\x00" * 500)
    Image.fromarray(real_frames(1, 32, 24)[0]).save(tmp_path / "photo.png")
    before = (tmp_path / "photo.png").read_bytes()
    assert_clean_error(cli("upscale", *[a.replace("{tmp}", str(tmp_path)) for a in args]), *words)
    assert (tmp_path / "photo.png").read_bytes() == before
    assert not list(tmp_path.glob(".*partial*")) and not list(tmp_path.glob("*_2x"))


def test_a_bad_file_in_a_folder_is_skipped_with_its_reason_and_the_rest_is_done(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(real_frames(1, 32, 24)[0]).save(folder / "a.png")
    (folder / "b_fake.png").write_text("not a picture")
    Image.fromarray(real_frames(1, 32, 24)[0]).save(folder / "c.png")
    proc = cli("upscale", str(folder), "-o", str(tmp_path / "out"), "--backend", "bicubic")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "b_fake.png is not a readable image" in proc.stderr and "1 file(s) could not be upscaled" in proc.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a_2x.png", "c_2x.png"]


@pytest.mark.slow
def test_sigterm_during_upscale_exits_143_and_keeps_nothing_half_done(tmp_path):
    clip = clip_with_sound(tmp_path / "long.mp4", frames=250, size=(320, 192))
    out = tmp_path / "long_2x.mp4"
    proc = subprocess.Popen([sys.executable, "-m", "vcam_sr.cli", "upscale", str(clip), "--model", "fast",
                             "--threads", "1"], cwd=REPO, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    for line in proc.stderr:  # wait until frames are being written
        if "frame/s" in line or time.monotonic() > deadline:
            break
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 143
    assert "its output was not written" in proc.stderr.read()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.mp4"] and not out.exists()
