"""PSNR / SSIM with the SR literature's convention (../shared/data/README.md): Y of YCbCr
(ITU-R BT.601, 16-235), `scale` pixels cropped from each border, HR cropped to a multiple of
the scale. SSIM is scikit-image's, configured as the reference MATLAB implementation."""
from __future__ import annotations

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from vcam_sr.contract import SCALE


def luma(rgb_u8: np.ndarray) -> np.ndarray:
    """BT.601 studio-swing Y (16-235) as float64, from uint8 RGB."""
    rgb = rgb_u8.astype(np.float64) / 255.0
    return 16.0 + 65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]


def crop_hr(hr: np.ndarray, scale: int = SCALE) -> np.ndarray:
    h, w = hr.shape[:2]
    return hr[: h - h % scale, : w - w % scale]


def psnr_ssim(sr_u8: np.ndarray, hr_u8: np.ndarray, scale: int = SCALE) -> tuple[float, float]:
    """(PSNR dB, SSIM) of an uint8 RGB result against its uint8 RGB ground truth."""
    hr = crop_hr(hr_u8, scale)
    if sr_u8.shape != hr.shape:
        raise ValueError(f"result is {sr_u8.shape}, ground truth {hr.shape}")
    y_sr = luma(sr_u8)[scale:-scale, scale:-scale]
    y_hr = luma(hr)[scale:-scale, scale:-scale]
    psnr = peak_signal_noise_ratio(y_hr, y_sr, data_range=255)
    ssim = structural_similarity(y_hr, y_sr, data_range=255, gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False)
    return float(psnr), float(ssim)
