"""Still images through `vcam-sr upscale`: depth, transparency, colour profile, EXIF,
resolution, text and coding kept; animated images and bombs refused from the header."""
import zlib

import numpy as np
import pytest
from PIL import Image, ImageCms

from conftest import real_frames
from vcam_sr.errors import VcamError
from vcam_sr.convert.files import upscale_image
from vcam_sr.upscalers.bicubic import BicubicUpscaler


def test_sixteen_bit_grey_png_stays_sixteen_bit(tmp_path):
    ramp = (np.linspace(0, 65535, 64 * 48).reshape(48, 64)).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "depth.png")
    upscale_image(tmp_path / "depth.png", tmp_path / "depth_2x.png", BicubicUpscaler())
    with Image.open(tmp_path / "depth_2x.png") as out:
        arr = np.asarray(out)
    assert out.mode.startswith("I") and arr.shape == (96, 128)
    assert abs(arr.mean() - ramp.mean()) < 0.01 * 65535  # not 99% white


def test_palette_png_keeps_its_transparency(tmp_path):
    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[10:30, 10:30] = (200, 30, 30, 255)
    Image.fromarray(rgba, "RGBA").quantize(colors=4, method=Image.Quantize.FASTOCTREE).save(
        tmp_path / "icon.png", transparency=0)
    upscale_image(tmp_path / "icon.png", tmp_path / "icon_2x.png", BicubicUpscaler())
    with Image.open(tmp_path / "icon_2x.png") as out:
        alpha = np.asarray(out.convert("RGBA"))[..., 3]
    assert alpha[0, 0] == 0 and alpha[40, 40] == 255


def test_jpeg_icc_profile_is_kept(tmp_path):
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.fromarray(real_frames(1, 64, 48)[0]).save(tmp_path / "p.jpg", icc_profile=profile)
    upscale_image(tmp_path / "p.jpg", tmp_path / "p_2x.jpg", BicubicUpscaler())
    with Image.open(tmp_path / "p_2x.jpg") as out:
        assert out.info.get("icc_profile") == profile


def test_exif_is_kept_with_the_orientation_applied(tmp_path):
    """A phone photo stored sideways (orientation 6) comes out upright, with its other tags."""
    exif = Image.Exif()
    exif[0x0112], exif[0x010F], exif[0x0110] = 6, "Fairphone", "FP5"  # orientation, make, model
    Image.fromarray(real_frames(1, 64, 48)[0]).save(tmp_path / "p.jpg", exif=exif.tobytes())
    upscale_image(tmp_path / "p.jpg", tmp_path / "p_2x.jpg", BicubicUpscaler())
    with Image.open(tmp_path / "p_2x.jpg") as out:
        tags = out.getexif()
        assert out.size == (96, 128)  # 48x64 upright, twice
    assert (tags.get(0x010F), tags.get(0x0110)) == ("Fairphone", "FP5")
    assert tags.get(0x0112, 1) == 1  # not rotated a second time by viewers


def test_a_lossless_webp_stays_lossless_and_resolution_and_text_are_kept(tmp_path):
    """A lossless WebP came out lossy; a PNG's or JPEG's dpi and a PNG's text were dropped."""
    from PIL.PngImagePlugin import PngInfo

    frame = Image.fromarray(real_frames(1, 64, 48)[0])
    frame.save(tmp_path / "ll.webp", lossless=True)
    frame.save(tmp_path / "lossy.webp", quality=80)
    info = PngInfo()
    info.add_text("Author", "Ada")
    frame.save(tmp_path / "d.png", dpi=(300, 300), pnginfo=info)
    frame.save(tmp_path / "d.jpg", dpi=(300, 300))
    for name in ("ll.webp", "lossy.webp", "d.png", "d.jpg"):
        upscale_image(tmp_path / name, tmp_path / name.replace(".", "_2x."), BicubicUpscaler())
    chunk = {n: (tmp_path / n).read_bytes()[12:16] for n in ("ll_2x.webp", "lossy_2x.webp")}
    assert chunk == {"ll_2x.webp": b"VP8L", "lossy_2x.webp": b"VP8 "}
    with Image.open(tmp_path / "d_2x.png") as png, Image.open(tmp_path / "d_2x.jpg") as jpg:
        assert round(png.info["dpi"][0]) == round(jpg.info["dpi"][0]) == 600  # same print size
        assert png.text["Author"] == "Ada"


def test_a_sixteen_bit_colour_png_says_it_comes_out_8_bit(tmp_path, caplog):
    rgb16 = (np.linspace(0, 65535, 32 * 24 * 3).reshape(24, 32, 3)).astype(np.uint16)
    import cv2

    cv2.imwrite(str(tmp_path / "deep.png"), rgb16)  # Pillow cannot write 16-bit colour
    upscale_image(tmp_path / "deep.png", tmp_path / "deep_2x.png", BicubicUpscaler())
    assert "16-bit colour PNG" in caplog.text and "8-bit" in caplog.text


def test_animated_images_and_bombs_are_refused_from_the_header(tmp_path):
    frames = [Image.fromarray(f) for f in real_frames(3, 32, 32)]
    frames[0].save(tmp_path / "anim.webp", save_all=True, append_images=frames[1:])
    with pytest.raises(VcamError, match="animated"):
        upscale_image(tmp_path / "anim.webp", tmp_path / "anim_2x.webp", BicubicUpscaler())
    Image.new("L", (1, 1)).save(tmp_path / "bomb.png")
    data = bytearray((tmp_path / "bomb.png").read_bytes())
    data[16:24] = (30000).to_bytes(4, "big") * 2  # IHDR width and height: 30000 x 30000
    data[29:33] = zlib.crc32(bytes(data[12:29])).to_bytes(4, "big")  # and the chunk's checksum
    (tmp_path / "bomb.png").write_bytes(bytes(data))
    with pytest.raises(VcamError, match="pixels"):
        upscale_image(tmp_path / "bomb.png", tmp_path / "bomb_2x.png", BicubicUpscaler())
    assert not (tmp_path / "anim_2x.webp").exists() and not (tmp_path / "bomb_2x.png").exists()
