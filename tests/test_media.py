"""The video and image I/O layer: exact colour conversion, and every frame of `vcam-sr upscale`
leaving with the colours, depth, timing, aspect and tags it came in with."""
import fractions
import logging
import zlib

import av
import numpy as np
import pytest
from PIL import Image

from conftest import VAL, needs_shared, real_frames, write_video
from vcam_sr.errors import VcamError
from vcam_sr.media.colour import ColourSpace, YuvPicture, luma, rgb_to_yuv, yuv_to_rgb
from vcam_sr.media.frames import from_av, to_av
from vcam_sr.convert.files import plan, upscale_image, upscale_video
from vcam_sr.upscalers.bicubic import BicubicUpscaler

# BT.601 limited codes of pure colours (the issue's red patch 63,102,240 is BT.709's)
PATCHES = [(0.8, 0.2, 0.1), (0.1, 0.7, 0.2), (0.15, 0.2, 0.9), (0.5, 0.5, 0.5)]


def bicubic(size, fps):
    return BicubicUpscaler()


def patch_picture(space: ColourSpace, width=128, height=64) -> YuvPicture:
    """Four flat colour patches, 32 px wide, in `space`."""
    rgb = np.zeros((height, width, 3), np.float32)
    for i, colour in enumerate(PATCHES):
        rgb[:, 32 * i:32 * (i + 1)] = colour
    return rgb_to_yuv(rgb, space)


def write_planes(path, pictures, fps=25, codec="libx264", options=None, **tags):
    """A video of exactly these planes and tags (lossless unless `options` say otherwise)."""
    return write_video(path, pictures, fps, codec=codec, options=options or {"qp": "0"}, **tags)


def decoded(path):
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        frames = list(c.decode(stream))
        return stream, [from_av(f) for f in frames], frames


