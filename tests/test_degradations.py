"""The webcam / call degradations the robust models learn from, and clip scoring."""
import cv2
import numpy as np
import pytest

from conftest import real_frames, write_video
from training import degradations as d
from training.clips import ClipSet, h264_round_trip, tof
from training.codecs import round_trip
from training.evaluate import pil_bicubic
from vcam_sr.media.colour import luma, normalized_luma


def psnr(a, b) -> float:
    return float(10 * np.log10(255 ** 2 / np.mean((a.astype(float) - b.astype(float)) ** 2)))


@pytest.fixture(scope="module")
def image():
    return real_frames(1, 96, 64)[0]


def test_each_step_is_seeded_and_repeats(image):
    for step in (d.blur, d.sensor_noise, d.jpeg, d.webcam):
        a = step(image, np.random.default_rng(3))
        b = step(image, np.random.default_rng(3))
        assert a.shape == image.shape and a.dtype == np.uint8 and np.array_equal(a, b), step.__name__
        assert not np.array_equal(a, image), step.__name__
    for step in (d.codec, d.call):  # these deliver the luma plane the model sees
        a = step(image, np.random.default_rng(3))
        b = step(image, np.random.default_rng(3))
        assert a.shape == image.shape[:2] and a.dtype == np.float32 and np.array_equal(a, b), step.__name__
        assert not np.allclose(a, luma(image)), step.__name__


def test_degradation_without_noise_keeps_the_mean_brightness(image):
    """The decodes are exact: a round trip through each codec at high quality, and JPEG, move
    mean Y by well under 0.1 code values (PyAV's default RGB conversion moved it by ~1.2)."""
    truth = luma(image).mean() * 255
    for codec, rate in (("h264", {"crf": 0}), ("vp8", {"q": 10})):
        decoded = round_trip([image, image], codec, **rate)[-1]
        assert abs(normalized_luma(decoded).mean() * 255 - truth) < 0.1, codec
    jpeg = d.jpeg(image, np.random.default_rng(0), (95, 95))
    assert abs(luma(jpeg).mean() * 255 - truth) < 0.1


def test_sensor_noise_sigma_stays_in_its_range():
    grey = np.full((128, 128, 3), 128, np.uint8)
    sigmas = [np.std(d.sensor_noise(grey, np.random.default_rng(s)).astype(float) - 128)
              for s in range(40)]
    lo, hi = d.NOISE_SIGMA
    assert lo * 0.9 < min(sigmas) and max(sigmas) < hi * 1.1
    assert min(sigmas) < lo + 2 and max(sigmas) > hi - 2  # the draws span the range


def test_blur_lies_between_its_weakest_and_strongest(image):
    lo, hi = (cv2.GaussianBlur(image, (0, 0), sigmaX=s) for s in d.BLUR_SIGMA)
    sharpness = lambda im: np.abs(cv2.Laplacian(im.astype(np.float32), cv2.CV_32F)).mean()  # noqa: E731
    for seed in range(10):
        out = d.blur(image, np.random.default_rng(seed))
        assert sharpness(hi) - 1e-3 <= sharpness(out) <= sharpness(lo) + 1e-3


@pytest.mark.parametrize("step, strong, weak", [
    (lambda im, rng: d.jpeg(im, rng, d.WEBCAM_JPEG_Q), d.WEBCAM_JPEG_Q[0], d.WEBCAM_JPEG_Q[1]),
    (lambda im, rng: d.jpeg(im, rng, d.CALL_JPEG_Q), d.CALL_JPEG_Q[0], d.CALL_JPEG_Q[1]),
])
def test_jpeg_quality_stays_in_its_range(image, step, strong, weak):
    def at(q):
        ok, buf = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, q])
        return psnr(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1], image)

    for seed in range(10):
        assert at(strong) - 1e-6 <= psnr(step(image, np.random.default_rng(seed)), image) <= at(weak) + 1e-6


class Fixed:
    """An rng whose draws pick the first codec and return one strength."""

    def __init__(self, value):
        self.value = value

    def integers(self, lo, hi):
        return self.value

    def random(self):
        return 0.0


