"""Per-stage timings, drops and latency: a line per interval and a summary at the end."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Stats:
    frames: int = 0
    dropped: int = 0
    started: float = field(default_factory=time.monotonic)
    model_ms: list = field(default_factory=list)
    sink_ms: list = field(default_factory=list)
    latency_ms: list = field(default_factory=list)
    _mark: int = 0           # index into the lists where the current interval starts
    _mark_time: float = 0.0
    _mark_dropped: int = 0

    def record(self, model_s: float, sink_s: float, latency_s: float) -> None:
        self.frames += 1
        self.model_ms.append(model_s * 1000)
        self.sink_ms.append(sink_s * 1000)
        self.latency_ms.append(latency_s * 1000)

    def interval_line(self) -> str:
        """Figures since the previous call, then start a new interval."""
        now = time.monotonic()
        start = self._mark_time or self.started
        n = self.frames - self._mark
        line = (f"fps {n / max(now - start, 1e-9):5.1f} | model {_mean(self.model_ms[self._mark:]):6.1f} ms"
                f" | latency {_mean(self.latency_ms[self._mark:]):6.1f} ms"
                f" | dropped {self.dropped - self._mark_dropped}")
        self._mark, self._mark_time, self._mark_dropped = self.frames, now, self.dropped
        return line

    def summary(self) -> dict:
        elapsed = time.monotonic() - self.started
        return {
            "frames": self.frames, "dropped": self.dropped, "seconds": round(elapsed, 2),
            "fps": round(self.frames / max(elapsed, 1e-9), 2),
            "model_ms_mean": round(_mean(self.model_ms), 2),
            "model_ms_p95": round(_pct(self.model_ms, 95), 2),
            "sink_ms_mean": round(_mean(self.sink_ms), 2),
            "latency_ms_mean": round(_mean(self.latency_ms), 2),
            "latency_ms_p95": round(_pct(self.latency_ms, 95), 2),
        }

    def summary_line(self) -> str:
        s = self.summary()
        return (f"{s['frames']} frames in {s['seconds']} s ({s['fps']} fps), model {s['model_ms_mean']} ms "
                f"(p95 {s['model_ms_p95']}), latency {s['latency_ms_mean']} ms (p95 {s['latency_ms_p95']}), "
                f"{s['dropped']} source frames dropped")


def _mean(values) -> float:
    return float(np.mean(values)) if len(values) else 0.0


def _pct(values, q) -> float:
    return float(np.percentile(values, q)) if len(values) else 0.0
