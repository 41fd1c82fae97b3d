"""Per-stage timings, drops and latency: a line per interval and a summary at the end.

Memory stays bounded however long the process runs: means are running sums, and percentiles
come from a window of the most recent frames. The pipeline's threads record and the tray and
the web page read at the same time, so every access holds one lock."""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

WINDOW = 3000  # frames kept for percentiles: 100 s at 30 fps


@dataclass
class Stats:
    frames: int = 0
    dropped: int = 0
    started: float = field(default_factory=time.monotonic)
    model_ms: deque = field(default_factory=lambda: deque(maxlen=WINDOW))
    sink_ms: deque = field(default_factory=lambda: deque(maxlen=WINDOW))
    latency_ms: deque = field(default_factory=lambda: deque(maxlen=WINDOW))
    output_times: deque = field(default_factory=lambda: deque(maxlen=WINDOW))
    _sums: np.ndarray = field(default_factory=lambda: np.zeros(3))       # model, sink, latency
    _interval: np.ndarray = field(default_factory=lambda: np.zeros(3))   # frames, model, latency
    _mark_time: float = 0.0
    _mark_dropped: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def record(self, model_s: float, sink_s: float, latency_s: float) -> None:
        values = np.array([model_s, sink_s, latency_s]) * 1000
        with self._lock:
            self.frames += 1
            self.output_times.append(time.monotonic())
            for window, v in zip((self.model_ms, self.sink_ms, self.latency_ms), values):
                window.append(float(v))
            self._sums += values
            self._interval += (1, values[0], values[2])

    def drop(self) -> None:
        """One frame dropped (by the capture thread or the inference loop)."""
        with self._lock:
            self.dropped += 1

    def recent_fps(self, seconds: float = 2.0) -> float:
        """Output frames per second over the last `seconds` (for a tooltip or a status call)."""
        now = time.monotonic()
        with self._lock:
            times = list(self.output_times)
        return sum(1 for t in times if now - t <= seconds) / seconds

    def interval_line(self) -> str:
        """Figures since the previous call, then start a new interval."""
        with self._lock:
            return self._interval_line()

    def _interval_line(self) -> str:
        now = time.monotonic()
        start = self._mark_time or self.started
        n, model, latency = self._interval
        line = (f"fps {n / max(now - start, 1e-9):5.1f} | model {model / max(n, 1):6.1f} ms"
                f" | latency {latency / max(n, 1):6.1f} ms"
                f" | dropped {self.dropped - self._mark_dropped}")
        self._interval[:] = 0
        self._mark_time, self._mark_dropped = now, self.dropped
        return line

    def summary(self) -> dict:
        with self._lock:
            return self._summary()

    def _summary(self) -> dict:
        elapsed = time.monotonic() - self.started
        model, sink, latency = self._sums / max(self.frames, 1)
        return {
            "frames": self.frames, "dropped": self.dropped, "seconds": round(elapsed, 2),
            "fps": round(self.frames / max(elapsed, 1e-9), 2),
            "model_ms_mean": round(model, 2), "model_ms_median": round(_pct(self.model_ms, 50), 2),
            "model_ms_p95": round(_pct(self.model_ms, 95), 2),
            "sink_ms_mean": round(sink, 2), "latency_ms_mean": round(latency, 2),
            "latency_ms_median": round(_pct(self.latency_ms, 50), 2),
            "latency_ms_p95": round(_pct(self.latency_ms, 95), 2),
        }

    def summary_line(self) -> str:
        """Median and 95th percentile of the recent window (a mean over the whole run is pulled
        up by the slow first frames, and read above its own p95)."""
        s = self.summary()
        frames = f"{s['frames']} frame{'' if s['frames'] == 1 else 's'}"
        return (f"{frames} in {s['seconds']} s ({s['fps']} fps), model {s['model_ms_median']} ms median "
                f"(p95 {s['model_ms_p95']}), latency {s['latency_ms_median']} ms median (p95 "
                f"{s['latency_ms_p95']}), {s['dropped']} source frames dropped")


def _pct(values, q) -> float:
    return float(np.percentile(values, q)) if len(values) else 0.0
