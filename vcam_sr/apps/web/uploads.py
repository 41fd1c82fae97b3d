"""What an upload is, found from its header before anything is decoded: its type by opening it
(Pillow for PNG, JPEG, WebP; PyAV for videos in MP4, MOV, MKV/WebM, AVI, MPEG-TS), never by
its name; its size in pixels and a video's frame count checked against the limits, so a small
file that declares a huge picture is refused in a sentence instead of filling memory.

Only these demuxers and only local files may be opened: an HLS playlist (or any format that
reads other files or URLs) is refused before FFmpeg follows it."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vcam_sr.errors import VcamError

IMAGE_FORMATS = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp"}
DEMUXERS = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,mpegts"
OPEN_VIDEO = {"format_whitelist": DEMUXERS, "protocol_whitelist": "file"}
VIDEO_PIXELS = 1920 * 1080   # the largest video frame taken (the result is 3840x2160)
VIDEO_FRAMES = 30 * 3600     # an hour at 30 fps


class Refused(VcamError):
    """An upload that is not taken: `status` 413 (too large) or 415 (not a supported type)."""

    def __init__(self, status: int, sentence: str):
        super().__init__(sentence)
        self.status = status


@dataclass
class Upload:
    kind: str                  # image or video
    suffix: str                # the stored file's
    size: tuple[int, int]      # width, height
    frames: int | None = None  # a video's frames, from its header


def probe(path: Path, max_pixels: int) -> Upload:
    """The upload at `path`, checked; Refused when it is not taken. `max_pixels`: an image's."""
    image = probe_image(path, max_pixels)
    return image if image is not None else probe_video(path)


def probe_image(path: Path, max_pixels: int) -> Upload | None:
    from PIL import Image, UnidentifiedImageError

    fmt = None
    try:
        with Image.open(path, formats=list(IMAGE_FORMATS)) as im:
            (width, height), fmt = im.size, im.format
            check_pixels("image", width, height, max_pixels, "--max-megapixels")
            if getattr(im, "n_frames", 1) > 1:
                raise Refused(415, f"the image is animated ({im.n_frames} frames); upload a still "
                                   "image, or the animation as a video (MP4)")
            im.verify()  # the chunks and their checksums, not the pixels
    except Image.DecompressionBombError:
        raise Refused(413, f"the image declares far more pixels than the {max_pixels / 1e6:.0f} "
                           "megapixels this page takes; upload a smaller image") from None
    except UnidentifiedImageError:
        return None
    except (OSError, SyntaxError, ValueError) as exc:
        raise Refused(415, f"the {fmt or 'image'} file is damaged ({exc}); upload a complete "
                           "image") from None
    return Upload("image", IMAGE_FORMATS[fmt], (width, height))


def probe_video(path: Path) -> Upload:
    import av

    try:
        with av.open(str(path), options=OPEN_VIDEO) as container:
            if not container.streams.video:
                raise Refused(415, "the upload has no video stream; upload a video or an image")
            video = container.streams.video[0]
            width, height = video.codec_context.width, video.codec_context.height
            if width and height:
                check_pixels("video", width, height, VIDEO_PIXELS)
            fps = float(video.average_rate or video.guessed_rate or 30)
            seconds = float(video.duration * video.time_base) if video.duration else (
                container.duration / 1e6 if container.duration else 0.0)
            frames = video.frames or round(seconds * fps) or None
            if frames and frames > VIDEO_FRAMES:
                raise Refused(413, f"the video has {frames} frames; this page takes up to "
                                   f"{VIDEO_FRAMES} (an hour at 30 fps): upload a shorter clip")
            first = next(container.decode(video), None)
            if first is None:
                raise Refused(415, "no frame of the video could be decoded; upload a video that plays")
            check_pixels("video", first.width, first.height, VIDEO_PIXELS)
            name = container.format.name
    except (av.FFmpegError, OSError, ValueError):
        raise Refused(415, "the upload is neither an image nor a playable video; upload a PNG, "
                           "JPEG or WebP image, or an MP4, MOV, MKV, WebM, AVI or TS video") from None
    suffix = ".mp4" if "mp4" in name else ".mkv" if "matroska" in name else ".avi" if name == "avi" \
        else ".ts" if name == "mpegts" else ".mkv"
    return Upload("video", suffix, (width or first.width, height or first.height), frames)


def check_pixels(kind: str, width: int, height: int, limit: int, flag: str | None = None) -> None:
    if width * height > limit:
        fix = f", or start vcam-sr web with a higher {flag}" if flag else ""
        raise Refused(413, f"the {kind} is {width}x{height} ({width * height / 1e6:.1f} megapixels); "
                           f"this page takes up to {limit / 1e6:.1f} megapixels: upload a smaller "
                           f"{kind}{fix}")
