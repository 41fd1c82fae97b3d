"""Still images in and out (Pillow), kept as they came: the same file type, upright (EXIF
orientation applied, the other EXIF tags carried over), alpha upscaled beside the picture, the
ICC profile carried over, and 16-bit greyscale and greyscale pictures at their own depth. Animated images and decompression bombs are
refused from the header, before anything is decoded."""
from __future__ import annotations

import io
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageOps

from vcam_sr.errors import VcamError

TYPES = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}
MAX_PIXELS = 50_000_000  # 50 megapixels in (200 out): past this an image is refused, not decoded
GREY_MODES = ("L", "LA", "I;16", "I;16B", "I;16L", "I")
MAX_SIDE = {"WEBP": 16383, "JPEG": 65535}  # what each format can hold, in pixels a side
log = logging.getLogger("vcam_sr.media")


@dataclass
class Still:
    """A decoded image: `rgb` (uint8) or `grey` (float32 in [0, 1]), alpha if any, and what
    saving it again needs (ICC profile, bit depth)."""

    rgb: np.ndarray | None
    grey: np.ndarray | None
    alpha: Image.Image | None
    icc_profile: bytes | None
    sixteen_bit: bool
    exif: bytes | None = None  # without the orientation, which is applied to the pixels
    dpi: tuple[float, float] | None = None  # doubled on saving: the same print size, twice the pixels
    text: dict | None = None  # a PNG's text chunks (author, title, software...)
    lossless: bool = False  # a lossless WebP stays lossless

    @property
    def size(self) -> tuple[int, int]:
        h, w = (self.rgb if self.rgb is not None else self.grey).shape[:2]
        return w, h


def check_header(path: Path, max_pixels: int = MAX_PIXELS) -> tuple[str, int, int]:
    """(format, width, height) read from the header alone; VcamError for a file that is not a
    supported image, is animated, or is larger than `max_pixels`."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                fmt, (w, h), frames = im.format, im.size, getattr(im, "n_frames", 1)
    except Image.DecompressionBombError:
        raise VcamError(f"{path.name} declares more pixels than Pillow will open; it is not a "
                        "photo vcam-sr can upscale") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise VcamError(f"{path.name} is not a readable image ({exc}); pass a PNG, JPEG or WebP "
                        "file") from None
    if fmt not in set(TYPES.values()):
        raise VcamError(f"{path.name} is a {fmt} image; vcam-sr upscales PNG, JPEG and WebP images")
    if w * h > max_pixels:
        raise VcamError(f"{path.name} is {w}x{h} ({w * h / 1e6:.0f} megapixels), more than the "
                        f"{max_pixels / 1e6:.0f} megapixels vcam-sr upscales; crop or shrink it first")
    if frames > 1:
        raise VcamError(f"{path.name} is animated ({frames} frames); vcam-sr upscales still images, "
                        "so convert it to a video (MP4) and upscale that")
    return fmt, w, h


def check_fits(size: tuple[int, int], fmt: str, name: str) -> None:
    """Refuse, before any work, an upscaled size that the output's format cannot hold."""
    side = MAX_SIDE.get(fmt)
    if side and max(size) > side:
        raise VcamError(f"{name} at twice the size would be {size[0]}x{size[1]}, past {fmt}'s limit "
                        f"of {side} pixels a side; convert it to PNG and upscale that")


def profile_space(icc: bytes) -> str | None:
    """The colour space an ICC profile describes ('RGB', 'GRAY', 'CMYK'), None if unreadable."""
    try:
        return ImageCms.ImageCmsProfile(io.BytesIO(icc)).profile.xcolor_space.strip()
    except (OSError, ImageCms.PyCMSError):
        return None


def _to_rgb(im: Image.Image, icc: bytes | None) -> tuple[Image.Image, bytes | None]:
    """A CMYK picture as RGB: through its own profile into sRGB when it has one (a plain
    conversion shifts printed colours), and the profile that now describes it."""
    if icc and profile_space(icc) == "CMYK":
        srgb = ImageCms.createProfile("sRGB")
        im = ImageCms.profileToProfile(im, ImageCms.ImageCmsProfile(io.BytesIO(icc)), srgb, outputMode="RGB")
        return im, ImageCms.ImageCmsProfile(srgb).tobytes()
    return im.convert("RGB"), None


def _fitting_profile(icc: bytes | None, wanted: str, name: str) -> bytes | None:
    """`icc` if it describes pictures of the `wanted` space ('RGB' or 'GRAY'); a profile of
    another space would make viewers misread the colours, so it is left out, with a warning."""
    if not icc:
        return None
    if profile_space(icc) != wanted:
        log.warning("%s carries a colour profile that does not fit its pixels (%s); the upscaled "
                    "image is written without it", name, profile_space(icc) or "unreadable")
        return None
    return icc


