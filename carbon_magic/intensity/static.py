"""The embedded annual averages: countries, the world, cloud regions; each row with its source.

Loaded from ``data/*.csv`` on first use (a few hundred rows, about a millisecond), never at
import. ``static_value(zone)`` answers for any parsed zone, saying when it had to approximate:
an Electricity Maps sub-zone or a UK region gets its country's average, and a zone with no
country figure (or no zone at all) gets the world average, flagged.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from .provider import IntensityValue

DATA_DIR = Path(__file__).parent / "data"


@dataclass(frozen=True)
class StaticRow:
    scope: str  # world | country | aws | gcp | azure
    key: str  # WLD, ISO3, or the cloud region id
    iso2: str
    name: str
    year: str
    g_co2e_per_kwh: float
    emission_factor: str
    source: str
    licence: str


@dataclass(frozen=True)
class Tables:
    static: dict  # (scope, key) -> StaticRow
    by_iso2: dict  # ISO2 -> country StaticRow
    em_zones: dict  # zone key -> (iso2, name)
    uk_regions: dict  # region id -> name


@cache
def tables() -> Tables:
    static, by_iso2 = {}, {}
    with open(DATA_DIR / "static_intensity.csv", newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            row = StaticRow(r["scope"], r["key"], r["iso2"], r["name"], r["year"], float(r["g_co2e_per_kwh"]),
                            r["emission_factor"], r["source"], r["licence"])
            static[(row.scope, row.key)] = row
            if row.scope == "country" and row.iso2:
                by_iso2[row.iso2] = row
    em_zones, uk_regions = {}, {}
    with open(DATA_DIR / "zones.csv", newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            if r["scope"] == "em":
                em_zones[r["key"]] = (r["iso2"], r["name"])
            elif r["scope"] == "uk":
                uk_regions[int(r["key"])] = r["name"]
    return Tables(static, by_iso2, em_zones, uk_regions)


def world_row() -> StaticRow:
    return tables().static[("world", "WLD")]


def row_for(zone) -> tuple[StaticRow, str | None]:
    """(the row that prices `zone`, a flag saying how it approximates, or None when exact)."""
    t = tables()
    if zone is None:
        return world_row(), "no zone set: world average"
    if zone.scope == "world":
        return world_row(), None
    if zone.scope == "cloud":
        return t.static[zone.cloud], None
    row = t.by_iso2.get(zone.country or "")
    if row is None:
        what = f"no offline figure for {zone.key}" + (f" ({zone.country})" if zone.country else "")
        return world_row(), f"{what}: world average"
    if zone.scope == "country":
        return row, None
    return row, f"{row.name} ({row.iso2}) annual average for {zone.key}"


def has_own_figure(zone) -> bool:
    """Whether the offline table prices `zone` with a figure of its own or its country's, rather
    than falling back to the world average (None, the world itself, count as their own)."""
    if zone is None or zone.scope in ("world", "cloud"):
        return True
    return zone.country is not None and zone.country in tables().by_iso2


def static_value(zone, fallback_reason: str | None = None) -> IntensityValue:
    row, flag = row_for(zone)
    year = f" {row.year}" if row.year else ""
    prov = {
        "provider": "static", "provider_name": "static",
        "zone": zone.key if zone is not None else None, "kind": "static", "fetched_at": None,
        "source": f"{row.source}; {row.name}{year}", "signal": "average",
        "emission_factor": row.emission_factor, "year": int(row.year) if row.year else None,
    }
    if flag:
        prov["flag"] = flag
    if fallback_reason:
        prov["fallback_reason"] = fallback_reason
    return IntensityValue(row.g_co2e_per_kwh, prov)
