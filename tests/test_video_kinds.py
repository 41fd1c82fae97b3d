"""Videos of less common kinds through `vcam-sr upscale`: a cover picture, RGB deeper than
8 bits, and H.264 coded hard, whose quantizer decides the model."""
import logging

import av
import numpy as np
from PIL import Image

from conftest import cli, real_frames, write_video
from vcam_sr.convert.files import upscale_video
from vcam_sr.media.frames import from_av
from vcam_sr.media.video import VideoReader
from vcam_sr.upscalers.bicubic import BicubicUpscaler


def bicubic(size, fps):
    return BicubicUpscaler()


def test_10_bit_rgb_video_stays_10_bit(tmp_path):
    """FFV1 gbrp10 (and 16-bit RGB) was read through rgb24 and written at 8 bits, without a word.
    A flat grey of code 517 of 1023 is luma 506.7 in 10 bits; through 8 bits it became 508."""
    with av.open(str(tmp_path / "rgb10.mkv"), "w") as out:
        stream = out.add_stream("ffv1", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "gbrp10le"
        for i in range(3):
            frame = av.VideoFrame(64, 48, "gbrp10le")
            for plane in frame.planes:
                rows = np.frombuffer(plane, np.uint16).reshape(plane.height, plane.line_size // 2)
                rows[:] = 517
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    upscale_video(tmp_path / "rgb10.mkv", tmp_path / "out.mkv", bicubic, crf=0, progress=False)
    with av.open(str(tmp_path / "out.mkv")) as c:
        frame = next(c.decode(video=0))
        assert frame.format.name == "yuv420p10le"
        assert np.all(from_av(frame).y == 507)


def test_float_rgb_video_is_not_read_as_integers(tmp_path):
    """EXR's float RGB, read as 16-bit integers by the deep-RGB path, came out black."""
    import subprocess

    import imageio_ffmpeg

    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i",
                    "color=0x808080:size=64x48:rate=5:duration=0.6", "-pix_fmt", "gbrpf32le", "-c:v", "exr",
                    str(tmp_path / "grey.mov")], check=True, timeout=60)
    upscale_video(tmp_path / "grey.mov", tmp_path / "out.mkv", bicubic, crf=0, progress=False)
    with av.open(str(tmp_path / "out.mkv")) as c:
        rgb = next(c.decode(video=0)).to_ndarray(format="rgb24")
    assert np.abs(rgb.astype(int) - 128).max() <= 1


def test_a_cover_picture_is_kept(tmp_path, caplog):
    """An MP4's cover art (or a Matroska's cover attachment) was dropped with only a note that
    the file had another video stream."""
    import subprocess

    import imageio_ffmpeg

    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    Image.fromarray(real_frames(1, 32, 32)[0]).save(tmp_path / "cover.png")
    src = write_video(tmp_path / "v.mp4", real_frames(6, 64, 48))
    subprocess.run([ffmpeg, "-v", "error", "-i", str(src), "-i", str(tmp_path / "cover.png"), "-map", "0",
                    "-map", "1", "-c", "copy", "-disposition:v:1", "attached_pic", str(tmp_path / "in.mp4")],
                   check=True, timeout=60)
    cover = (tmp_path / "cover.png").read_bytes()

    def covers(path):
        with av.open(str(path)) as c:
            pictures = [s for s in c.streams.video if s.disposition & av.stream.Disposition.attached_pic]
            return [next(bytes(p) for p in c.demux(s) if p.size) for s in pictures]

    for name in ("out.mp4", "out.mkv"):
        with caplog.at_level(logging.WARNING):
            upscale_video(tmp_path / "in.mp4", tmp_path / name, bicubic, progress=False)
        assert covers(tmp_path / name) == [cover], name
    upscale_video(tmp_path / "out.mkv", tmp_path / "again.mp4", bicubic, progress=False)  # mkv -> mp4
    assert covers(tmp_path / "again.mp4") == [cover]
    assert "more video stream" not in caplog.text
    upscale_video(tmp_path / "in.mp4", tmp_path / "out.mov", bicubic, progress=False)
    assert "png picture (cover art) cannot be stored in this container" in caplog.text


def test_a_matroska_image_that_is_not_cover_art_does_not_become_the_mp4_s_artwork(tmp_path, caplog):
    """FFmpeg shows every image attached to a Matroska file as a picture stream; only those
    named as Matroska names cover art are artwork, the rest stay files (kept in .mkv)."""
    import subprocess

    import imageio_ffmpeg

    Image.fromarray(real_frames(1, 32, 32)[0]).save(tmp_path / "screenshot.png")
    src = write_video(tmp_path / "v.mkv", real_frames(6, 64, 48))
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(src), "-c", "copy", "-attach",
                    str(tmp_path / "screenshot.png"), "-metadata:s:t:0", "mimetype=image/png",
                    str(tmp_path / "in.mkv")], check=True, timeout=60)
    with caplog.at_level(logging.WARNING):
        upscale_video(tmp_path / "in.mkv", tmp_path / "out.mp4", bicubic, progress=False)
        upscale_video(tmp_path / "in.mkv", tmp_path / "out.mkv", bicubic, progress=False)
    with av.open(str(tmp_path / "out.mp4")) as c:
        assert len(c.streams.video) == 1
    assert "png picture screenshot.png cannot be stored in this container" in caplog.text
    with av.open(str(tmp_path / "out.mkv")) as c:
        assert [s.metadata.get("filename") for s in c.streams.video[1:]] == ["screenshot.png"]


def test_the_h264_quantizer_is_read_and_a_hard_coded_video_gets_the_robust_model(tmp_path):
    """A video coded at a high H.264 quantizer reads clean in its frames (the codec smooths
    noise away), and auto gave it the clean model, which falls behind the robust one from about
    quantizer 22 up; the quantizer the decoder reports now decides."""
    frames = real_frames(8, 192, 112)
    for qp, compressed in ((12, ""), (30, "H.264 at quantizer 30")):
        write_video(tmp_path / f"qp{qp}.mp4", frames, options={"qp": str(qp)})
        with VideoReader(tmp_path / f"qp{qp}.mp4") as reader:
            list(reader.frames())
            assert reader.compressed == compressed
    write_video(tmp_path / "vp9.webm", frames, codec="libvpx-vp9")
    with VideoReader(tmp_path / "vp9.webm") as reader:
        list(reader.frames())
        assert reader.compressed == ""  # no quantizer known: the frames decide
    for qp, model in ((12, "fast-clean"), (30, "fast")):
        proc = cli("upscale", str(tmp_path / f"qp{qp}.mp4"), "--backend", "onnxruntime", "-o",
                   str(tmp_path / f"out{qp}.mp4"))
        assert proc.returncode == 0, proc.stderr
        assert f"model {model} (" in proc.stderr, proc.stderr
    assert "H.264 at quantizer 30" in proc.stderr


def test_a_hard_coded_video_played_live_gets_the_robust_model(tmp_path):
    """The live path reads the same quantizer from a video source (a file or a stream URL)."""
    write_video(tmp_path / "qp30.mp4", real_frames(8, 192, 112), options={"qp": "30"})
    proc = cli("--source", str(tmp_path / "qp30.mp4"), "--sink", "null", "--frames", "4",
               "--backend", "onnxruntime")
    assert proc.returncode == 0, proc.stderr
    assert "model fast (robust)" in proc.stderr and "H.264 at quantizer 30" in proc.stderr, proc.stderr
