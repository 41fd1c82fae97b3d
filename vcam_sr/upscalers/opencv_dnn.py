"""OpenCV dnn_superres models (ESPCN, FSRCNN, LapSRN .pb): the ready-made peers we compare with.

They need opencv-contrib 4.x: contrib's dnn_superres registers the DepthToSpace layer the .pb
files use, and OpenCV 5 cannot load them."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from vcam_sr.errors import VcamError
from vcam_sr.media.colour import luma
from vcam_sr.upscalers.base import SCALE, Upscaler

ALGORITHMS = {"ESPCN": "espcn", "FSRCNN": "fsrcnn", "FSRCNN-small": "fsrcnn", "LapSRN": "lapsrn"}


def find_peer_models(folder: str | Path) -> list[Path]:
    """The x2 .pb files in `folder` whose names say which algorithm they are."""
    found = sorted(p for p in Path(folder).glob(f"*_x{SCALE}.pb") if p.stem.rsplit("_", 1)[0] in ALGORITHMS)
    if not found:
        raise VcamError(f"no OpenCV dnn_superres x{SCALE} models (ESPCN_x2.pb, FSRCNN_x2.pb, ...) "
                        f"in {folder}; pass the folder that holds them")
    return found


class OpenCVDnnUpscaler(Upscaler):
    name = "opencv-dnn"

    def __init__(self, pb_path: str | Path, threads: int = 0):
        if not hasattr(cv2, "dnn_superres"):
            raise VcamError("the OpenCV peers need opencv-contrib-python 4.x (cv2.dnn_superres); "
                            "run pip install 'opencv-contrib-python<5'")
        self.path = Path(pb_path)
        algorithm = ALGORITHMS[self.path.stem.rsplit("_", 1)[0]]
        self.sr = cv2.dnn_superres.DnnSuperResImpl_create()
        self.sr.readModel(str(self.path))
        self.sr.setModel(algorithm, SCALE)
        if threads:
            cv2.setNumThreads(threads)

    def upscale_y(self, y: np.ndarray, condition: np.ndarray | None = None) -> np.ndarray:
        """These nets work on luma too (OpenCV feeds them Y and scales CbCr bicubically), so a
        grey frame in gives their Y out; its 8-bit quantization is theirs."""
        grey = np.rint(np.clip(y, 0, 1) * 255).astype(np.uint8)
        out = self.sr.upsample(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR))
        return luma(out[..., ::-1])

    def describe(self) -> str:
        return f"opencv {self.path.stem}"
