"""`--model auto` (the default): choose among the shipped models per source and per machine.

Not a backend: it holds one backend per model it has tried and decides which one runs.
Two decisions, each logged with its reason:
- variant: clean frames go to a clean-input model, noisy or compressed ones to a robust model
  (vcam_sr/upscalers/condition.py; the first frame decides, every frame is estimated until a window is
  full, then one every few seconds, and the variant switches only when the window clearly
  points the other way, so it does not flip back and forth);
- rung: of that variant's models, the deepest one whose time on the live frame size fits the
  frame budget with headroom. When a model's time stays over the budget for a few seconds (the
  host slowed down), step down a rung; a model stepped down from is not tried again in this
  run, so two models never alternate.
"""
from __future__ import annotations

import logging
import time
from collections import deque
from typing import Callable

import numpy as np

from vcam_sr.upscalers import condition
from vcam_sr.models import ModelInfo
from vcam_sr.upscalers.base import Upscaler, time_luma
from vcam_sr.upscalers.temporal import TemporalDenoiser

log = logging.getLogger("vcam_sr.auto")
NOISY_STREAM = "noisy from frame to frame"
# Frame-to-frame noise (the averaging's level, grey levels) from which the robust model wins even
# after the averaging: plain sensor noise sigma 2 reads 1.4 and fast-clean is 0.3 dB better;
# sigma 4 reads 2.8 and fast is 1 dB better (val/clips, 30 frames).
ROBUST_NOISE = 2.0 / 255


def flickers(denoiser: TemporalDenoiser | None) -> bool:
    """Whether a stream's noise, read from frame to frame, calls for the robust model: the
    gate reads one frame, and reads plain sensor noise (no JPEG) as clean."""
    return denoiser is not None and denoiser.noisy and denoiser.noise >= ROBUST_NOISE


