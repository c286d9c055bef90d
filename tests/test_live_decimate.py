"""Pure decimation and the plot store: bounded size, extremes kept, recent data at full resolution."""
import numpy as np
import pytest

from carbon_magic.live.decimate import decimate_indices, step_indices
from carbon_magic.live.store import PlotStore


def series(n, k, seed=0, dt=0.5):
    rng = np.random.default_rng(seed)
    t = 1_790_000_000.0 + np.arange(n) * dt
    y = 50 + rng.normal(0, 5, size=(k, n)).cumsum(axis=1) / 10
    return t, y


def test_short_series_is_kept_whole():
    t, y = series(500, 2)
    assert np.array_equal(decimate_indices(t, y, max_points=2000), np.arange(500))


@pytest.mark.parametrize("n,k,max_points", [(10_000, 1, 2000), (50_000, 3, 2000), (172_800, 5, 3000),
                                            (20_000, 4, 500)])
def test_bounded_sorted_and_recent_at_full_resolution(n, k, max_points):
    t, y = series(n, k, seed=n)
    recent_s = 120.0
    idx = decimate_indices(t, y, max_points=max_points, recent_s=recent_s)
    assert len(idx) <= max_points
    assert np.all(np.diff(idx) > 0)
    recent = np.flatnonzero(t >= t[-1] - recent_s)
    assert np.isin(recent, idx).all()
    assert idx[-1] == n - 1


def test_every_component_keeps_its_extremes_and_spikes():
    t, y = series(40_000, 3, seed=7)
    y[1, 1234] = 1e4  # a spike long before the recent window
    y[2, 20_000] = -1e4  # a dip
    idx = decimate_indices(t, y, max_points=1500, recent_s=60)
    assert 1234 in idx and 20_000 in idx
    for row in y:
        assert row[idx].max() == row.max() and row[idx].min() == row.min()


def test_bucket_extremes_are_kept_with_nans_and_constant_rows():
    t, y = series(30_000, 2, seed=3)
    y[0, 5000:9000] = np.nan  # a source that failed for a while
    y[1] = 9.42  # an estimated RAM line: constant
    idx = decimate_indices(t, y, max_points=1000, recent_s=0)
    assert len(idx) <= 1000
    assert np.nanmax(y[0][idx]) == np.nanmax(y[0]) and np.nanmin(y[0][idx]) == np.nanmin(y[0])
    # Rebuild the equal-width buckets of the old part and check each bucket's min and max are in.
    kept = set(idx.tolist())
    n_old = len(t) - 1
    buckets = (1000 - 1) // 5
    b = np.minimum(((t[:n_old] - t[0]) / (t[n_old - 1] - t[0]) * buckets).astype(int), buckets - 1)
    for bucket in range(0, buckets, 17):
        members = np.flatnonzero(b == bucket)
        vals = y[0, members]
        if np.isnan(vals).all():
            continue
        assert members[np.nanargmax(vals)] in kept and members[np.nanargmin(vals)] in kept


def test_dense_recent_window_is_capped_to_half_the_budget():
    t, y = series(30_000, 1, dt=0.01)  # 300 s of 100 Hz samples, all "recent"
    idx = decimate_indices(t, y, max_points=2000, recent_s=600)
    assert len(idx) <= 2000
    assert np.array_equal(idx[-1000:], np.arange(29_000, 30_000))


def test_step_indices_reproduce_the_step_function():
    v = np.array([400, 400, 400, 380, 380, 380, 380, 410, 410, np.nan, np.nan, 410, 410], dtype=float)
    idx = step_indices(v)
    assert list(idx) == [0, 3, 7, 9, 11, 12]
    rebuilt = v[idx][np.searchsorted(idx, np.arange(len(v)), side="right") - 1]
    assert np.array_equal(rebuilt, v, equal_nan=True)


def test_store_stays_bounded_and_keeps_extremes_and_recent_rows():
    store = PlotStore(2, cap=3000, compact_to=1000, recent_s=100)
    t, y = series(50_000, 2, seed=11)
    y[0, 777] = 5e3
    intensity = np.where(np.arange(50_000) < 25_000, 300.0, 420.0)
    for start in range(0, 50_000, 700):  # appended in chunks, as updates do
        sl = slice(start, start + 700)
        store.extend(t[sl], y[:, sl], intensity[sl])
        assert store.n <= 3000
    assert store.compactions > 10
    assert store.power[0].max() == 5e3
    assert store.power[1].min() == y[1].min()
    assert set(store.intensity) == {300.0, 420.0}
    recent = t[t >= t[-1] - 100]
    assert np.isin(recent, store.t).all()
    assert np.all(np.diff(store.t) > 0)
