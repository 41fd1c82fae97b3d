"""The Sink interface: where upscaled frames go."""
from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from vcam_sr.media.colour import ColourSpace


class Sink(ABC):
    """`open` is called once with the output size before the first `write`; `write` gets the
    upscaled frame (uint8 RGB, or YUV planes) and the source frame it came from (for
    before/after views)."""

    name = "?"
    takes_any_frame = False  # it keeps frames and converts only those looked at (previews)

    @abstractmethod
    def open(self, width: int, height: int, fps: float) -> None: ...

    @abstractmethod
    def write(self, frame: np.ndarray, source_frame: np.ndarray) -> None: ...

    @property
    def yuv_space(self) -> ColourSpace | None:
        """The 8-bit 4:2:0 colour space this sink turns RGB frames into (known once open), so
        that the pipeline can upscale RGB sources straight into it; None for a sink that shows
        RGB. A sink that `takes_any_frame` leaves the choice to the others."""
        return None

    def close(self, complete: bool = True) -> None:
        """Release the sink. `complete` is False when the run did not finish (an interrupted or
        failed conversion): a file sink then leaves no file under its final name."""

    @property
    def watched(self) -> bool:
        """False while nobody can be looking at this sink's output (the pipeline then rests)."""
        return True

    @property
    def wants_stop(self) -> bool:
        """True when the user closed the sink (e.g. the preview window)."""
        return False

    def describe(self) -> str:
        return self.name