@pytest.mark.parametrize("matrix", ["bt601", "bt709"])
@pytest.mark.parametrize("full", [False, True], ids=["limited", "full"])
@pytest.mark.parametrize("depth", [8, 10])
def test_flat_patches_keep_their_codes_and_tags(tmp_path, matrix, full, depth):
    """Each patch's Y, Cb and Cr leave within 1 code value of bicubic on the same planes (a
    flat patch stays flat), and the output says the same matrix, range and depth."""
    space = ColourSpace(matrix, full, depth)
    src = write_planes(tmp_path / "in.mkv", [patch_picture(space)] * 3)
    upscale_video(src, tmp_path / "out.mkv", bicubic, crf=0, progress=False)
    _, ins, _ = decoded(src)
    stream, outs, frames = decoded(tmp_path / "out.mkv")
    assert outs[0].space == space and outs[0].subsampling == (2, 2)
    for i in range(len(PATCHES)):
        for plane, scale in (("y", 1), ("u", 2), ("v", 2)):
            want = getattr(ins[0], plane)[8 // scale, (32 * i + 16) // scale]
            got = getattr(outs[0], plane)[16 // scale, (64 * i + 32) // scale]
            assert abs(int(got) - int(want)) <= 1, (i, plane, got, want)


def test_full_range_black_and_white_stay_at_the_ends(tmp_path):
    space = ColourSpace("bt709", True, 8)
    rgb = np.zeros((32, 64, 3), np.uint8)
    rgb[:, 32:] = 255
    src = write_planes(tmp_path / "in.mkv", [rgb_to_yuv(rgb, space)] * 2)
    upscale_video(src, tmp_path / "out.mkv", bicubic, crf=0, progress=False)
    _, outs, _ = decoded(tmp_path / "out.mkv")
    assert outs[0].y[30, 20] == 0 and outs[0].y[30, 100] == 255  # not 16 / 235


@needs_shared()
def test_a_real_clip_keeps_its_mean_brightness(tmp_path):
    """PyAV's default rgb24 decode made every frame ~1.1 code values darker."""
    with av.open(str(VAL / "clips" / "retalking_4.mp4")) as c:
        pictures = [from_av(f) for _, f in zip(range(12), c.decode(video=0))]
    src = write_planes(tmp_path / "clip.mkv", pictures)
    upscale_video(src, tmp_path / "out.mkv", bicubic, crf=0, progress=False)
    _, ins, _ = decoded(src)
    _, outs, _ = decoded(tmp_path / "out.mkv")
    moved = np.mean([o.y.astype(float).mean() - i.y.astype(float).mean() for i, o in zip(ins, outs)])
    assert abs(moved) < 0.1


@pytest.mark.parametrize("codec", ["hevc", "h264"])
def test_hdr10_stays_10_bit_bt2020_pq_with_its_mastering_display(tmp_path, codec):
    """The tags were kept, but the mastering display and content light level (what an HDR
    screen tone-maps by) were dropped."""
    from vcam_sr.media.frames import hdr_metadata

    space = ColourSpace("bt2020", False, 10)
    tags = {"color_primaries": 9, "color_trc": 16}  # BT.2020, SMPTE 2084 (PQ)
    mastering = "G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,1)"
    src = write_planes(tmp_path / "hdr.mkv", [patch_picture(space)] * 2, codec="libx265", tags=tags, options={
        "x265-params": f"lossless=1:log-level=error:hdr10=1:master-display={mastering}:max-cll=1000,400"})
    upscale_video(src, tmp_path / "out.mkv", bicubic, codec=codec, progress=False)
    stream, outs, frames = decoded(tmp_path / "out.mkv")
    assert outs[0].space == space
    ctx = stream.codec_context
    assert (ctx.color_primaries, ctx.color_trc, ctx.colorspace) == (9, 16, 9)
    assert hdr_metadata(frames[0]) == {"master-display": mastering, "cll": "1000,400"}


def test_anamorphic_aspect_and_stream_tags_are_kept(tmp_path):
    space = ColourSpace("bt601", False, 8)
    src = write_planes(tmp_path / "pal.mkv", [patch_picture(space, 96, 72)] * 2,
                       sar=fractions.Fraction(64, 45), metadata={"language": "fra", "title": "entretien"})
    upscale_video(src, tmp_path / "out.mkv", bicubic, progress=False)
    stream, _, _ = decoded(tmp_path / "out.mkv")
    assert stream.codec_context.sample_aspect_ratio == fractions.Fraction(64, 45)
    assert stream.metadata.get("language") == "fra" and stream.metadata.get("title") == "entretien"


def test_a_pixel_aspect_set_only_by_the_container_is_kept(tmp_path):
    """`ffmpeg -aspect` while remuxing sets the aspect in the mkv, not in the H.264 stream: a
    player uses the container's, and so must the output (it played 5:4 instead of 16:9)."""
    import subprocess

    import imageio_ffmpeg

    from vcam_sr.media.video import sample_aspect

    src = write_planes(tmp_path / "square.mp4", [patch_picture(ColourSpace(), 96, 72)] * 2)
    remuxed = tmp_path / "wide.mkv"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(src), "-c", "copy",
                    "-aspect", "16:9", str(remuxed)], check=True, timeout=60)
    upscale_video(remuxed, tmp_path / "out.mkv", bicubic, progress=False)
    stream, outs, _ = decoded(tmp_path / "out.mkv")
    assert sample_aspect(stream) == fractions.Fraction(4, 3)  # 96x72 shown 16:9
    assert outs[0].y.shape == (144, 192)


@pytest.mark.parametrize("codec", ["hevc", "h264"])
def test_10_bit_chroma_that_overshoots_is_clipped_not_wrapped(tmp_path, codec):
    """Bicubic overshoots at a sharp chroma edge; a 10-bit code above 1023 must become 1023,
    not wrap to a code near 0 (x265 kept only the low 10 bits)."""
    space = ColourSpace("bt709", True, 10)
    y = np.full((64, 64), 512, np.uint16)
    u = np.zeros((32, 32), np.uint16)
    u[:, 16:] = 1023
    src = write_planes(tmp_path / "edge.mkv", [YuvPicture(y, u, u.copy(), space)] * 2, codec="libx265",
                       options={"x265-params": "lossless=1:log-level=error"})
    upscale_video(src, tmp_path / "out.mkv", bicubic, codec=codec, crf=0, progress=False)
    _, outs, _ = decoded(tmp_path / "out.mkv")
    bright = outs[0].u[:, 33:40]  # just inside the bright side of the edge
    assert bright.min() > 900, bright.min()


