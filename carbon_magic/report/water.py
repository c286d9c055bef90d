"""Water used by a cell: on-site (cooling, from a WUE setting) and off-site (the grid's), estimated.

On-site: WUE (The Green Grid's Water Usage Effectiveness) is litres of site water per kWh of IT
equipment energy, so on-site water = device energy (the record's energy before PUE) × WUE. It is
a setting (`CARBON_MAGIC_WUE` L/kWh, or `%config CarbonMagics.wue`), as CodeCarbon 3's `wue`
parameter; unset means unknown, not zero.

Off-site: electricity generation consumes water too (thermal plants' cooling, hydro reservoirs'
evaporation): water = facility energy (after PUE) × the grid's L/kWh, where an intensity provider
gives one (provenance key `water_l_per_kwh`). None of the bundled providers does, so it is
reported as "no data", not as 0.

The CSV carries CodeCarbon 3's `water_consumed` (L) and `wue` (L/kWh) columns.
"""
from __future__ import annotations

import math

from ..units import J_PER_KWH

NO_GRID_DATA = "no grid water data for this zone"


def grid_water_l_per_kwh(provenance: dict | None) -> float | None:
    """The grid's water intensity from an intensity provenance, where a provider gave one."""
    value = (provenance or {}).get("water_l_per_kwh")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0:
        return float(value)
    return None


def estimate(energy_j: float, pue: float, wue_l_per_kwh: float | None,
             grid_l_per_kwh: float | None = None, grid_source: str | None = None) -> tuple[float | None, dict | None]:
    """(water_l, provenance) of one cell; (None, None) where neither figure is known."""
    if wue_l_per_kwh is None and grid_l_per_kwh is None:
        return None, None
    it_kwh = energy_j / (pue or 1.0) / J_PER_KWH
    onsite = None if wue_l_per_kwh is None else it_kwh * wue_l_per_kwh
    grid = None if grid_l_per_kwh is None else energy_j / J_PER_KWH * grid_l_per_kwh
    total = (onsite or 0.0) + (grid or 0.0)
    return total, {
        "method": "estimated",
        "wue_l_per_kwh": wue_l_per_kwh, "onsite_l": onsite,
        "grid_l_per_kwh": grid_l_per_kwh, "grid_l": grid,
        "grid_source": grid_source if grid is not None else NO_GRID_DATA,
    }


def describe(record) -> str:
    """`0.021 L (on-site, WUE 0.5 L/kWh; no grid water data for this zone), estimated`, or ''."""
    if getattr(record, "water_l", None) is None:
        return ""
    w = record.water or {}
    parts = []
    if w.get("onsite_l") is not None:
        parts.append(f"on-site {w['onsite_l']:.3g} L at WUE {w.get('wue_l_per_kwh', 0):g} L/kWh")
    if w.get("grid_l") is not None:
        parts.append(f"grid {w['grid_l']:.3g} L at {w.get('grid_l_per_kwh', 0):g} L/kWh"
                     + (f" ({w['grid_source']})" if w.get("grid_source") else ""))
    else:
        parts.append(str(w.get("grid_source") or NO_GRID_DATA))
    return f"{record.water_l:.3g} L ({'; '.join(parts)}), estimated"
