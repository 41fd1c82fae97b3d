"""The one video I/O layer (PyAV/FFmpeg), shared by `vcam-sr upscale`, the web page's jobs, the
video/stream source and the file sink: a Reader that decodes frames as they are (YUV planes in
their own colour space, never through swscale's RGB path) with their timestamps, and a Writer
that encodes pictures with the source's tags (matrix, range, primaries, transfer, depth, chroma
layout, aspect, rotation, stream metadata) and copies the other streams untouched.
Real-ESRGAN's video script (a Reader and a Writer) is the model."""
from __future__ import annotations

import fractions
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator

import av
import numpy as np

from vcam_sr.errors import VcamError
from vcam_sr.media.colour import ColourSpace, YuvPicture, rgb_to_yuv, yuv_to_rgb_float
from vcam_sr.media.covers import Cover, is_cover, keep_covers, read_covers
from vcam_sr.media.frames import (AV_RANGE_FULL, AV_RANGE_LIMITED, MATRIX_AV, from_av, guessed_matrix,
                                  h264_quantizer, hard_compression, hdr_metadata, planar_format,
                                  to_av)
from vcam_sr.media.geometry import fit

log = logging.getLogger("vcam_sr.media")
CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
ENCODERS = {"h264": "libx264", "hevc": "libx265"}
MAX_DEPTH = {"h264": 10, "hevc": 12}  # what the bundled x264 / x265 encode
# each encoder's own option, and its names for hdr_metadata's mastering display and light level
ENCODER_PARAMS = {"h264": ("x264-params", {"master-display": "mastering-display", "cll": "cll"}),
                  "hevc": ("x265-params", {"master-display": "master-display", "cll": "max-cll"})}
COPIED = ("audio", "subtitle")
QUANTIZED = 30  # the first frames whose quantizer says how hard a video was compressed
# the display tags that travel with a picture, besides its matrix and range
TAGS = ("color_primaries", "color_trc")
# container metadata that describes the muxer, not the content: the output's muxer sets its own
MUXER_KEYS = {"major_brand", "minor_version", "compatible_brands", "encoder"}


@dataclass
class VideoFrame:
    """A decoded picture and when it is shown: `pts` in `time_base` units (None when unknown)."""

    picture: YuvPicture | np.ndarray
    pts: int | None
    time_base: fractions.Fraction | None
    index: int


@dataclass
class VideoInfo:
    """What the first video stream says about itself (the header; no frame decoded)."""

    width: int
    height: int
    fps: float
    time_base: fractions.Fraction
    frames: int | None          # declared frame count, None when the container does not say
    duration: float | None      # seconds
    codec: str
    pix_fmt: str | None
    sample_aspect_ratio: fractions.Fraction | None
    tags: dict = field(default_factory=dict)       # color_primaries, color_trc (AV codes)
    metadata: dict = field(default_factory=dict)   # stream metadata: language, title, ...


def sample_aspect(stream) -> fractions.Fraction | None:
    """The pixel aspect a player uses: the container's, where it sets one (an mkv made with
    `-aspect`), before the one in the video bitstream, as FFmpeg guesses it."""
    for sar in (stream.sample_aspect_ratio, stream.codec_context.sample_aspect_ratio):
        if sar and sar.numerator and sar != 1:
            return sar
    return None