def test_12_bit_written_at_10_bits_keeps_its_colours(tmp_path):
    """x264 writes at most 10 bits: 12-bit planes are now rounded to 10 bits, and come out as
    the same picture made at 10 bits does; they used to go through RGB, whose clipping of
    saturated colour moved mean Y by +0.3 to +0.6 code values."""
    rgb = np.zeros((48, 64, 3), np.float32)
    rgb[:, 16:32, 0] = rgb[:, 32:48, 1] = rgb[:, 48:, 2] = 1.0  # saturated bars with sharp edges
    outs = {}
    for depth in (12, 10):
        src = write_planes(tmp_path / f"in{depth}.mkv", [rgb_to_yuv(rgb, ColourSpace("bt709", False, depth))] * 3,
                           codec="ffv1", options={})
        upscale_video(src, tmp_path / f"out{depth}.mkv", bicubic, crf=0, progress=False)
        outs[depth] = decoded(tmp_path / f"out{depth}.mkv")[1][0]
    assert outs[12].space == outs[10].space == ColourSpace("bt709", False, 10)
    for plane in ("y", "u", "v"):
        twelve, ten = (getattr(outs[d], plane).mean() / 4 for d in (12, 10))  # in 8-bit code values
        assert abs(twelve - ten) < 0.1, (plane, twelve, ten)


def test_a_subtitle_stream_the_output_cannot_hold_is_a_sentence_before_any_frame(tmp_path):
    """SubRip subtitles in an .mkv upscaled to an .mp4 (which holds only mov_text) used to end
    in a ValueError traceback."""
    import subprocess

    import imageio_ffmpeg

    (tmp_path / "s.srt").write_text("1\n00:00:00,000 --> 00:00:00,500\nHello\n")
    src = write_video(tmp_path / "v.mkv", real_frames(10, 64, 48))
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(src), "-i", str(tmp_path / "s.srt"),
                    "-c:v", "copy", "-c:s", "srt", str(tmp_path / "subs.mkv")], check=True, timeout=60)
    with pytest.raises(VcamError, match=r"subtitle stream #1 \(srt\) cannot be copied into a \.mp4 file"):
        upscale_video(tmp_path / "subs.mkv", tmp_path / "out.mp4", bicubic, progress=False)
    assert not list(tmp_path.glob("*out*"))
    upscale_video(tmp_path / "subs.mkv", tmp_path / "out.mkv", bicubic, progress=False)  # kept in .mkv
    with av.open(str(tmp_path / "out.mkv")) as c:
        assert [s.type for s in c.streams] == ["video", "subtitle"]


def test_chapters_attachments_and_a_forced_flag_are_kept(tmp_path):
    """Chapters, an attached font and a forced subtitle flag were dropped without a word."""
    import subprocess

    import imageio_ffmpeg

    (tmp_path / "s.srt").write_text("1\n00:00:00,000 --> 00:00:00,300\nHello\n")
    (tmp_path / "chapters.txt").write_text(";FFMETADATA1\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=200\n"
                                           "title=Intro\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=200\nEND=400\ntitle=Main\n")
    (tmp_path / "font.ttf").write_bytes(b"not really a font")
    src = write_video(tmp_path / "v.mkv", real_frames(10, 64, 48))
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(src), "-i", str(tmp_path / "s.srt"),
                    "-i", str(tmp_path / "chapters.txt"), "-map", "0", "-map", "1", "-map_chapters", "2",
                    "-c:v", "copy", "-c:s", "srt", "-disposition:s:0", "forced", "-attach", str(tmp_path / "font.ttf"),
                    "-metadata:s:t", "mimetype=application/x-truetype-font", str(tmp_path / "in.mkv")],
                   check=True, timeout=60)
    upscale_video(tmp_path / "in.mkv", tmp_path / "out.mkv", bicubic, progress=False)
    with av.open(str(tmp_path / "out.mkv")) as c:
        assert [ch["metadata"]["title"] for ch in c.chapters()] == ["Intro", "Main"]
        kinds = {s.type: s for s in c.streams}
        assert kinds["subtitle"].disposition & av.stream.Disposition.forced
        assert kinds["attachment"].name == "font.ttf" and bytes(kinds["attachment"].data) == b"not really a font"


def test_interlaced_video_is_named_as_such(tmp_path, caplog):
    """Interlaced input came out flagged progressive without a word."""
    import subprocess

    import imageio_ffmpeg

    src = write_video(tmp_path / "p.mp4", real_frames(6, 64, 48))
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(src), "-c:v", "libx264",
                    "-flags", "+ildct+ilme", "-x264-params", "tff=1", str(tmp_path / "i.mp4")], check=True, timeout=60)
    for name, interlaced in (("p.mp4", False), ("i.mp4", True)):
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            upscale_video(tmp_path / name, tmp_path / f"out-{name}", bicubic, progress=False)
        assert ("is interlaced" in caplog.text) == interlaced, name


