"""Which samples to plot: recent ones at full resolution, older ones as min/max per time bucket.

Pure numpy, no widgets. The chart sends whole arrays on every update (bqplot has no append), so
the plotted window must stay a few thousand points however long the kernel lives. Older data is
cut into equal-width time buckets and, for every component, the sample holding the bucket's
minimum and the one holding its maximum are kept: a spike or a dip never disappears from the
chart, it only gets narrower. All components share one x array, so the kept indices are the
union over components, and the budget is split so that the union still fits.
"""
from __future__ import annotations

import numpy as np

DEFAULT_MAX_POINTS = 2000
DEFAULT_RECENT_S = 600.0


def decimate_indices(t, y, max_points: int = DEFAULT_MAX_POINTS, recent_s: float = DEFAULT_RECENT_S):
    """Sorted indices of the samples to plot.

    t: (n,) increasing times in seconds. y: (k, n) values (NaN = no reading), k ≥ 1.
    Guarantees: at most `max_points` indices (for max_points ≥ 4k); every sample of the last
    `recent_s` seconds is kept, unless those alone exceed half the budget, in which case the
    newest max_points // 2 are; for each component, the minimum and the maximum of every older
    bucket are kept (so the global extremes are too); the last sample is always kept.
    """
    t = np.asarray(t, dtype=float)
    y = np.atleast_2d(np.asarray(y, dtype=float))
    n = t.shape[0]
    if y.shape[1] != n:
        raise ValueError(f"y has {y.shape[1]} columns for {n} times")
    if n <= max_points:
        return np.arange(n)
    k = y.shape[0]
    n_recent = n - int(np.searchsorted(t, t[-1] - recent_s, side="left"))
    n_recent = max(1, min(n_recent, max_points // 2))
    n_old = n - n_recent
    buckets = max(1, (max_points - n_recent) // (2 * k + 1))  # each bucket: its start, k mins, k maxes
    old_idx = _minmax_indices(t[:n_old], y[:, :n_old], buckets)
    return np.concatenate([old_idx, np.arange(n_old, n)])


def _minmax_indices(t, y, buckets: int):
    """Indices of each component's min and max in each of `buckets` equal-width time buckets."""
    n = t.shape[0]
    if n == 0:
        return np.arange(0)
    span = t[-1] - t[0]
    if span <= 0:
        edges = np.array([0])
    else:
        bucket_of = np.minimum(((t - t[0]) / span * buckets).astype(np.int64), buckets - 1)
        edges = np.flatnonzero(np.r_[True, bucket_of[1:] != bucket_of[:-1]])  # first index of each
    counts = np.diff(np.r_[edges, n])
    position = np.broadcast_to(np.arange(n), y.shape)
    big = np.iinfo(np.int64).max
    keep = np.zeros(n, dtype=bool)
    keep[edges] = True  # a bucket whose every value is NaN still keeps one x position
    for reduce_ in (np.fmin, np.fmax):
        extreme = reduce_.reduceat(y, edges, axis=1)  # NaN only where the whole bucket is NaN
        hit = y == np.repeat(extreme, counts, axis=1)
        first = np.minimum.reduceat(np.where(hit, position, big), edges, axis=1)
        keep[first[first != big]] = True
    return np.flatnonzero(keep)


def step_indices(values):
    """Indices where a step series changes value, plus the first and last (for step-after lines)."""
    v = np.asarray(values, dtype=float)
    n = v.shape[0]
    if n <= 2:
        return np.arange(n)
    same = (v[1:] == v[:-1]) | (np.isnan(v[1:]) & np.isnan(v[:-1]))
    changes = np.flatnonzero(~same) + 1
    return np.unique(np.r_[0, changes, n - 1])
