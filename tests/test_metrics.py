"""The metric itself: bicubic from the MATLAB-made LR_x2 matches the published figures."""
import numpy as np
import pytest

from conftest import VAL, needs_shared
from training.data import load_val_set
from training.evaluate import pil_bicubic, score_sets
from training.metrics import psnr_ssim

PUBLISHED_BICUBIC = {"Set5": 33.66, "Set14": 30.24, "B100": 29.56}


@needs_shared()
@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(PUBLISHED_BICUBIC))
def test_bicubic_matches_published_psnr(name):
    result = score_sets(pil_bicubic, {name: load_val_set(VAL, name)})[name]
    assert abs(result["psnr"] - PUBLISHED_BICUBIC[name]) < 0.1
    assert 0.8 < result["ssim"] < 0.95


def test_identical_images_score_infinite_psnr_and_unit_ssim():
    img = (np.random.default_rng(0).random((20, 24, 3)) * 255).astype(np.uint8)
    psnr, ssim = psnr_ssim(img, img)
    assert psnr == float("inf") and ssim == pytest.approx(1.0)
    noisy = np.clip(img.astype(int) + 10, 0, 255).astype(np.uint8)
    assert psnr_ssim(noisy, img)[0] < 40
