"""Temporal denoising: a noisy stream's still pixels are averaged over frames; clean streams,
motion, cuts and new sources pass as they are."""
import numpy as np
import pytest

from conftest import real_frames
from vcam_sr.media.colour import luma
from vcam_sr.upscalers import create_upscaler
from vcam_sr.upscalers.bicubic import BicubicUpscaler
from vcam_sr.upscalers.temporal import TemporalDenoiser


def noisy(y, sigma, rng):
    return np.clip(y + rng.normal(0, sigma / 255, y.shape), 0, 1).astype(np.float32)


def rmse(a, b):
    return 255 * float(np.sqrt(np.mean((a.astype(np.float64) - b) ** 2)))


@pytest.mark.parametrize("sigma", [1.5, 4])  # sensor noise in luma: a good webcam's, a poor one's
def test_a_still_noisy_picture_loses_most_of_its_noise_over_a_few_frames(sigma):
    rng = np.random.default_rng(0)
    clean = luma(real_frames(1, 160, 96)[0])
    denoise = TemporalDenoiser()
    frames = [noisy(clean, sigma, rng) for _ in range(12)]
    out = [denoise(f) for f in frames]
    assert rmse(out[0], clean) == rmse(frames[0], clean)  # the first frame has no past
    assert rmse(out[-1], clean) < 0.6 * rmse(frames[-1], clean)
    assert abs(float(np.mean(out[-1] - clean))) * 255 < 0.1  # no brightness shift


def test_clean_frames_pass_untouched_still_or_moving():
    denoise = TemporalDenoiser()
    for frame in real_frames(8, 160, 96):  # a pan across a photograph, no noise
        y = luma(frame)
        assert np.array_equal(denoise(y), y)
    still = luma(real_frames(1, 160, 96)[0])
    assert all(np.array_equal(denoise(still), still) for _ in range(4))


def test_a_moving_noisy_picture_leaves_no_trail():
    """A disc moves across a noisy still background: where it is and where it was, each frame
    shows the present (within the noise), not an average with the past."""
    rng = np.random.default_rng(1)
    background = luma(real_frames(1, 320, 180)[0])
    denoise = TemporalDenoiser()
    yy, xx = np.mgrid[0:180, 0:320]
    for t in range(10):
        clean = background.copy()
        disc = (yy - 90) ** 2 + (xx - 60 - 10 * t) ** 2 < 20 ** 2
        clean[disc] = 0.95
        out = denoise(noisy(clean, 4, rng))
    moved = disc ^ ((yy - 90) ** 2 + (xx - 60 - 10 * (t - 1)) ** 2 < 20 ** 2)
    assert np.abs(out[moved] - clean[moved]).mean() * 255 < 4  # the noise's own size, no ghost
    assert rmse(out[~disc], clean[~disc]) < 3  # while the still background is averaged (noise 4)


def test_a_cut_or_a_new_source_starts_afresh():
    rng = np.random.default_rng(2)
    first, second = (luma(f) for f in real_frames(40, 160, 96)[::39])
    denoise = TemporalDenoiser()
    for _ in range(5):
        denoise(noisy(first, 4, rng))
    cut = noisy(second[::-1], 4, rng)  # another picture of the same size
    assert np.array_equal(denoise(cut), cut)


def test_a_float64_plane_is_averaged_like_a_float32_one():
    rng = np.random.default_rng(4)
    clean = luma(real_frames(1, 96, 64)[0]).astype(np.float64)
    upscaler = create_upscaler("onnxruntime", "fast-clean")
    for _ in range(3):
        out = upscaler.upscale_luma(clean + rng.normal(0, 4 / 255, clean.shape))
    assert out.shape == (128, 192) and np.isfinite(out).all()


def test_an_upscaler_averages_within_a_stream_and_forgets_it_at_the_next():
    rng = np.random.default_rng(3)
    clean = real_frames(1, 96, 64)[0]
    frames = [np.clip(clean + rng.normal(0, 4, clean.shape), 0, 255).round().astype(np.uint8) for _ in range(8)]
    upscaler = create_upscaler("onnxruntime", "fast-clean")
    alone = create_upscaler("onnxruntime", "fast-clean").upscale(frames[-1])
    for f in frames:
        streamed = upscaler.upscale(f)
    assert not np.array_equal(streamed, alone)  # the stream's last frame was averaged
    upscaler.new_stream()
    assert np.array_equal(upscaler.upscale(frames[-1]), alone)  # a new stream starts afresh


def test_the_plain_bicubic_baseline_is_never_averaged():
    rng = np.random.default_rng(6)
    clean = luma(real_frames(1, 96, 64)[0])
    upscaler, plain = BicubicUpscaler(), BicubicUpscaler()
    for _ in range(6):
        y = noisy(clean, 4, rng)
        plain.new_stream()
        assert np.array_equal(upscaler.upscale_luma(y), plain.upscale_luma(y))