class AutoUpscaler(Upscaler):
    name = "auto"
    HEADROOM = 0.75     # a model is picked if it takes at most this share of the frame interval
    SLOW_FOR = 3.0      # seconds of model time mostly over the budget before stepping down
    CHECK_EVERY = 2.0   # seconds between condition estimates
    WINDOW = 6          # estimates behind a variant switch
    MARGIN = 1.0        # how clearly (log-odds) the window must disagree to switch

    def __init__(self, models: list[ModelInfo], build: Callable[[ModelInfo], Upscaler], fps: float,
                 clock: Callable[[], float] = time.monotonic):
        if not models:
            raise ValueError("auto needs at least one model")
        self.ladders = {v: sorted((m for m in models if m.variant == v), key=lambda m: m.rung)
                        for v in {m.variant for m in models}}
        self.build, self.budget_ms, self.clock = build, 1000.0 / fps, clock
        self.loaded: dict[str, Upscaler] = {}
        self.timings: dict[tuple[str, tuple], float] = {}
        self.too_slow: set[str] = set()  # stepped down from: never picked again in this run
        self.current: ModelInfo | None = None
        self.variant: str | None = None
        self.scores: deque[float] = deque(maxlen=self.WINDOW)
        self.recent: deque[tuple[float, float]] = deque()  # (time, model ms) of the current model
        self.next_check, self.shape = 0.0, None
        self.decided = False  # a whole file's model, chosen once from a sample (plan())
        self.compressed = ""  # see new_stream

    # -- the Upscaler interface -------------------------------------------------------------
    def new_stream(self, compressed: str = "") -> None:
        """Another source, clip or image: its condition is judged afresh (the window, the
        variant and a file's plan belong to the previous one). A stream known to be hard
        compressed always gets the robust model: a call's real-time VP8 or H.264 smooths a
        noisy camera's frames until they read clean, and on those, as on any video coded at an
        H.264 quantizer from 22 up, the clean model fell behind the robust one, often under
        bicubic (training/configs/MODELS.md)."""
        super().new_stream(compressed)
        self.scores.clear()
        self.variant, self.decided, self.next_check = None, False, 0.0
        self.compressed = compressed

    def plan(self, sample: list[np.ndarray]) -> None:
        """A whole file: its condition from the sample's mean measurements and the model for
        it, decided now and kept to the end (a file does not change model part-way)."""
        estimate, probe = condition.estimate(sample), TemporalDenoiser()
        for y in sample:  # a video's first frames, in order: is there noise from frame to frame?
            probe(y)
        noisy = flickers(probe)
        self.variant = "robust" if estimate.degraded or noisy or self.compressed else "clean"
        if self.variant not in self.ladders:
            self.variant = next(iter(self.ladders))
        sampled = f"{len(sample)} frame{'s' if len(sample) > 1 else ''} sampled"
        self._choose_rung(sample[0], f"{sampled}, {self._kind(noisy, estimate)}",
                          f"measured {estimate.measured}", offline=True)
        self.decided = True

    @property
    def conditioned(self) -> bool:
        """Whether the current model takes the condition: the stream's tracked one is then
        passed (measured every few frames, smoothed), not measured again on every frame."""
        return self.current is not None and self.loaded[self.current.name].conditioned

    def upscale_luma(self, y: np.ndarray) -> np.ndarray:
        """Judges the frame as it came, before the stream's averaging over frames (a noisy
        camera, averaged, can read clean), once per frame (not per tile); then as every
        upscaler."""
        now = self.clock()
        if self.decided:
            pass
        elif now >= self.next_check or len(self.scores) < self.WINDOW:  # every frame at first
            self._check_condition(y, now)
        elif y.shape != self.shape:
            self._choose_rung(y, f"input size now {y.shape[1]}x{y.shape[0]}")
        return super().upscale_luma(y)

    def upscale_y(self, y: np.ndarray, condition: np.ndarray | None = None) -> np.ndarray:
        if self.current is None:  # called on a plane directly, not through upscale_luma
            self._check_condition(y, self.clock())
        t0 = self.clock()
        out = self.loaded[self.current.name].upscale_y(y, condition)
        if not self.decided:
            self._watch_speed(1000 * (self.clock() - t0), t0)
        return out

    def describe(self) -> str:
        if self.current is None:
            names = ", ".join(m.name for ladder in self.ladders.values() for m in ladder)
            return f"auto (picks per source and machine from {names}; budget {self.budget_ms:.0f} ms)"
        return f"auto: {self.current.name} on {self.loaded[self.current.name].describe()}"

    def close(self) -> None:
        for upscaler in self.loaded.values():
            upscaler.close()
        self.loaded.clear()

    # -- decisions ----------------------------------------------------------------------------
    def _check_condition(self, y: np.ndarray, now: float) -> None:
        self.next_check = now + self.CHECK_EVERY
        estimate = condition.estimate(y)
        denoiser = getattr(self, "_denoiser", None)
        if denoiser is not None:
            denoiser.judge(estimate)  # the averaging takes this frame's measurement
        noisy = flickers(denoiser)
        score = 4.0 if noisy or self.compressed else estimate.score
        self.scores.append(float(np.clip(score, -4, 4)))  # one odd frame weighs little
        mean = float(np.mean(self.scores))
        if self.variant is None:
            wanted = "robust" if mean > 0 else "clean"
        elif self.variant == "clean" and mean > self.MARGIN and len(self.scores) == self.WINDOW:
            wanted = "robust"
        elif self.variant == "robust" and mean < -self.MARGIN and len(self.scores) == self.WINDOW:
            wanted = "clean"
        else:
            wanted = self.variant
        if wanted not in self.ladders:  # only one variant shipped
            wanted = next(iter(self.ladders))
        if wanted != self.variant or y.shape != self.shape:
            self.variant = wanted
            self._choose_rung(y, f"input {self._kind(noisy, estimate)}", f"measured {estimate.measured}")

    def _kind(self, noisy: bool, estimate: condition.Condition) -> str:
        """What decided the variant, for the log line."""
        return self.compressed or (NOISY_STREAM if noisy else estimate.kind)

    def pick(self, y: np.ndarray, variant: str) -> tuple[ModelInfo, dict[str, float]]:
        """The deepest model of `variant` whose time on this frame size fits the budget with
        headroom, else the cheapest; and the ms of each model timed on the way."""
        ladder = [m for m in self.ladders[variant] if m.name not in self.too_slow]
        ladder = ladder or self.ladders[variant][:1]
        times = {}
        for model in reversed(ladder):
            times[model.name] = self._time(model, y)
            if times[model.name] <= self.HEADROOM * self.budget_ms:
                return model, times
        return ladder[0], times

    def _choose_rung(self, y: np.ndarray, why: str, detail: str = "", offline: bool = False) -> None:
        """The rung for this size, logged with its time: against the frame budget live, per
        frame for a whole file (which has no real-time budget to keep)."""
        self.shape = y.shape
        chosen, times = self.pick(y, self.variant)
        others = ", ".join(f"{n} {ms:.0f} ms" for n, ms in times.items() if n != chosen.name)
        took = f"{times[chosen.name]:.0f} ms " + ("per frame" if offline else f"of a {self.budget_ms:.0f} ms budget")
        self._switch(chosen, f"{took} at {y.shape[1]}x{y.shape[0]}" + (f" ({others})" if others else "")
                             + f"; {why}", detail)

    def _watch_speed(self, ms: float, now: float) -> None:
        """Step down when 80% of the model's calls in the last SLOW_FOR seconds were over budget
        (a few quick frames do not hide a slow host; a few slow ones do not trigger it)."""
        self.recent.append((now, ms))
        if now - self.recent[0][0] < self.SLOW_FOR:
            return
        typical = float(np.percentile([m for _, m in self.recent], 20))
        while now - self.recent[0][0] > self.SLOW_FOR:
            self.recent.popleft()
        if typical <= self.budget_ms:
            return
        ladder = self.ladders[self.variant]
        cheaper = [m for m in ladder if m.rung < self.current.rung and m.name not in self.too_slow]
        if not cheaper:
            if self.current.name not in self.too_slow:
                log.warning("model %s takes %.0f ms of a %.0f ms budget and no cheaper model is "
                            "shipped; frames will be dropped", self.current.name, typical, self.budget_ms)
            self.too_slow.add(self.current.name)
            self.recent.clear()
            return
        self.too_slow.add(self.current.name)
        self._switch(cheaper[-1], f"stepped down: {self.current.name} took {typical:.0f} ms of a "
                                  f"{self.budget_ms:.0f} ms budget for {self.SLOW_FOR:g} s")

    def _switch(self, model: ModelInfo, why: str, detail: str = "") -> None:
        """One short line at info; what was measured and the backend's details at debug."""
        self._load(model)
        if self.current is None or model.name != self.current.name:
            log.info("model %s (%s): %s", model.name, model.variant, why)
            log.debug("model %s: %s%s", model.name, f"{detail}; " if detail else "",
                      self.loaded[model.name].describe())
        self.current = model
        self.recent.clear()

    def _time(self, model: ModelInfo, y: np.ndarray, calls: int = 3) -> float:
        """Median ms of `calls` runs on this y size (after one warm-up), measured once."""
        key = (model.name, y.shape)
        if key not in self.timings:
            self.timings[key] = time_luma(self._load(model).upscale_y, y, calls, self.clock)
        return self.timings[key]

    def _load(self, model: ModelInfo) -> Upscaler:
        if model.name not in self.loaded:
            self.loaded[model.name] = self.build(model)
        return self.loaded[model.name]


