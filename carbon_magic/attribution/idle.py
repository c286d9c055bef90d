"""A device's idle power, learnt from what it drew while the session ran.

Two estimates, the lower bound winning:
- the minimum power seen over any window of at least MIN_WINDOW_S (Kepler ≥ 0.10 does this;
  too high when the device was never idle since the session started). Shorter sampler intervals
  are pooled into windows of that length: a counter read a few ms apart says little about power;
- where a utilisation goes with each interval (CPU: the machine's busy fraction), the intercept of
  the least-squares line power = idle + slope × utilisation, used once utilisation has varied
  enough for the line to mean something (its standard deviation at least MIN_SPREAD), clamped to
  [0, minimum seen]. On a CPU, power grows about linearly with load, so the intercept is the idle
  power even when the machine was never idle.
Sources that know their idle power (the estimators' models) say so with an `idle_w` attribute.
Memory is a handful of running sums, whatever the session's length.
"""
from __future__ import annotations

import math

MIN_WINDOW_S = 0.2
MIN_SPREAD = 0.05
MIN_POINTS = 10


class IdleEstimate:
    def __init__(self, known_w: float | None = None):
        self.known_w = known_w
        self.min_w: float | None = None
        self._n = 0
        self._su = self._sp = self._suu = self._sup = 0.0
        self._pool = [0.0, 0.0, 0.0, True]  # joules, seconds, utilisation × seconds, utilisation known

    def add(self, energy_j: float, dt_s: float, utilisation: float | None = None) -> None:
        """One sampler interval: its energy, length and (where known) mean utilisation in [0, 1]."""
        if dt_s <= 0 or not math.isfinite(energy_j) or energy_j < 0:
            return
        pool = self._pool
        pool[0] += energy_j
        pool[1] += dt_s
        u = utilisation if utilisation is not None and math.isfinite(utilisation) else None
        known = u is not None
        pool[2] += (u if u is not None else 0.0) * dt_s
        pool[3] = pool[3] and known
        if pool[1] < MIN_WINDOW_S:
            return
        self._pool = [0.0, 0.0, 0.0, True]
        power_w, dt_s = pool[0] / pool[1], pool[1]
        self.min_w = power_w if self.min_w is None else min(self.min_w, power_w)
        if pool[3]:
            u = min(1.0, max(0.0, pool[2] / dt_s))
            self._n += 1
            self._su += u
            self._sp += power_w
            self._suu += u * u
            self._sup += u * power_w

    def intercept_w(self) -> float | None:
        if self._n < MIN_POINTS:
            return None
        n = self._n
        var = self._suu / n - (self._su / n) ** 2
        if var < MIN_SPREAD ** 2:
            return None
        slope = (self._sup / n - self._su / n * self._sp / n) / var
        return self._sp / n - slope * self._su / n

    def value_w(self, fallback_w: float) -> float:
        """The idle power; `fallback_w` (this interval's power) until anything was learnt."""
        if self.known_w is not None:
            return self.known_w
        floor = self.min_w if self.min_w is not None else fallback_w
        line = self.intercept_w()
        return floor if line is None else min(floor, max(0.0, line))

    def how(self) -> str:
        if self.known_w is not None:
            return "model"
        return "regression" if self.intercept_w() is not None else "minimum seen"
