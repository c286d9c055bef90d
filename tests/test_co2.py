"""CO₂ is ∫P(t)·I(t)dt: an interval that straddles a change of intensity is split at the change."""
import math

import pytest

from carbon_magic.co2 import emissions_over, integrate, intensity_pieces
from carbon_magic.intensity.provider import IntensityValue
from carbon_magic.sampler import Snapshot
from carbon_magic.units import J_PER_KWH


def stepped(*steps):
    """I(t): steps = [(from_t, g_per_kwh), ...] in time order; each value holds until the next."""
    values = [(t, IntensityValue(v, {"provider": "test", "zone": "XX", "kind": "live", "from": t}))
              for t, v in steps]

    def at(t):
        current = values[0][1]
        for start, iv in values:
            if t >= start:
                current = iv
        return current
    return at


def snap(t, joules):
    return Snapshot(t=t, wall=t, energy_j={"cpu": joules}, power_w={"cpu": None})


def exact(power_w, t0, t1, steps):
    """∫P·I dt for constant power over [t0, t1] and a step function I."""
    grams = 0.0
    bounds = [s[0] for s in steps[1:]] + [math.inf]
    for (start, value), end in zip(steps, bounds):
        a, b = max(t0, start), min(t1, end)
        if b > a:
            grams += power_w * (b - a) / J_PER_KWH * value
    return grams


def test_interval_straddling_a_change_is_priced_at_each_side():
    # One 0.5 s sampler interval at 200 W; the intensity drops from 500 to 100 g/kWh at 0.1 s.
    steps = [(0.0, 500.0), (1000.1, 100.0)]
    at = stepped(*steps)
    points = [snap(1000.0, 0.0), snap(1000.5, 100.0)]
    grams, mean, segments = integrate(points, 100.0, at)
    truth = exact(200.0, 1000.0, 1000.5, steps)
    assert grams == pytest.approx(truth, rel=0.005)
    # The midpoint rule (main before this fix) priced all of it at 100 g/kWh: 44 % too little.
    assert abs(grams - 100.0 / J_PER_KWH * 100.0) / truth > 0.4
    assert [s["intensity_g_per_kwh"] for s in segments] == [500.0, 100.0]
    assert sum(s["energy_j"] for s in segments) == pytest.approx(100.0)
    assert mean == pytest.approx(grams / (100.0 / J_PER_KWH))


def test_several_changes_inside_one_long_gap():
    # A GIL-holding cell: one 10-minute gap between reads, the intensity changes three times in it.
    steps = [(0.0, 300.0), (1120.0, 50.0), (1300.0, 700.0), (1555.5, 200.0)]
    at = stepped(*steps)
    points = [snap(1000.0, 0.0), snap(1600.0, 60_000.0)]  # 100 W for 600 s
    grams, _, segments = integrate(points, 60_000.0, at)
    assert grams == pytest.approx(exact(100.0, 1000.0, 1600.0, steps), rel=0.005)
    assert [s["intensity_g_per_kwh"] for s in segments] == [300.0, 50.0, 700.0, 200.0]


def test_boundaries_found_to_a_millisecond():
    at = stepped((0.0, 1.0), (12.3456, 2.0), (40.0, 3.0))
    pieces = intensity_pieces(0.0, 100.0, at, probe_s=60.0)
    assert [p[2].value_g_per_kwh for p in pieces] == [1.0, 2.0, 3.0]
    assert pieces[0][1] == pytest.approx(12.3456, abs=1e-3)
    assert pieces[1][1] == pytest.approx(40.0, abs=1e-3)
    assert pieces[-1][1] == 100.0


def test_constant_intensity_is_one_piece_and_unchanged():
    at = stepped((0.0, 250.0))
    points = [snap(1000.0 + i * 0.5, i * 10.0) for i in range(21)]
    grams, mean, segments = integrate(points, 200.0, at)
    assert grams == pytest.approx(200.0 / J_PER_KWH * 250.0)
    assert mean == pytest.approx(250.0)
    assert len(segments) == 1


def test_session_running_total_is_split_too():
    steps = [(0.0, 400.0), (1000.2, 0.0)]
    assert emissions_over(1000.0, 1000.5, 50.0, stepped(*steps)) == pytest.approx(exact(100.0, 1000.0, 1000.5, steps), rel=0.005)