def read_still(path: Path, max_pixels: int = MAX_PIXELS) -> Still:
    check_header(path, max_pixels)
    try:
        with Image.open(path) as im:
            raw_mode = im.tile[0][3] if im.tile else ""  # what the file holds, gone after load()
            im.load()
            icc = im.info.get("icc_profile")
            kept = {"dpi": im.info.get("dpi"), "text": dict(getattr(im, "text", {})) or None,
                    "lossless": im.format == "WEBP" and _webp_is_lossless(path)}
            if str(raw_mode).startswith(("RGB;16", "RGBA;16")):
                log.warning("%s is a 16-bit colour PNG, which Pillow reads at 8 bits; the upscaled "
                            "image is 8-bit", path.name)
            im = ImageOps.exif_transpose(im)
            exif = im.getexif().tobytes() if im.getexif() else None
            if im.mode == "CMYK":
                im, icc = _to_rgb(im, icc)
            if "transparency" in im.info and im.mode in ("P", "RGB", "L"):  # a palette or colour key
                im = im.convert("LA" if im.mode == "L" else "RGBA")
            elif im.mode == "P":  # a palette cannot hold the new in-between colours
                im = im.convert("RGB")
            alpha = im.getchannel("A") if im.mode in ("RGBA", "LA", "PA") else None
            icc = _fitting_profile(icc, "GRAY" if im.mode in GREY_MODES else "RGB", path.name)
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                grey = np.asarray(im, dtype=np.float32) / 65535.0
                return Still(None, grey, alpha, icc, True, exif, **kept)
            if im.mode in ("L", "LA"):
                grey = np.asarray(im.getchannel("L"), dtype=np.float32) / 255.0
                return Still(None, grey, alpha, icc, False, exif, **kept)
            return Still(np.asarray(im.convert("RGB")), None, alpha, icc, False, exif, **kept)
    except (OSError, ValueError) as exc:
        raise VcamError(f"{path.name} is not a readable image ({exc}); pass a PNG, JPEG or WebP file") from None


def upscaled_image(still: Still, rgb: np.ndarray | None, grey: np.ndarray | None) -> Image.Image:
    """The Pillow image of an upscaled still (`rgb` uint8, or `grey` float), alpha added back."""
    if grey is not None:
        peak = 65535 if still.sixteen_bit else 255
        codes = np.rint(np.clip(grey, 0, 1) * peak)
        out = Image.fromarray(codes.astype(np.uint16 if still.sixteen_bit else np.uint8))
        if still.sixteen_bit:
            out = out.convert("I;16") if out.mode != "I;16" else out
    else:
        out = Image.fromarray(rgb)
    if still.alpha is not None:
        if out.mode == "L":
            out = out.convert("LA")
        elif out.mode == "RGB":
            out = out.convert("RGBA")
        out.putalpha(still.alpha.resize(out.size, Image.BICUBIC))
    return out


def _webp_is_lossless(path: Path) -> bool:
    """Whether a WebP's picture is VP8L (lossless), from its RIFF chunks: Pillow does not say."""
    with open(path, "rb") as f:
        head = f.read(12)
        while head[:4] == b"RIFF" and len(chunk := f.read(8)) == 8:
            if chunk[:4] in (b"VP8L", b"VP8 "):
                return chunk[:4] == b"VP8L"
            size = int.from_bytes(chunk[4:], "little")
            f.seek(size + size % 2, 1)
    return False


def save_image(image: Image.Image, path: Path, fmt: str, still: Still) -> None:
    """In the input's type, with its colour profile, EXIF, resolution, text and (for WebP)
    lossless coding."""
    options = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
    if fmt == "WEBP" and still.lossless:
        options.update(lossless=True, quality=100)
    if still.icc_profile:
        options["icc_profile"] = still.icc_profile
    if still.exif:
        options["exif"] = still.exif
    if still.dpi and fmt in ("PNG", "JPEG"):
        options["dpi"] = tuple(2 * d for d in still.dpi)
    if still.text and fmt == "PNG":
        from PIL.PngImagePlugin import PngInfo

        options["pnginfo"] = PngInfo()
        for key, value in still.text.items():
            options["pnginfo"].add_text(key, str(value))
    if fmt == "JPEG" and image.mode not in ("RGB", "L"):
        image = image.convert("RGB")  # JPEG has no alpha
    image.save(path, fmt, **options)
