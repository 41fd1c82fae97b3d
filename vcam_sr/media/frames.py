"""PyAV frames to and from vcam-sr frames, with no colour conversion on the way: a YUV frame's
planes are read as they are (YuvPicture, tagged with its matrix, range and depth); an 8-bit RGB
or palette frame becomes uint8 RGB. Only layout changes (NV12 to planar, say) go through
swscale, which copies those exactly. Deeper RGB is the exception: see _deep_rgb."""
from __future__ import annotations

import re
import struct

import av
import numpy as np

from vcam_sr.media.colour import ColourSpace, YuvPicture, rgb_to_yuv

# planar YUV pixel formats: name -> (chroma subsampling (x, y), bits); None = greyscale
PLANAR = {"yuv420p": (2, 2), "yuvj420p": (2, 2), "yuv422p": (2, 1), "yuvj422p": (2, 1),
          "yuv444p": (1, 1), "yuvj444p": (1, 1), "yuv440p": (1, 2), "yuvj440p": (1, 2),
          "gray": None}
for _bits in (9, 10, 12, 14, 16):
    for _name, _sub in (("yuv420p", (2, 2)), ("yuv422p", (2, 1)), ("yuv444p", (1, 1))):
        PLANAR[f"{_name}{_bits}le"] = _sub
    PLANAR[f"gray{_bits}le"] = None
# other YUV layouts -> the planar format that holds the same samples
REPACK = {"nv12": "yuv420p", "nv21": "yuv420p", "p010le": "yuv420p10le", "p016le": "yuv420p16le",
          "yuyv422": "yuv422p", "uyvy422": "yuv422p", "nv16": "yuv422p", "nv24": "yuv444p",
          "yuva420p": "yuv420p", "yuva444p": "yuv444p", "yuva420p10le": "yuv420p10le",
          "p210le": "yuv422p10le", "y210le": "yuv422p10le"}
# AVColorSpace codes (frame.colorspace) -> matrix
AV_MATRIX = {1: "bt709", 4: "fcc", 5: "bt601", 6: "bt601", 7: "smpte240m", 9: "bt2020", 10: "bt2020"}
MATRIX_AV = {"bt709": 1, "fcc": 4, "bt601": 6, "smpte240m": 7, "bt2020": 9}
AV_RANGE_LIMITED, AV_RANGE_FULL = 1, 2
AV_VIDEO_ENC_PARAMS_H264 = 1
# integer RGB of 9-16 bits, its samples in the low bits (not float, not FFmpeg's msb formats)
DEEP_RGB = re.compile(r"^(gbra?p(9|10|12|14|16)|rgba?(48|64)|bgra?(48|64)|x2rgb10|x2bgr10)(le|be)$")
# The H.264 quantizer from which a video counts as hard compressed: talking heads shrunk 2x and
# coded at CRF 22 are upscaled 0.14 dB better by the model for compressed input than by the one
# for clean input, at CRF 18 0.18 dB worse (training/configs/MODELS.md).
HARD_QUANTIZER = 22


def _bits(fmt: str) -> int:
    found = re.search(r"(\d+)[lb]e$", fmt)
    return int(found.group(1)) if found else 8


def guessed_matrix(height: int) -> str:
    """The matrix players assume for an untagged video: BT.709 from 720 lines up, else BT.601."""
    return "bt709" if height >= 720 else "bt601"


def colour_space(frame: av.VideoFrame, fmt: str | None = None) -> ColourSpace:
    """The frame's tagged matrix and range (untagged: guessed as players do), and its depth."""
    fmt = fmt or frame.format.name
    matrix = AV_MATRIX.get(int(frame.colorspace or 2)) or guessed_matrix(frame.height)
    tagged = int(frame.color_range or 0)
    full = tagged == AV_RANGE_FULL or fmt.startswith("yuvj") or (fmt.startswith("gray") and tagged != AV_RANGE_LIMITED)
    return ColourSpace(matrix, full, _bits(fmt))


