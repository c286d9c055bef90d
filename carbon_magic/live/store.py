"""The chart's own copy of the samples: numpy columns, appended to, compacted when full.

The sampler keeps the measurement data (bounded deques of Snapshots); turning thousands of
Snapshots into arrays on every update would cost tens of milliseconds, so the live view keeps
what it has already converted here and only converts new samples. When the store reaches
`cap` rows, everything older than `recent_s` is reduced to min/max per time bucket
(`decimate_indices`), so memory stays bounded and no spike is lost however long the kernel runs.
"""
from __future__ import annotations

import numpy as np

from .decimate import DEFAULT_RECENT_S, decimate_indices

DEFAULT_CAP = 8_000
DEFAULT_COMPACT_TO = 4_000


class PlotStore:
    """Rows of (wall time s, power W per component, intensity g/kWh, cumulative g CO₂e)."""

    def __init__(self, n_components: int, cap: int = DEFAULT_CAP, compact_to: int = DEFAULT_COMPACT_TO,
                 recent_s: float = DEFAULT_RECENT_S):
        if not 0 < compact_to < cap:
            raise ValueError("need 0 < compact_to < cap")
        self.k = n_components
        self.cap = cap
        self.compact_to = compact_to
        self.recent_s = recent_s
        self.n = 0
        self.compactions = 0
        self._t = np.empty(cap)
        self._p = np.empty((n_components, cap))
        self._i = np.empty(cap)
        self._g = np.empty(cap)

    @property
    def t(self) -> np.ndarray:
        return self._t[: self.n]

    @property
    def power(self) -> np.ndarray:
        return self._p[:, : self.n]

    @property
    def intensity(self) -> np.ndarray:
        return self._i[: self.n]

    @property
    def co2(self) -> np.ndarray:
        return self._g[: self.n]

    def extend(self, t, power, intensity, co2=None) -> None:
        """Append rows: t (m,), power (k, m) with NaN for no reading, intensity (m,), cumulative
        grams CO₂e (m,) (None: unknown, NaN)."""
        t = np.asarray(t, dtype=float)
        power = np.asarray(power, dtype=float).reshape(self.k, -1)
        intensity = np.asarray(intensity, dtype=float)
        co2 = np.full(t.shape[0], np.nan) if co2 is None else np.asarray(co2, dtype=float)
        m = t.shape[0]
        start = 0
        while start < m:
            if self.n == self.cap:
                self.compact()
            take = min(m - start, self.cap - self.n)
            end = start + take
            self._t[self.n: self.n + take] = t[start:end]
            self._p[:, self.n: self.n + take] = power[:, start:end]
            self._i[self.n: self.n + take] = intensity[start:end]
            self._g[self.n: self.n + take] = co2[start:end]
            self.n += take
            start = end

    def compact(self) -> None:
        """Reduce the older rows to min/max per bucket (intensity counts as one more series; the
        cumulative CO₂e only grows, so any kept row of it lies on its line)."""
        both = np.vstack([self.power, self.intensity[None, :]])
        idx = decimate_indices(self.t, both, max_points=self.compact_to, recent_s=self.recent_s)
        m = idx.shape[0]
        self._t[:m] = self._t[idx]
        self._p[:, :m] = self._p[:, idx]
        self._i[:m] = self._i[idx]
        self._g[:m] = self._g[idx]
        self.n = m
        self.compactions += 1
