"""Cover pictures (an MP4's artwork, a Matroska's image attachments, which FFmpeg's demuxer
shows as attached-picture video streams), read from a source and kept as the output's container
keeps them."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import NamedTuple

import av

log = logging.getLogger("vcam_sr.media")

COVER_TYPES = {"mjpeg": "image/jpeg"}  # others are image/<codec>
# the names Matroska gives cover art; its other image attachments are files, not artwork
MATROSKA_COVERS = ("cover", "small_cover", "cover_land", "small_cover_land")


class Cover(NamedTuple):
    """A cover picture: its stream in the open source (the template of the copy) and its bytes."""
    stream: av.video.stream.VideoStream
    data: bytes


def is_cover(stream) -> bool:
    return bool(stream.disposition & av.stream.Disposition.attached_pic)


def read_covers(location: str | Path, container) -> list[Cover]:
    """The covers of the open `container`, their bytes read from a fresh demuxer (so the
    caller's position is untouched), each from its stream's first packet."""
    streams, found = [s for s in container.streams.video if is_cover(s)], []
    if not streams:  # most videos: no second demuxer opened
        return found
    with av.open(str(location)) as other:
        for stream in streams:
            packets = other.demux(other.streams[stream.index])
            data = next((bytes(p) for p in packets if p.size), None)  # the first packet is it
            if data:
                found.append(Cover(stream, data))
    return found


def keep_covers(container, fmt: str, covers: list[Cover]) -> list[av.Packet]:
    """Add the covers to the output `container` before its header is written: Matroska keeps
    them as image attachments; MP4 as attached-picture streams, whose packets (returned) the
    caller muxes first; elsewhere (MOV), or an MP4 given an image file that is not cover art,
    one warning each."""
    packets = []
    for number, cover in enumerate(covers):
        tags, codec = dict(cover.stream.metadata), cover.stream.codec_context.name
        name = tags.get("filename")
        if fmt == "matroska":
            kind = COVER_TYPES.get(codec, f"image/{codec}")
            container.add_attachment(name or f"cover{number or ''}.{kind.split('/')[1]}",
                                     tags.get("mimetype", kind), cover.data)
            continue
        artwork = fmt == "mp4" and (not name or Path(name).stem.lower() in MATROSKA_COVERS)
        try:
            stream = container.add_stream_from_template(cover.stream) if artwork else None
        except ValueError:  # "'mp4' format does not support 'gif' codec"
            stream = None
        if stream is None:
            log.warning("the %s picture %s cannot be stored in this container; upscale into .mkv "
                        "to keep it", codec, name or "(cover art)")
            continue
        stream.disposition = av.stream.Disposition.attached_pic
        stream.metadata.update(tags)
        packets.append(av.Packet(cover.data))
        packets[-1].stream = stream
    return packets
