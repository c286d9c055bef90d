"""One formatting contract for every view: the kernel's units.py and the extension's format.ts
print the same strings for the same numbers (the cases in tests/data/format_cases.json, which the
jest suite reads too), and the summary line, the table and the live readout all use it."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from carbon_magic import units
from carbon_magic.intensity.electricitymaps import ElectricityMaps
from carbon_magic.intensity.uk import UKCarbonIntensity
from carbon_magic.intensity.watttime import WattTime
from carbon_magic.live.text import readout_html, text_summary
from carbon_magic.record import CellRecord, Component, unix_from_iso
from carbon_magic.report.model import Report
from carbon_magic.report.table import CellTable

ROOT = Path(__file__).resolve().parent.parent
CASES = json.loads((ROOT / "tests" / "data" / "format_cases.json").read_text(encoding="utf-8"))
FORMAT_TS = ROOT / "labextension" / "src" / "format.ts"
FUNCTIONS = {
    "number": units.fmt_number, "energy_j": units.fmt_energy, "mass_g": units.fmt_mass_g,
    "power_w": units.fmt_power, "duration_s": units.fmt_duration,
    "intensity_g_per_kwh": units.fmt_intensity, "provenance": units.fmt_provenance,
}


@pytest.mark.parametrize("kind,value,expected", [(k, v, e) for k in FUNCTIONS for v, e in CASES[k]])
def test_the_shared_cases(kind, value, expected):
    assert FUNCTIONS[kind](value) == expected


def test_every_kind_in_the_file_is_checked():
    assert set(CASES) - {"about"} == set(FUNCTIONS)


def test_provider_names_are_the_providers_own_and_the_extensions():
    assert units.PROVIDER_NAMES == {
        **{p.name: p.display for p in (ElectricityMaps, UKCarbonIntensity, WattTime)}, "static": "static"}
    body = FORMAT_TS.read_text(encoding="utf-8").split("export const PROVIDER_NAMES", 1)[1].split("};", 1)[0]
    assert dict(re.findall(r"(\w+): '([^']*)'", body)) == units.PROVIDER_NAMES


def _record(**kw) -> CellRecord:
    base = dict(
        session_id="s", start_s=unix_from_iso("2026-11-23T18:20:05.000Z"), end_s=unix_from_iso("2026-11-23T18:20:09.000Z"),
        duration_s=4.0, status="ok", energy_j=3.91,
        components=[Component("cpu:package-0", "cpu", "counter", 3.91)], intensity_g_per_kwh=457.6,
        intensity={"provider": "electricitymaps", "zone": "FR", "kind": "live", "fetched_at": None},
        emissions_g=0.000497, execution_count=3, code_head="fit()",
    )
    base.update(kw)
    return CellRecord(**base)


def test_summary_and_table_say_what_the_badge_says():
    """The issue: `3.91 J · 0.497 mg CO₂e` in the summary, `1.08 mWh · 497 µg` on the badge, and
    `electricitymaps` in the kernel's text where the extension said `Electricity Maps`. The badge
    side of this is labextension/src/__tests__/badge.spec.ts."""
    r = _record()
    assert r.summary().splitlines() == [
        "⚡ 3.91 J (cpu:package-0 3.91 J measured) · 0.497 mg CO₂e",
        "  @ 458 g/kWh (FR, Electricity Maps, live) · 4 s",
    ]
    text = str(CellTable(Report.from_records([r])))
    for shown in ("3.91 J", "0.497 mg", "458 g/kWh", "4 s"):
        assert shown in text


def test_live_readout_and_text_use_the_contract():
    msg = {"power_w": {"cpu:package-0": 999.7}, "methods": {"cpu:package-0": "counter"},
           "intensity_g_per_kwh": 56.5, "intensity": {"provider": "uk", "zone": "GB", "kind": "forecast"},
           "energy_j": 999.7, "emissions_g": 0.0000213}
    html = readout_html(msg)
    for shown in ("1 kW", "0.278 Wh", "0.0213 mg", "57 g/kWh", "GB, UK Carbon Intensity API, forecast"):
        assert shown in html
    assert text_summary(msg) == ("carbon_magic live: 1 kW now (cpu:package-0 1 kW measured) · 0.278 Wh · "
                                 "0.0213 mg CO₂e so far · 57 g/kWh (GB, UK Carbon Intensity API, forecast)")


def test_an_energy_that_rounds_up_changes_unit_instead_of_printing_an_exponent():
    assert units.fmt_energy(999.7) == "0.278 Wh"  # was `1e+03 J`
    assert units.fmt_mass_g(999.7) == "1 kg"  # was `1e+03 g`
    assert units.fmt_duration(3599.6) == "1 h 00 min"  # was `60 min 00 s`
    assert units.fmt_energy(4.4424e12) == "1234000 kWh"  # was `1.23e+06 kWh`