def test_hevc_in_mp4_is_tagged_hvc1(tmp_path):
    src = write_planes(tmp_path / "in.mp4", [patch_picture(ColourSpace())] * 2)
    upscale_video(src, tmp_path / "out.mp4", bicubic, codec="hevc", progress=False)
    stream, _, _ = decoded(tmp_path / "out.mp4")
    assert stream.codec_tag == "hvc1"


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_variable_frame_rate_keeps_every_timestamp(tmp_path, suffix):
    ms = np.cumsum([0] + [33 if i % 3 else 50 for i in range(29)]).tolist()
    pictures = [patch_picture(ColourSpace(), 64, 32)] * 30
    src = write_planes(tmp_path / "phone.mp4", pictures, time_base=fractions.Fraction(1, 1000), pts=ms)
    upscale_video(src, tmp_path / f"out{suffix}", bicubic, progress=False)
    with av.open(str(tmp_path / f"out{suffix}")) as c:
        times = [round(float(f.time) * 1000) for f in c.decode(video=0)]
    assert times == ms


def test_a_stream_whose_timestamps_restart_keeps_going_forward(tmp_path):
    parts = []
    for name in ("a.ts", "b.ts"):
        parts.append(write_planes(tmp_path / name, [patch_picture(ColourSpace(), 64, 32)] * 10, fmt="mpegts",
                                  options={"qp": "0", "bf": "0"}).read_bytes())
    src = tmp_path / "restart.ts"
    src.write_bytes(b"".join(parts))
    upscale_video(src, tmp_path / "out.mp4", bicubic, progress=False)
    with av.open(str(tmp_path / "out.mp4")) as c:
        times = [float(f.time) for f in c.decode(video=0)]
    assert len(times) == 20 and all(b > a for a, b in zip(times, times[1:]))


def test_a_size_change_mid_stream_is_fitted_with_a_warning_naming_the_frame(tmp_path, caplog):
    big = [patch_picture(ColourSpace(), 128, 64)] * 3
    small = [patch_picture(ColourSpace(), 64, 48)] * 3
    parts = [write_planes(tmp_path / n, p, fmt="mpegts").read_bytes() for n, p in (("a.ts", big), ("b.ts", small))]
    src = tmp_path / "resized.ts"
    src.write_bytes(b"".join(parts))
    with caplog.at_level(logging.WARNING):
        upscale_video(src, tmp_path / "out.mkv", bicubic, progress=False)
    assert "changes size at frame 3" in caplog.text
    _, outs, _ = decoded(tmp_path / "out.mkv")
    assert len(outs) == 6 and {o.y.shape for o in outs} == {(128, 256)}
    assert outs[-1].y[64, 4] == 16  # pillarboxed in black, not stretched


def test_exact_conversion_is_unbiased_where_pyav_truncates():
    rgb = real_frames(1, 96, 64)[0]
    picture = rgb_to_yuv(rgb, ColourSpace())
    frame = to_av(picture)
    assert abs(luma(yuv_to_rgb(picture)).mean() - luma(rgb).mean()) * 255 < 0.1
    assert (luma(rgb).mean() - luma(frame.to_ndarray(format="rgb24")).mean()) * 255 > 0.5  # swscale