def test_codec_strength_stays_in_its_range(image):
    truth = luma(image)
    y_psnr = lambda y: float(10 * np.log10(1 / np.mean((y - truth) ** 2)))  # noqa: E731
    worst, best = (y_psnr(d.codec(image, Fixed(c))) for c in (d.CALL_CRF[1], d.CALL_CRF[0]))
    assert best > worst + 3
    for seed in range(6):
        rng = np.random.default_rng(seed)
        if rng.random() < 0.5:  # the draws codec() will make: h264 this time
            assert worst - 0.5 <= y_psnr(d.codec(image, np.random.default_rng(seed))) <= best + 0.5


def test_profiles_and_mix_errors(image):
    assert np.array_equal(d.degrade(image, "clean", np.random.default_rng(0)), luma(image))
    with pytest.raises(ValueError, match="unknown degradation profile"):
        d.degrade(image, "fog", np.random.default_rng(0))
    names, probs = d.parse_mix({"clean": 1, "call": 3})
    assert names == ["clean", "call"] and np.allclose(probs, [0.25, 0.75])
    for bad in ({"fog": 1}, {"clean": -1}, {"clean": 0}, "call", {}, {"clean": True}):
        with pytest.raises(ValueError, match="data.degradation"):
            d.parse_mix(bad)


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clips")
    write_video(folder / "pan.mp4", real_frames(8, 96, 64))
    return folder


def test_clip_scoring_is_repeatable_and_ranks_a_blurrier_method_lower(clip_folder):
    clips = ClipSet(clip_folder, max_frames=8)
    first, again = clips.score(pil_bicubic), ClipSet(clip_folder, max_frames=8).score(pil_bicubic)
    assert first == again  # fixed seeds: the same degraded frames, the same figures
    blurrier = clips.score(lambda lr: cv2.GaussianBlur(pil_bicubic(lr), (0, 0), 1.5))
    for c in ("clean", "webcam", "call"):
        assert blurrier[c]["psnr"] < first[c]["psnr"] - 0.5, c
    assert first["clean"]["psnr"] > first["webcam"]["psnr"] and first["clean"]["psnr"] > first["call"]["psnr"]


def test_flicker_is_higher_for_a_method_that_changes_every_frame(clip_folder):
    clips = ClipSet(clip_folder, conditions=["clean"], max_frames=8)
    rng = np.random.default_rng(0)
    jittery = lambda lr: np.clip(pil_bicubic(lr) + rng.normal(0, 6, (lr.shape[0] * 2, lr.shape[1] * 2, 3)),  # noqa: E731
                                 0, 255).astype(np.uint8)
    assert clips.score(jittery)["clean"]["tof"] > 2 * clips.score(pil_bicubic)["clean"]["tof"]
    flows = [np.ones((4, 4, 2), np.float32)] * 3
    assert tof(flows, flows) == 0.0


def test_h264_round_trip_keeps_every_frame(clip_folder):
    frames = real_frames(5, 33, 21)  # odd sizes are padded for yuv420p, then cropped back
    out = h264_round_trip(frames, 25)
    assert len(out) == 5 and out[0].shape == frames[0].shape
    assert 20 < psnr(out[2], frames[2]) < 60


def test_the_clip_table_shows_the_worst_clip_and_a_brightness_bias(clip_folder):
    from training.clips import clip_markdown

    clips = ClipSet(clip_folder, conditions=["clean"], max_frames=4, with_flicker=False)
    brighter = lambda lr: np.clip(pil_bicubic(lr).astype(int) + 2, 0, 255).astype(np.uint8)  # noqa: E731
    results = {"bicubic": clips.score(pil_bicubic), "brighter": clips.score(brighter)}
    row = clip_markdown(results, ["clean"], "bicubic").splitlines()[-1]
    y, cb, cr = (float(v) for v in row.rsplit("|", 2)[1].split("/"))
    assert 1.8 < y < 2.1 and abs(cb) < 0.05 and abs(cr) < 0.05
    assert "; -" in row  # the worst clip lost PSNR too
