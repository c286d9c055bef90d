"""Time-resolved emissions: ∫P(t)·I(t)dt over a cell, as Σ energy × intensity over pieces.

The cell's samples (cumulative joules at known times) split its energy into intervals, and the
power within one interval is taken as constant. An interval over which the intensity changes
(a new half-hour of the UK series, a cached value going stale, …) is split at the change, found
to within 0.1 ms by bisection on `intensity_at`, so each piece is priced at the value in
force over it: the result is exact for piecewise-constant intensity, whatever the interval.
Only `intensity_at` is needed, so every provider, cache and fallback is split the same way.
Consecutive pieces priced by the same value are merged into one segment, so a 24 h cell under an
hourly series keeps ~24 segments however many samples it has.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .units import J_PER_KWH

if TYPE_CHECKING:
    from .intensity.provider import IntensityValue

PROBE_S = 60.0  # longest stretch between two looks at the intensity (series change at most every 5 min)
BOUNDARY_TOL_S = 1e-4  # how precisely a change of intensity is located (0.02 % of a 0.5 s interval)


def _same(a, b) -> bool:
    return a is b or (a.value_g_per_kwh == b.value_g_per_kwh and a.provenance == b.provenance)


def intensity_pieces(t0: float, t1: float, intensity_at, probe_s: float = PROBE_S,
                     tol_s: float = BOUNDARY_TOL_S) -> list[tuple[float, float, IntensityValue]]:
    """[(start, end, IntensityValue)] covering [t0, t1), split wherever the intensity changes.

    Looks at least every `probe_s` (a change and change back within less than that is not seen;
    no provider publishes values that short) and bisects each change to `tol_s`.
    """
    if t1 <= t0:
        return [(t0, t1, intensity_at(t0))]
    last_t = max(t0, t1 - tol_s)  # the value in force at the end of a half-open interval
    probes = [t0]
    t = t0 + probe_s
    while t < last_t:
        probes.append(t)
        t += probe_s
    if last_t > t0:
        probes.append(last_t)
    pieces = []
    start, value = t0, intensity_at(t0)
    for q in probes[1:]:
        vq = intensity_at(q)
        while not _same(value, vq):  # a change between start (value) and q (vq): bisect it
            lo, hi = start, q
            while hi - lo > tol_s:
                mid = (lo + hi) / 2
                if _same(intensity_at(mid), value):
                    lo = mid
                else:
                    hi = mid
            pieces.append((start, hi, value))
            start, value = hi, intensity_at(hi)
    pieces.append((start, t1, value))
    return pieces


def emissions_over(t0: float, t1: float, energy_j: float, intensity_at) -> float:
    """Grams CO₂e of `energy_j` drawn at constant power over [t0, t1], split at intensity changes."""
    return emissions_of_pieces(t0, t1, energy_j, intensity_pieces(t0, t1, intensity_at))


def emissions_of_pieces(t0: float, t1: float, energy_j: float, pieces) -> float:
    """`emissions_over` for pieces already found (several energies over the same stretch look once)."""
    span = t1 - t0
    return sum(energy_j * ((p1 - p0) / span if span > 0 else 1.0) / J_PER_KWH * iv.value_g_per_kwh
               for p0, p1, iv in pieces)


def add_segment(segments: list[dict], p0: float, p1: float, energy_j: float, emissions_g: float, iv) -> None:
    """Add one priced piece to `segments`, merged into the last one where the value and its
    provenance are the same (the record's `intensity_segments`, times in unix seconds)."""
    last = segments[-1] if segments else None
    if last and last["intensity_g_per_kwh"] == iv.value_g_per_kwh and last["_prov"] == iv.provenance:
        last["end_s"] = max(last["end_s"], p1)
        last["energy_j"] += energy_j
        last["emissions_g"] += emissions_g
    else:
        segments.append({"start_s": p0, "end_s": p1, "energy_j": energy_j, "emissions_g": emissions_g,
                         "intensity_g_per_kwh": iv.value_g_per_kwh, "_prov": iv.provenance})


def finish_segments(segments: list[dict], **extra) -> list[dict]:
    """The segments as the record keeps them: with their provenance (plus `extra` keys)."""
    out = []
    for s in segments:
        prov = s.pop("_prov")
        s["intensity"] = dict(prov)
        s.update(extra)
        out.append(s)
    return out


def integrate(points, energy_j: float, intensity_at):
    """Emissions for `energy_j` (after PUE) spread over `points` (Snapshots, first and last = edges).

    Returns (emissions_g, mean_intensity_g_per_kwh, segments). When the points show no energy
    (a cell shorter than every counter's resolution, whose energy came from power × duration),
    the energy is spread evenly over the cell's time.
    """
    deltas = []
    for a, b in zip(points, points[1:]):
        deltas.append((a, b, max(0.0, b.total_j() - a.total_j())))
    point_total = sum(d for _, _, d in deltas)
    if point_total <= 0 or len(points) < 2:
        a, b = points[0], points[-1]
        deltas = [(a, b, 1.0)]
        point_total = 1.0
    scale = energy_j / point_total
    segments: list[dict] = []
    emissions_g = 0.0
    for a, b, d in deltas:
        span = b.wall - a.wall
        for p0, p1, iv in intensity_pieces(a.wall, b.wall, intensity_at):
            share = (p1 - p0) / span if span > 0 else 1.0
            e = d * scale * share
            g = e / J_PER_KWH * iv.value_g_per_kwh
            emissions_g += g
            add_segment(segments, p0, p1, e, g, iv)
    out = finish_segments(segments)
    mean = emissions_g / (energy_j / J_PER_KWH) if energy_j > 0 else (out[0]["intensity_g_per_kwh"] if out else 0.0)
    return emissions_g, mean, out
