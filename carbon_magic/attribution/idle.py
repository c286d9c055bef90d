"""A device's idle power, learnt from what it drew while the session ran.

Two estimates, the lower bound winning:
- the minimum power seen over any interval of at least MIN_WINDOW_S (Kepler ≥ 0.10 does this;
  too high when the device was never idle since the session started);
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
MIN_POINTS = 8


class IdleEstimate:
    def __init__(self, known_w: float | None = None):
        self.known_w = known_w
        self.min_w: float | None = None
        self._n = 0
        self._su = self._sp = self._suu = self._sup = 0.0

    def add(self, power_w: float, dt_s: float, utilisation: float | None = None) -> None:
        if dt_s < MIN_WINDOW_S or not math.isfinite(power_w) or power_w < 0:
            return
        self.min_w = power_w if self.min_w is None else min(self.min_w, power_w)
        if utilisation is not None and math.isfinite(utilisation):
            u = min(1.0, max(0.0, utilisation))
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