def test_same_named_inputs_are_named_apart_or_refused(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("clip.avi", "clip.mkv"):
        (folder / name).write_bytes(b"x")
    names = sorted(dst.name for _, dst in plan([folder], None, False))
    assert names == ["clip-avi_2x.mkv", "clip-mkv_2x.mkv"]
    for sub in ("x", "y"):
        (tmp_path / sub).mkdir()
        Image.new("RGB", (8, 8)).save(tmp_path / sub / "photo.png")
    with pytest.raises(VcamError, match="would both be written"):
        plan([tmp_path / "x" / "photo.png", tmp_path / "y" / "photo.png"], tmp_path / "out", False)


def test_a_folder_upscaled_into_itself_skips_its_own_outputs(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    Image.new("RGB", (16, 16)).save(tmp_path / "a_2x.png")
    assert plan([tmp_path], tmp_path, True) == [(tmp_path / "a.png", tmp_path / "a_2x.png")]


def test_a_file_that_appears_during_the_run_is_never_replaced(tmp_path):
    src = tmp_path / "p.png"
    Image.fromarray(real_frames(1, 32, 24)[0]).save(src)

    class Racer(BicubicUpscaler):  # another program writes the output while we upscale
        def upscale(self, frame):
            (tmp_path / "p_2x.png").write_bytes(b"theirs")
            return super().upscale(frame)

    done = upscale_image(src, tmp_path / "p_2x.png", Racer())
    assert (tmp_path / "p_2x.png").read_bytes() == b"theirs" and done.path.name == "p_2x-2.png"


def test_stale_partials_of_a_killed_writer_are_removed(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    stale = tmp_path / ".a_2x.4000000.k3y_x9ab.partial.png"  # no process has this id
    stale.write_bytes(b"half")
    mine = tmp_path / f".a_2x.{__import__('os').getpid()}.abcdefgh.partial.png"
    mine.write_bytes(b"in progress")
    plan([tmp_path / "a.png"], None, False)
    assert not stale.exists() and mine.exists()


def test_a_very_long_input_name_still_gets_a_temporary_file(tmp_path):
    src = tmp_path / ("n" * 240 + ".png")
    Image.fromarray(real_frames(1, 16, 16)[0]).save(src)
    (dst,) = [d for _, d in plan([src], None, False)]
    assert upscale_image(src, dst, BicubicUpscaler()).path == dst


def test_an_output_folder_removed_during_the_run_is_a_sentence(tmp_path):
    import shutil

    src = write_planes(tmp_path / "in.mkv", [patch_picture(ColourSpace(), 64, 32)] * 5)
    out = tmp_path / "out"
    out.mkdir()

    class Remover(BicubicUpscaler):  # the user deletes the output folder while it works
        def upscale(self, frame):
            shutil.rmtree(out, ignore_errors=True)
            return super().upscale(frame)

    with pytest.raises(VcamError, match="disappeared"):
        upscale_video(src, out / "in_2x.mkv", lambda size, fps: Remover(), progress=False)


def test_a_full_disk_while_writing_an_image_is_a_sentence_and_leaves_nothing(tmp_path):
    """A file-size limit (RLIMIT_FSIZE) stands in for a full disk: the write fails the same way."""
    import subprocess
    import sys

    src = tmp_path / "big.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (200, 300, 3)).astype(np.uint8)).save(src)
    script = ("import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
              "resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000)); "
              "from vcam_sr.cli import main; sys.exit(main(['upscale', sys.argv[1], '--backend', 'bicubic']))")
    proc = subprocess.run([sys.executable, "-c", script, str(src)], capture_output=True, text=True, timeout=120,
                          cwd=str(__import__("conftest").REPO))
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
    assert "could not be written" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.png"]


def test_a_bomb_in_a_folder_is_skipped_with_its_reason_and_the_rest_done(tmp_path, capsys):
    from vcam_sr.commands.upscale import main

    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(real_frames(1, 32, 24)[0]).save(folder / "a.png")
    Image.new("L", (1, 1)).save(folder / "b.png")
    data = bytearray((folder / "b.png").read_bytes())
    data[16:24] = (30000).to_bytes(4, "big") * 2
    data[29:33] = zlib.crc32(bytes(data[12:29])).to_bytes(4, "big")
    (folder / "b.png").write_bytes(bytes(data))
    assert main([str(folder), "--backend", "bicubic"]) == 1
    err = capsys.readouterr().err
    assert "b.png" in err and "pixels" in err and "Traceback" not in err
    assert (tmp_path / "in_2x" / "a_2x.png").exists() and not (tmp_path / "in_2x" / "b_2x.png").exists()


def test_a_truncated_mkv_warns_like_a_truncated_mp4(tmp_path, caplog):
    pictures = [rgb_to_yuv(f, ColourSpace()) for f in real_frames(40, 64, 48)]
    src = write_planes(tmp_path / "whole.mkv", pictures, options={"crf": "20"})
    data = src.read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: int(len(data) * 0.4)])
    with caplog.at_level(logging.WARNING):
        done = upscale_video(cut, tmp_path / "out.mkv", bicubic, progress=False)
    assert done.frames < 40 and "looks truncated" in caplog.text