def _plane(plane, dtype) -> np.ndarray:
    """One plane's pixels (line padding cut off), copied out of FFmpeg's buffer."""
    item = np.dtype(dtype).itemsize
    rows = np.frombuffer(plane, dtype).reshape(plane.height, plane.line_size // item)
    return rows[:, :plane.width].copy()


def from_av(frame: av.VideoFrame) -> YuvPicture | np.ndarray:
    """A decoded frame as a YuvPicture in its own colour space, or uint8 RGB if it is 8-bit RGB."""
    fmt = frame.format.name
    if fmt in REPACK:
        space = colour_space(frame, fmt)
        fmt = REPACK[fmt]
        frame = frame.reformat(format=fmt)
    elif DEEP_RGB.match(fmt):
        return _deep_rgb(frame, fmt, frame.format.components[0].bits)
    elif fmt not in PLANAR:  # RGB, BGR, palette, ...: copied into rgb24, values unchanged
        return frame.to_ndarray(format="rgb24") if fmt != "rgb24" else frame.to_ndarray()
    else:
        space = colour_space(frame, fmt)
    dtype = np.uint8 if space.depth == 8 else np.uint16
    planes = [_plane(p, dtype) for p in frame.planes[:3]]
    if PLANAR[fmt] is None:
        return YuvPicture(planes[0], None, None, space)
    return YuvPicture(planes[0], planes[1], planes[2], space)


def _deep_rgb(frame: av.VideoFrame, fmt: str, bits: int) -> YuvPicture:
    """RGB of more than 8 bits (FFV1 or ProRes RGB, 16-bit PNG video) as YUV 4:2:0 at its own
    depth (10 bits at least), in the matrix players assume for its height: the form any RGB video
    is written in, without the rounding to 8 bits that rgb24 costs. The planes are read here:
    swscale's conversion of gbrp10 to float was off by up to a code value."""
    if fmt.startswith("gbr"):
        dtype = np.dtype("<u2" if fmt.endswith("le") else ">u2")
        g, b, r = (_plane(p, dtype) for p in frame.planes[:3])
        rgb = np.stack([r, g, b], axis=-1).astype(np.float32) * np.float32(1 / ((1 << bits) - 1))
    else:  # packed 16-bit (rgb48, bgra64, ...): swscale only reorders and byte-swaps
        rgb = frame.to_ndarray(format="rgb48le").astype(np.float32) * np.float32(1 / 65535)
    space = ColourSpace(guessed_matrix(frame.height), False, min(max(bits, 10), 16))
    return rgb_to_yuv(rgb, space)


def planar_format(subsampling: tuple[int, int] | None, depth: int) -> str:
    """The planar FFmpeg format of a chroma layout (None: greyscale) and bit depth."""
    base = next(n for n, s in PLANAR.items() if s == subsampling and not n.endswith("le") and not n.startswith("yuvj"))
    return base if depth == 8 else f"{base}{depth}le"


def pixel_format(picture: YuvPicture) -> str:
    """The planar FFmpeg format that holds `picture` as it is."""
    return planar_format(picture.subsampling if picture.u is not None else None, picture.space.depth)


def to_av(picture: YuvPicture) -> av.VideoFrame:
    """`picture` as a PyAV frame of the matching planar format, tagged with its matrix and range."""
    frame = av.VideoFrame(picture.width, picture.height, pixel_format(picture))
    planes = [picture.y] if picture.u is None else [picture.y, picture.u, picture.v]
    for plane, data in zip(frame.planes, planes):
        item = data.dtype.itemsize
        rows = np.frombuffer(plane, data.dtype).reshape(plane.height, plane.line_size // item)
        rows[:, :plane.width] = data
    frame.colorspace = MATRIX_AV[picture.space.matrix]
    frame.color_range = AV_RANGE_FULL if picture.space.full_range else AV_RANGE_LIMITED
    return frame


def h264_quantizer(frame: av.VideoFrame) -> int | None:
    """The quantizer (QP, 0-51 at 8 bits) an H.264 frame was coded with, from the parameters the
    decoder exports (`export_side_data=venc_params`); None for other codecs or without them. It
    says how hard a video was compressed, whatever it shows: the picture alone cannot."""
    for data in frame.side_data:
        if data.type.name == "VIDEO_ENC_PARAMS":
            # AVVideoEncParams: nb_blocks, blocks_offset, block_size, type, qp, ... (64-bit layout)
            kind, qp = struct.unpack_from("<ii", bytes(data), 24)
            return qp if kind == AV_VIDEO_ENC_PARAMS_H264 else None
    return None


def hard_compression(quantizers: list[int]) -> str:
    """Why frames coded at these H.264 quantizers count as hard compressed (their median from
    HARD_QUANTIZER up), or "" if they do not or none is known."""
    if not quantizers:
        return ""
    qp = int(np.median(quantizers))
    return f"H.264 at quantizer {qp}" if qp >= HARD_QUANTIZER else ""


def hdr_metadata(frame: av.VideoFrame) -> dict[str, str]:
    """An HDR10 frame's mastering display and content light level, as the x264 / x265 option
    values that write them again (the chromaticities in 1/50000, luminances in 1/10000 cd/m2)."""
    found = {}
    for data in frame.side_data:
        if data.type.name == "MASTERING_DISPLAY_METADATA":
            v = struct.unpack("<22i", bytes(data)[:88])
            if v[20] and v[21]:  # has primaries, has luminance
                xy = [round(v[i] / v[i + 1] * 50000) for i in range(0, 16, 2)]  # R, G, B, white
                lum = [round(v[i] / v[i + 1] * 10000) for i in (18, 16)]  # max, min
                found["master-display"] = (f"G({xy[2]},{xy[3]})B({xy[4]},{xy[5]})R({xy[0]},{xy[1]})"
                                           f"WP({xy[6]},{xy[7]})L({lum[0]},{lum[1]})")
        elif data.type.name == "CONTENT_LIGHT_LEVEL":
            found["cll"] = "{},{}".format(*struct.unpack("<2I", bytes(data)[:8]))
    return found