class FastestBackend(Upscaler):
    """One model on several backends (ONNX Runtime and OpenVINO on the CPU): the first plane
    times every backend (on a crop of at most 1024x1024) and the fastest runs from then on; the
    choice is logged. One choice for every size: a photo's tiles differ by a few pixels, and
    re-timing for each took seconds and gigabytes per photo, and the backends' order hardly
    depends on the size."""

    name = "fastest"

    def __init__(self, candidates: list[Upscaler], clock: Callable[[], float] = time.perf_counter):
        self.candidates, self.clock = candidates, clock
        self.conditioned = any(c.conditioned for c in candidates)
        self.chosen: Upscaler | None = None

    def upscale_y(self, y: np.ndarray, condition: np.ndarray | None = None) -> np.ndarray:
        if self.chosen is None:
            self.chosen = self.pick(y)
        return self.chosen.upscale_y(y, condition)

    def pick(self, y: np.ndarray) -> Upscaler:
        times = {c: time_luma(c.upscale_y, y, 3, self.clock) for c in self.candidates}
        best = min(times, key=times.get)
        others = ", ".join(f"{c.describe()} {ms:.1f} ms" for c, ms in times.items() if c is not best)
        log.info("backend for %dx%d: %s, %.1f ms%s", y.shape[1], y.shape[0], best.describe(), times[best],
                 f" (also timed: {others})" if others else "")
        return best

    def describe(self) -> str:
        if self.chosen is None:
            return "fastest of " + ", ".join(c.name for c in self.candidates)
        return self.chosen.describe()

    def close(self) -> None:
        for c in self.candidates:
            c.close()
