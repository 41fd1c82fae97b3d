"""Real codec round trips, as a camera or a call delivers frames: RGB converted exactly to
YUV 4:2:0 (BT.601, limited range, as webcams and WebRTC send it), encoded, decoded, and the
decoded planes returned as they are (never through swscale's truncating RGB path).

Rates: a constant rate factor (`crf`, x264), a constant quantizer (`q`, VP8's 0-63), or a
real-time constant bit rate (`kbps`), as WebRTC's encoders run: x264 `zerolatency`, VP8
`deadline=realtime` with no lag, both with min = max = target rate.
"""
from __future__ import annotations

import fractions

import av
import numpy as np

from vcam_sr.media.colour import ColourSpace, YuvPicture, rgb_to_yuv, yuv_to_rgb_float
from vcam_sr.media.frames import from_av, h264_quantizer, to_av

CODECS = {"h264": ("libx264", "h264"), "vp8": ("libvpx", "vp8")}
CAMERA_SPACE = ColourSpace("bt601", full_range=False, depth=8)


def _options(codec: str, fps: float, crf: int | None, q: int | None, kbps: float | None,
             threads: int) -> dict[str, str]:
    if sum(v is not None for v in (crf, q, kbps)) != 1:
        raise ValueError("give exactly one of crf, q or kbps")
    opts = {"threads": str(threads)}
    if codec == "h264":
        opts.update(preset="veryfast", tune="zerolatency")
        if crf is not None:
            opts["crf"] = str(crf)
        elif q is not None:
            opts["qp"] = str(q)
    else:
        opts.update({"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0",
                     "error-resilient": "1"})
        if q is not None:
            opts.update(qmin=str(q), qmax=str(q), b="20M")
        elif crf is not None:
            raise ValueError("VP8 takes q or kbps, not crf")
    if kbps is not None:
        rate = f"{int(kbps * 1000)}"
        opts.update(b=rate, minrate=rate, maxrate=rate, bufsize=str(int(kbps * 1000)))
    return opts


def round_trip(frames: list[np.ndarray], codec: str = "h264", fps: float = 30.0, *,
               crf: int | None = None, q: int | None = None, kbps: float | None = None,
               threads: int = 1, sent: list[int] | None = None,
               quantizers: list[int] | None = None) -> list[YuvPicture]:
    """Encode the RGB frames (or YUV pictures) as one stream (P-frames after the first, as a
    call sends them) and decode it: the decoded YUV pictures, cropped back to the frames' size.
    `sent`, if given, receives each packet's size in bytes (an encoder can miss its target
    rate). `quantizers`, if given, receives each decoded H.264 frame's quantizer, as the runtime
    reads it from a video (media/frames.py h264_quantizer). `threads=1` suits tiny training
    crops (threads cost 4x there); clips may use more."""
    if codec not in CODECS:
        raise ValueError(f"unknown codec {codec!r}; choose one of {', '.join(CODECS)}")
    encoder_name, decoder_name = CODECS[codec]
    h, w = frames[0].shape[:2]
    eh, ew = h + h % 2, w + w % 2
    encoder = av.CodecContext.create(encoder_name, "w")
    encoder.width, encoder.height, encoder.pix_fmt = ew, eh, "yuv420p"
    rate = fractions.Fraction(fps).limit_denominator(1001)
    encoder.time_base, encoder.framerate = 1 / rate, rate
    encoder.colorspace, encoder.color_range = 6, 1  # BT.601, limited
    encoder.options = _options(codec, fps, crf, q, kbps, threads)
    decoder = av.CodecContext.create(decoder_name, "r")
    decoder.thread_count = threads
    if quantizers is not None:
        decoder.options = {"export_side_data": "venc_params"}
    out: list[YuvPicture] = []

    def decode(packets):
        for packet in packets:
            if sent is not None and packet is not None and packet.size:
                sent.append(packet.size)
            for decoded in decoder.decode(packet):
                if quantizers is not None and (qp := h264_quantizer(decoded)) is not None:
                    quantizers.append(qp)
                pic = from_av(decoded)
                out.append(YuvPicture(pic.y[:h, :w], pic.u[:(h + 1) // 2, :(w + 1) // 2],
                                      pic.v[:(h + 1) // 2, :(w + 1) // 2], CAMERA_SPACE))

    for i, frame in enumerate(frames):
        if isinstance(frame, YuvPicture):
            frame = yuv_to_rgb_float(frame)
        padded = np.pad(frame, ((0, eh - h), (0, ew - w), (0, 0)), mode="edge")
        video_frame = to_av(rgb_to_yuv(padded, CAMERA_SPACE))
        video_frame.pts = i
        decode(encoder.encode(video_frame))
    decode(encoder.encode(None))
    decode([None])
    if len(out) != len(frames):
        raise RuntimeError(f"{codec} round trip returned {len(out)} of {len(frames)} frames")
    return out
