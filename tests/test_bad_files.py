"""Odd files and names given to `vcam-sr upscale`: each is upscaled right or refused with one
sentence before any work, and no result is lost, replaced or upscaled twice."""
import logging
import os
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image, ImageCms

from conftest import assert_clean_error, cli, real_frames, write_video
from vcam_sr.atomic import AtomicOutput, check_output
from vcam_sr.convert.files import plan, upscale_image, upscale_video
from vcam_sr.errors import VcamError
from vcam_sr.media.colour import ColourSpace, rgb_to_yuv
from vcam_sr.upscalers.bicubic import BicubicUpscaler

CMYK_PROFILE = Path("/usr/share/color/icc/ghostscript/default_cmyk.icc")  # Debian's ghostscript


def bicubic(size, fps):
    return BicubicUpscaler()


def photo(path, width=32, height=24, **options):
    Image.fromarray(real_frames(1, width, height)[0]).save(path, **options)
    return path


def test_an_output_name_too_long_for_the_file_system_is_a_sentence(tmp_path):
    src = photo(tmp_path / ("n" * 250 + ".png"))  # 254 bytes: its _2x name would be 257
    assert_clean_error(cli("upscale", str(src), "--backend", "bicubic"), "longer than", "shorter name")


@pytest.mark.timeout(30)
def test_a_dangling_link_at_the_output_is_never_written_through_or_looped_on(tmp_path):
    src = photo(tmp_path / "a.png")
    (tmp_path / "a_2x.png").symlink_to(tmp_path / "nowhere.png")
    with pytest.raises(VcamError, match="already exists"):
        check_output(tmp_path / "a_2x.png", inputs=[src])
    output = AtomicOutput(tmp_path / "a_2x.png")  # the link appeared after the check
    output.tmp.write_bytes(b"result")
    assert output.commit(overwrite=False).name == "a_2x-2.png"
    assert not (tmp_path / "nowhere.png").exists()


def test_a_video_stream_no_decoder_knows_is_a_sentence(tmp_path):
    good = write_video(tmp_path / "good.mp4", real_frames(3, 64, 48))
    unknown = tmp_path / "odd.mp4"
    unknown.write_bytes(good.read_bytes().replace(b"avc1", b"zzzz"))  # an unknown codec's tag
    assert_clean_error(cli("upscale", str(unknown), "--backend", "bicubic"), "cannot be decoded")


def test_an_odd_sized_4_2_0_video_comes_out_at_twice_its_size(tmp_path):
    pictures = [rgb_to_yuv(f, ColourSpace()) for f in real_frames(3, 63, 47)]
    src = write_video(tmp_path / "odd.mkv", pictures, codec="ffv1")
    done = upscale_video(src, tmp_path / "odd_2x.mkv", bicubic, progress=False)
    with av.open(str(done.path)) as c:
        frames = list(c.decode(video=0))
    assert done.frames == len(frames) == 3 and (frames[0].width, frames[0].height) == (126, 94)


def test_a_cover_picture_before_the_video_is_not_taken_for_it(tmp_path, caplog):
    path = tmp_path / "cover.mkv"
    with av.open(str(path), "w") as out:
        cover, video = out.add_stream("mjpeg", rate=1), out.add_stream("libx264", rate=25)
        cover.width, cover.height, cover.pix_fmt = 32, 32, "yuvj420p"
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        picture = av.VideoFrame.from_ndarray(np.full((32, 32, 3), 200, np.uint8), format="rgb24")
        out.mux(cover.encode(picture.reformat(format="yuvj420p")))
        out.mux(cover.encode(None))
        for i, rgb in enumerate(real_frames(5, 64, 48)):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
    with caplog.at_level(logging.WARNING):
        done = upscale_video(path, tmp_path / "out.mkv", bicubic, progress=False)
    assert done.frames == 5 and "1 more video stream" in caplog.text


