#!/usr/bin/env python3
"""Rebuild the embedded intensity tables in carbon_magic/intensity/data/ from the shared CSVs.

    python scripts/build_intensity_table.py [SHARED_DATA_DIR] [--check]

SHARED_DATA_DIR defaults to ../shared/data (beside the repository). The inputs and their
provenance are described in that directory's README.md; this script only reshapes them:

- static_intensity.csv: one row per country (OWID/Ember), the world row, and each cloud region
  (GCP region-carbon-info; AWS and Azure from Cloud Carbon Footprint), every row with its source,
  year, emission-factor basis and licence.
- zones.csv: the names a user may type that have no static row of their own: Electricity Maps
  zone keys (with their country) and the 17 UK Carbon Intensity API regions.

--check compares the rebuilt files with the shipped ones and exits 1 when they differ.
Stdlib only; deterministic output (sorted rows, \\n line endings).
"""
from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = ROOT / "carbon_magic" / "intensity" / "data"
DEFAULT_SHARED = ROOT.parent / "shared" / "data"

STATIC_COLUMNS = ["scope", "key", "iso2", "name", "year", "g_co2e_per_kwh", "emission_factor", "source", "licence"]
ZONE_COLUMNS = ["scope", "key", "iso2", "name"]

# Basis of each dataset's factors (see data/ATTRIBUTION.md): Ember uses IPCC lifecycle factors;
# Google's grid figures and CCF's eGRID/EEA/carbonfootprint.com factors are operational (direct).
BASIS = {"country": "lifecycle", "world": "lifecycle", "gcp": "direct", "aws": "direct", "azure": "direct"}
LICENCE = {"country": "CC BY 4.0", "world": "CC BY 4.0", "gcp": "Apache-2.0", "aws": "Apache-2.0",
           "azure": "Apache-2.0"}


def _read(path: Path) -> list[dict]:
    # keep_default_na matters only to pandas; with csv, Namibia's "NA" stays a string.
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _number(text: str, where: str) -> str:
    value = float(text)  # raises on junk: a bad input row must stop the build, not ship
    if not (0.0 <= value < 2000.0):
        raise ValueError(f"{where}: {value} g/kWh is outside 0..2000")
    return text.strip()  # the upstream digits, unchanged


def build(shared: Path) -> dict[str, str]:
    """The two CSV files' text, built from the shared data directory."""
    static: list[list[str]] = []
    for r in _read(shared / "country_intensity.csv"):
        scope = "world" if r["iso3"] == "WLD" else "country"
        static.append([scope, r["iso3"], r["iso2"], r["country"], r["year"],
                       _number(r["g_co2e_per_kwh"], r["iso3"]), BASIS[scope], r["source"], LICENCE[scope]])
    for r in _read(shared / "cloud_region_intensity.csv"):
        scope = r["provider"].strip().lower()
        if scope not in ("aws", "gcp", "azure"):
            raise ValueError(f"unknown cloud provider {r['provider']!r}")
        static.append([scope, r["region"].strip().lower(), "", r["location"], r["year"],
                       _number(r["g_co2e_per_kwh"], f"{scope}:{r['region']}"), BASIS[scope], r["source"],
                       LICENCE[scope]])
    keys = [(row[0], row[1]) for row in static]
    dupes = {k for k in keys if keys.count(k) > 1}
    if dupes:
        raise ValueError(f"duplicate static rows: {sorted(dupes)}")
    if ("world", "WLD") not in keys:
        raise ValueError("country_intensity.csv has no WLD row: the no-zone default needs it")
    order = {"world": 0, "country": 1, "aws": 2, "azure": 3, "gcp": 4}
    static.sort(key=lambda row: (order[row[0]], row[1]))

    zones: list[list[str]] = []
    for r in _read(shared / "electricitymaps_zones.csv"):
        zones.append(["em", r["zone_key"].strip(), r["country_iso2"].strip(), r["zone_name"].strip()])
    for r in _read(shared / "uk_regions.csv"):
        zones.append(["uk", str(int(r["regionid"])), "GB", r["shortname"].strip()])
    zones.sort(key=lambda row: (row[0], int(row[1]) if row[0] == "uk" else 0, row[1]))
    return {"static_intensity.csv": _csv(STATIC_COLUMNS, static), "zones.csv": _csv(ZONE_COLUMNS, zones)}


def _csv(columns: list[str], rows: list[list[str]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    w.writerows(rows)
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("shared", nargs="?", default=str(DEFAULT_SHARED), help="the shared data directory")
    ap.add_argument("--out", default=str(OUT_DIR), help="where the package data lives")
    ap.add_argument("--check", action="store_true", help="compare with the shipped files; change nothing")
    args = ap.parse_args(argv)
    files = build(Path(args.shared))
    out = Path(args.out)
    stale = [name for name, text in files.items()
             if not (out / name).exists() or (out / name).read_text(encoding="utf-8") != text]
    if args.check:
        for name in stale:
            print(f"{out / name} differs from a rebuild from {args.shared}", file=sys.stderr)
        return 1 if stale else 0
    out.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (out / name).write_text(text, encoding="utf-8", newline="\n")
        print(f"wrote {out / name} ({text.count(chr(10)) - 1} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
