"""Time-resolved emissions: Σ energy(interval) × intensity(interval) over a cell.

The cell's samples (cumulative joules at known times) split its energy into intervals; each
interval is priced at the intensity in force at its midpoint. Consecutive intervals priced by
the same value are merged into one segment, so a 24 h cell under an hourly series keeps ~24
segments however many samples it has.
"""
from __future__ import annotations

from .record import iso_utc
from .units import J_PER_KWH


def integrate(points, energy_j: float, intensity_at):
    """Emissions for `energy_j` (after PUE) spread over `points` (Snapshots, first and last = edges).

    Returns (emissions_g, mean_intensity_g_per_kwh, segments). When the points show no energy
    (a cell shorter than every counter's resolution, whose energy came from power × duration),
    the whole energy is priced at the cell's midpoint.
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
        iv = intensity_at((a.wall + b.wall) / 2)
        e = d * scale
        g = e / J_PER_KWH * iv.value_g_per_kwh
        emissions_g += g
        last = segments[-1] if segments else None
        if last and last["intensity_g_per_kwh"] == iv.value_g_per_kwh and last["_prov"] == iv.provenance:
            last["end"] = b.wall
            last["energy_j"] += e
            last["emissions_g"] += g
        else:
            segments.append({"start": a.wall, "end": b.wall, "energy_j": e, "emissions_g": g,
                             "intensity_g_per_kwh": iv.value_g_per_kwh, "_prov": iv.provenance})
    out = []
    for s in segments:
        prov = s.pop("_prov")
        s["start"], s["end"] = iso_utc(s["start"]), iso_utc(s["end"])
        s["intensity"] = dict(prov)
        out.append(s)
    mean = emissions_g / (energy_j / J_PER_KWH) if energy_j > 0 else (out[0]["intensity_g_per_kwh"] if out else 0.0)
    return emissions_g, mean, out