def test_a_video_with_transparency_says_that_it_is_lost(tmp_path, caplog):
    src = tmp_path / "alpha.mkv"
    with av.open(str(src), "w") as out:
        stream = out.add_stream("ffv1", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuva420p"
        for i in range(2):
            rgba = np.dstack([real_frames(1, 64, 48)[0], np.full((48, 64), 100, np.uint8)])
            frame = av.VideoFrame.from_ndarray(rgba, format="rgba").reformat(format="yuva420p")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    with caplog.at_level(logging.WARNING):
        upscale_video(src, tmp_path / "out.mkv", bicubic, progress=False)
    assert "transparency" in caplog.text


def test_a_webp_too_tall_for_webp_at_twice_the_size_is_refused_before_work(tmp_path):
    src = tmp_path / "strip.webp"
    Image.new("RGB", (2, 9000)).save(src)
    with pytest.raises(VcamError, match="limit of 16383"):
        upscale_image(src, tmp_path / "strip_2x.webp", BicubicUpscaler())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["strip.webp"]


@pytest.mark.skipif(not CMYK_PROFILE.is_file(), reason="needs ghostscript's CMYK profile (apt-get install ghostscript)")
def test_a_cmyk_jpeg_is_colour_managed_into_rgb_and_never_keeps_its_cmyk_profile(tmp_path):
    src = photo(tmp_path / "print.jpg")
    Image.open(src).convert("CMYK").save(src, icc_profile=CMYK_PROFILE.read_bytes())
    done = upscale_image(src, tmp_path / "print_2x.jpg", BicubicUpscaler())
    with Image.open(done.path) as out:
        profile = ImageCms.ImageCmsProfile(__import__("io").BytesIO(out.info["icc_profile"]))
        assert out.mode == "RGB" and profile.profile.xcolor_space.strip() == "RGB"


@pytest.mark.parametrize("mode, key", [("RGB", (10, 20, 30)), ("L", 40)])
def test_a_colour_key_transparency_is_kept_as_alpha(tmp_path, mode, key):
    pixels = np.full((24, 32, 3), 200, np.uint8)
    pixels[:, :16] = key if mode == "RGB" else (key, key, key)
    src = tmp_path / "keyed.png"
    Image.fromarray(pixels).convert(mode).save(src, transparency=key)
    done = upscale_image(src, tmp_path / "keyed_2x.png", BicubicUpscaler())
    alpha = np.asarray(Image.open(done.path).getchannel("A"))
    assert alpha[:, :24].max() == 0 and alpha[:, 40:].min() == 255


def test_a_folder_upscaled_into_itself_again_skips_outputs_named_apart(tmp_path):
    for name in ("clip.avi", "clip.mkv"):  # plan() reads names only
        (tmp_path / name).write_bytes(b"video")
    photo(tmp_path / "photo.png")
    first = plan([tmp_path], tmp_path, False)
    for _, dst in first:
        dst.write_bytes(b"done")
    photo(tmp_path / "photo_2x-2.png")  # a concurrent run's result beside the first's
    assert sorted(d.name for _, d in first) == ["clip-avi_2x.mkv", "clip-mkv_2x.mkv", "photo_2x.png"]
    assert plan([tmp_path], tmp_path, False) == []


def test_one_file_given_twice_is_done_once(tmp_path):
    src = photo(tmp_path / "a.png")
    (tmp_path / "link.png").symlink_to(src)
    (tmp_path / "out").mkdir()
    jobs = plan([src, tmp_path / "." / "a.png", tmp_path], tmp_path / "out", False)
    assert [(s.name, d.name) for s, d in jobs] == [("a.png", "a_2x.png")]


@pytest.mark.timeout(30)
def test_a_pipe_or_a_device_as_input_is_refused_not_waited_on(tmp_path):
    os.mkfifo(tmp_path / "pipe.mp4")
    assert_clean_error(cli("upscale", str(tmp_path / "pipe.mp4")), "not a regular file")


@pytest.mark.parametrize("name, words", [("n" * 300 + ".png", "too long"), ("loop.png", "symbolic links")])
def test_an_input_name_the_system_cannot_look_up_is_a_sentence(tmp_path, name, words):
    (tmp_path / "loop.png").symlink_to(tmp_path / "loop.png")
    assert_clean_error(cli("upscale", str(tmp_path / name)), "cannot be read", words)


@pytest.mark.parametrize("args, words", [
    (["", "--backend", "bicubic"], ["inputs", "empty"]),
    (["{tmp}/a.png", "-o", ""], ["output", "empty"]),
    (["{tmp}", "-o", "{tmp}/a.png/out"], ["cannot create the output folder"]),
])
def test_empty_names_and_uncreatable_folders_are_sentences(tmp_path, monkeypatch, args, words):
    monkeypatch.chdir(tmp_path)
    photo(tmp_path / "a.png")
    assert_clean_error(cli("upscale", *[a.replace("{tmp}", str(tmp_path)) for a in args]), *words)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]


def test_broken_links_in_a_folder_are_named_as_they_are_skipped(tmp_path):
    """A folder's dangling or looping links were skipped without a word."""
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(real_frames(1, 40, 30)[0]).save(folder / "a.png")
    (folder / "b.png").symlink_to(folder / "gone.png")
    (folder / "c.png").symlink_to(folder / "c.png")
    proc = cli("upscale", str(folder), "--backend", "bicubic")
    assert proc.returncode == 0, proc.stderr
    assert "skipping b.png: a link to" in proc.stderr and "skipping c.png: a link to" in proc.stderr
    assert sorted(p.name for p in (tmp_path / "in_2x").iterdir()) == ["a_2x.png"]