class VideoReader:
    """A file or stream URL: `info`, then `items()` yields VideoFrames of the first video
    stream and, for the streams in `copy`, their packets as they come (for remuxing). A size
    change mid-stream is fitted into the first size (aspect kept), with one warning naming the
    frame. A file that stops decoding early (truncated, damaged) ends with a warning that says
    how many frames were read."""

    def __init__(self, location: str | Path, *, timeout_s: float | None = None):
        self.location = str(location)
        self.is_stream = "://" in self.location and not self.location.startswith("file:")
        what = "stream" if self.is_stream else "video file"
        options = {"timeout": str(int(timeout_s * 1e6))} if timeout_s and self.is_stream else {}
        try:
            self.container = av.open(self.location, options=options)
        except FileNotFoundError:
            raise VcamError(f"video file {self.location} does not exist; check the path") from None
        except (av.FFmpegError, OSError) as exc:
            raise VcamError(f"cannot read {what} {self.location} ({getattr(exc, 'strerror', None) or exc}); "
                            "check that it is a complete, playable video") from None
        if not self.container.streams.video:
            self.container.close()
            raise VcamError(f"{self.location} has no video stream; pass a video file or a stream URL")
        self.stream = self.container.streams.best("video")  # FFmpeg's pick: not a cover picture
        if self.stream.codec_context is None or not self.stream.codec_context.width:
            self.container.close()
            raise VcamError(f"the video stream of {self.location} cannot be decoded (an unknown codec, "
                            "or a damaged header); check that it plays, or convert it to H.264")
        self._warn_left_out()
        self.stream.thread_type = "AUTO"
        self.stream.codec_context.options = {"export_side_data": "venc_params"}  # the quantizer
        self.info = self._probe()
        self.decoded = 0
        self.damage: str | None = None  # why only part of a damaged or truncated file was read
        self.hdr: dict[str, str] = {}  # HDR10 mastering display and light level (hdr_metadata)
        self._quantizers: list[int] = []  # of the first QUANTIZED frames, H.264 only
        self._size_changed = False

    def _warn_left_out(self) -> None:
        """Say what will not be in the output: other video streams (a cover picture, a second
        angle) and an alpha channel, which H.264 and HEVC cannot hold."""
        others = [f"#{s.index}" for s in self.container.streams.video
                  if s.index != self.stream.index and not is_cover(s)]
        if others and not self.is_stream:
            log.warning("%s has %d more video stream(s) (%s); only stream #%d (%s) is used",
                        self.location, len(others), ", ".join(others), self.stream.index,
                        self.stream.codec_context.name)
        fmt = self.stream.codec_context.pix_fmt or ""
        if fmt.startswith(("yuva", "rgba", "bgra", "argb", "abgr", "ya", "gbrap")):
            log.warning("%s has transparency (%s); the output has none, as H.264 and HEVC cannot "
                        "hold it", self.location, fmt)

    def _probe(self) -> VideoInfo:
        s, ctx = self.stream, self.stream.codec_context
        rate = s.average_rate or s.guessed_rate or 30
        duration = float(s.duration * s.time_base) if s.duration and s.time_base else (
            self.container.duration / av.time_base if self.container.duration else None)
        return VideoInfo(ctx.width, ctx.height, float(rate), s.time_base or fractions.Fraction(1, 90000),
                         s.frames or None, duration, ctx.name, ctx.pix_fmt, sample_aspect(s),
                         {t: getattr(ctx, t) for t in TAGS}, dict(s.metadata))

    def streams_to_copy(self) -> list:
        return [s for s in self.container.streams if s.type in COPIED]

    def covers(self) -> list[Cover]:
        """The cover pictures (an MP4's artwork, a Matroska's image attachments)."""
        return read_covers(self.location, self.container)

    def items(self, copy: list = ()) -> Iterator[VideoFrame | av.Packet]:
        """Decoded frames of the video stream, and the packets of the `copy` streams."""
        copied = {s.index for s in copy}
        try:
            for packet in self.container.demux(self.stream, *copy):
                if packet.stream.index in copied:
                    if packet.dts is not None:  # not the demuxer's empty flush packet
                        yield packet
                    continue
                for frame in packet.decode():
                    yield self._frame(frame)
        except av.FFmpegError as exc:
            if self.is_stream:
                raise VcamError(f"stream {self.location} stopped delivering frames ({exc}); check "
                                "the sender and the network") from None
            self._damaged(f"cannot be decoded past frame {self.decoded} ({exc}): it is damaged or "
                          "truncated; only those frames are used")
            return
        declared = self.info.frames
        if declared and self.decoded < declared * 0.98 and not self.is_stream:
            self._damaged(f"ended after {self.decoded} of the {declared} frames it declares: it looks "
                          "truncated; only those frames are used")
        elif not declared and self.info.duration and not self.is_stream and \
                self.decoded < 0.9 * self.info.duration * self.info.fps:
            self._damaged(f"ended after {self.decoded} frames ({self.decoded / self.info.fps:.1f} s) of "
                          f"the {self.info.duration:.1f} s it declares: it looks truncated; only those "
                          "frames are used")

    def _damaged(self, why: str) -> None:
        """Logged, and kept for a caller that shows it elsewhere (the web page's job)."""
        self.damage = why
        log.warning("%s %s", self.location, why)

    def frames(self) -> Iterator[VideoFrame]:
        return (item for item in self.items() if isinstance(item, VideoFrame))

    @property
    def compressed(self) -> str:
        """Why the video is known to be hard compressed (its first frames' H.264 quantizer), or
        "": the model for compressed input then serves it, however clean its frames look."""
        return hard_compression(self._quantizers)

    def _frame(self, frame: av.VideoFrame) -> VideoFrame:
        picture = from_av(frame)
        if self.decoded < QUANTIZED and (qp := h264_quantizer(frame)) is not None:
            self._quantizers.append(qp)
        if self.decoded == 0:  # the first picture's size is the video's (a header may say otherwise)
            self.info.width, self.info.height = frame.width, frame.height
            self.hdr = hdr_metadata(frame)
            if frame.interlaced_frame:
                log.warning("%s is interlaced: each frame is upscaled as one picture and written "
                            "progressive; for a clean result deinterlace it first (ffmpeg -vf bwdif)",
                            self.location)
        w, h = self.info.width, self.info.height
        if (frame.width, frame.height) != (w, h):
            if not self._size_changed:
                log.warning("%s changes size at frame %d (%.2f s) from %dx%d to %dx%d; from there "
                            "each frame is fitted into %dx%d with its aspect kept", self.location,
                            self.decoded, float(frame.time or 0), w, h, frame.width, frame.height, w, h)
                self._size_changed = True
            picture = fit(picture, w, h)
        self.decoded += 1
        return VideoFrame(picture, frame.pts, frame.time_base, self.decoded - 1)

    def rotation(self) -> float:
        """The display rotation of the first frame (degrees counter-clockwise), 0 when none;
        reads from a fresh demuxer so this reader's position is untouched."""
        with av.open(self.location) as other:
            for frame in other.decode(other.streams[self.stream.index]):
                return float(frame.rotation or 0)
        return 0.0

    def close(self) -> None:
        self.container.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _requantized(picture: YuvPicture, depth: int) -> YuvPicture:
    """The same planes at a lower bit depth, rounded: 12-bit video written at 10 bits went
    through RGB, whose clipping of out-of-gamut colour moved mean Y by +0.6 codes."""
    divisor, peak = np.float32(1 << (picture.space.depth - depth)), (1 << depth) - 1

    def plane(codes):
        return None if codes is None else np.clip(
            np.rint(codes.astype(np.float32) / divisor), 0, peak).astype(np.uint16 if depth > 8 else np.uint8)
    return YuvPicture(plane(picture.y), plane(picture.u), plane(picture.v), replace(picture.space, depth=depth))


class VideoWriter:
    """Encodes pictures into `path` (the caller makes it atomic) with the given colour space,
    chroma layout and tags; `copy` streams are added from their templates with their metadata.
    Timestamps are the source's own (`write(frame, pts, time_base)`), kept strictly increasing;
    without them frame i is shown at i / fps."""

    def __init__(self, path: str | Path, fmt: str, width: int, height: int, fps: float, *,
                 codec: str = "h264", crf: int = 18, preset: str = "medium",
                 space: ColourSpace | None = None, subsampling: tuple[int, int] = (2, 2),
                 tags: dict | None = None, time_base: fractions.Fraction | None = None,
                 sample_aspect_ratio: fractions.Fraction | None = None, rotation: float = 0.0,
                 metadata: dict | None = None, copy: list = (), container_metadata: dict | None = None,
                 chapters: list = (), attachments: list = (), covers: list = (),
                 hdr: dict[str, str] | None = None):
        self.space = space or ColourSpace(guessed_matrix(height))
        if self.space.depth > MAX_DEPTH[codec]:
            log.warning("%s encodes at most %d bits, so this %d-bit video is written at %d bits",
                        ENCODERS[codec], MAX_DEPTH[codec], self.space.depth, MAX_DEPTH[codec])
            self.space = ColourSpace(self.space.matrix, self.space.full_range, MAX_DEPTH[codec])
        self.subsampling = subsampling
        try:
            self.container = av.open(str(path), mode="w", format=fmt)
        except (av.FFmpegError, OSError) as exc:
            raise VcamError(f"cannot write {path} ({exc}); choose a writable location") from None
        self.container.metadata.update({k: v for k, v in (container_metadata or {}).items()
                                        if k not in MUXER_KEYS})
        self.rate = fractions.Fraction(fps).limit_denominator(1001)
        self.stream = self.container.add_stream(ENCODERS[codec], rate=self.rate)
        self.stream.width, self.stream.height = width, height
        self.stream.pix_fmt = planar_format(subsampling, self.space.depth)
        ctx = self.stream.codec_context
        self.time_base = time_base or 1 / self.rate
        ctx.time_base = self.time_base
        ctx.colorspace = MATRIX_AV[self.space.matrix]
        ctx.color_range = AV_RANGE_FULL if self.space.full_range else AV_RANGE_LIMITED
        for tag, value in (tags or {}).items():
            if value not in (None, 2):  # 2: unspecified
                setattr(ctx, tag, value)
        if sample_aspect_ratio:
            ctx.sample_aspect_ratio = sample_aspect_ratio
        if codec == "hevc" and fmt in ("mp4", "mov"):
            self.stream.codec_tag = "hvc1"  # Apple's players play HEVC in MP4 only tagged hvc1
        self.stream.options = {"crf": str(crf), "preset": preset}
        params, names = ENCODER_PARAMS[codec]
        given = (["log-level=error"] if codec == "hevc" else []) + (["hdr10=1"] if hdr and codec == "hevc" else [])
        given += [f"{names[k]}={v}" for k, v in (hdr or {}).items()]
        if given:
            self.stream.options[params] = ":".join(given)
        if rotation:
            self.stream.set_display_rotation(rotation)
        self.stream.metadata.update({k: v for k, v in (metadata or {}).items() if k not in MUXER_KEYS})
        self.copies = {}
        for source in copy:
            try:
                target = self.container.add_stream_from_template(source)
            except ValueError:  # "'mp4' format does not support 'srt' codec"
                self.container.close()
                raise VcamError(f"the {source.type} stream #{source.index} ({source.codec_context.name}) "
                                f"cannot be copied into a {Path(path).suffix or fmt} file; name the "
                                "output with the input's type, or .mkv") from None
            target.metadata.update(source.metadata)
            target.disposition = source.disposition  # default, forced, hearing impaired...
            self.copies[source.index] = target
        self._keep_chapters_and_attachments(fmt, chapters, attachments)
        self._covers = keep_covers(self.container, fmt, covers)  # muxed before the first packet
        self.frames, self.last_pts, self.last_dts, self.offset = 0, None, None, 0

    def _keep_chapters_and_attachments(self, fmt: str, chapters: list, attachments: list) -> None:
        """Chapters as the source has them; attachments (fonts of styled subtitles) where the
        container holds them (Matroska), else one warning each."""
        if chapters:
            self.container.set_chapters(chapters)
        for attachment in attachments:
            if fmt == "matroska":
                self.container.add_attachment(attachment.name, attachment.mimetype, bytes(attachment.data))
            else:
                log.warning("the attached file %s cannot be stored in this container; upscale into "
                            ".mkv to keep it", attachment.name)

    def write(self, picture: YuvPicture | np.ndarray, pts: int | None = None,
              time_base: fractions.Fraction | None = None) -> None:
        """Encode one picture (uint8 RGB is converted exactly into the writer's space)."""
        if not isinstance(picture, YuvPicture):
            picture = rgb_to_yuv(picture, self.space, self.subsampling)
        elif picture.space.depth > self.space.depth and picture.subsampling == self.subsampling and \
                picture.space == replace(self.space, depth=picture.space.depth):
            picture = _requantized(picture, self.space.depth)
        elif picture.space != self.space or picture.subsampling != self.subsampling:
            picture = rgb_to_yuv(yuv_to_rgb_float(picture), self.space, self.subsampling)
        frame = to_av(picture)
        frame.pts = self._pts(pts, time_base)
        frame.time_base = self.time_base
        self._mux(self.stream.encode(frame))
        self.frames += 1

    def _mux(self, packets: list) -> None:
        """Mux encoded packets. libx265 now and then returns a garbage decode timestamp
        (-9e13 seen here) on a short clip's last packets, which MP4's muxer refuses; such a
        timestamp is replaced by the smallest valid one (after the previous, at most the pts)."""
        far = round(10 / self.time_base)  # ten seconds: far beyond any encoder's reordering
        if packets:
            self._mux_covers()
        for packet in packets:
            if packet.pts is not None and packet.dts is not None and not (
                    packet.pts - far < packet.dts <= packet.pts):
                packet.dts = min(packet.pts, self.last_dts + 1) if self.last_dts is not None else packet.pts
            self.last_dts = packet.dts if packet.dts is not None else self.last_dts
            self.container.mux(packet)

    def _pts(self, pts: int | None, time_base: fractions.Fraction | None) -> int:
        """The source's timestamp in this stream's time base; a timestamp that goes back (a
        stream that restarts at 0) continues from the last one instead of failing the muxer."""
        if pts is None:
            wanted = round(self.frames / self.rate / self.time_base)
        else:
            wanted = round(pts * (time_base or self.time_base) / self.time_base) + self.offset
        if self.last_pts is not None and wanted <= self.last_pts:
            step = max(1, round(1 / self.rate / self.time_base))
            self.offset += self.last_pts + step - wanted
            wanted = self.last_pts + step
        self.last_pts = wanted
        return wanted

    def copy(self, packet: av.Packet) -> None:
        packet.stream = self.copies[packet.stream.index]
        self._mux_covers()
        self.container.mux(packet)

    def _mux_covers(self) -> None:
        """The cover packets, first: muxing one writes the header (never in __init__, whose
        failure would leave the container open)."""
        while self._covers:
            self.container.mux(self._covers.pop(0))

    def close(self) -> None:
        """Flush the encoder and finish the file."""
        if self.container is None:
            return
        try:
            self._mux(self.stream.encode(None))
        finally:
            self.container.close()
            self.container = None

    def abandon(self) -> None:
        """Close without flushing (the file is being thrown away)."""
        if self.container is not None:
            try:
                self.container.close()
            except av.FFmpegError:
                pass
            self.container = None


