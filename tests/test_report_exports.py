"""Exports from real sessions (fake hardware and clock): round-trips, CodeCarbon's CSV, escaping."""
from __future__ import annotations

import html
import io
import json
import re
from html.parser import HTMLParser

import pandas as pd
import pytest

from carbon_magic.record import CellRecord
from carbon_magic.report import Report, formats, json_export
from carbon_magic.report.csv_export import CODECARBON_COLUMNS, DEFERRAL_COLUMNS, EXTRA_COLUMNS
from carbon_magic.report.table import CellTable
from carbon_magic.units import fmt_energy, fmt_mass_g
from report_helpers import Bench

# CodeCarbon 3.3's emissions.csv columns, in order: the 38 fields of the `EmissionsData` dataclass in
# mlco2/codecarbon codecarbon/output_methods/emissions_data.py, version 3.3.0 (2026-08-04; the one with
# `water_consumed`, the utilisation fields and `wue`; the index's copy, id 53393604492). Version 2's
# (commit 118873936dadf2608ae4d2af9862fcca4c2fe3d6) had 32: no water_consumed, utilisation fields, wue.
CODECARBON_EMISSIONS_CSV = [
    "timestamp", "project_name", "run_id", "experiment_id", "duration", "emissions", "emissions_rate",
    "cpu_power", "gpu_power", "ram_power", "cpu_energy", "gpu_energy", "ram_energy", "energy_consumed",
    "water_consumed", "country_name", "country_iso_code", "region", "cloud_provider", "cloud_region", "os",
    "python_version", "codecarbon_version", "cpu_count", "cpu_model", "gpu_count", "gpu_model", "longitude",
    "latitude", "ram_total_size", "tracking_mode", "cpu_utilization_percent", "gpu_utilization_percent",
    "ram_utilization_percent", "ram_used_gb", "on_cloud", "pue", "wue",
]
assert len(CODECARBON_EMISSIONS_CSV) == 38
XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture
def bench(tmp_path, clock, powercap):
    b = Bench(tmp_path, clock, powercap, gpu=True, pue=1.2, zone="FR")
    yield b
    b.close()


@pytest.fixture
def report(bench):
    bench.cell(10, cpu_j=500, gpu_j=2000, count=1, code="train(model)")
    bench.idle(30, cpu_j=300)
    bench.cell(4, cpu_j=80, gpu_j=0, label=XSS, count=2, code="print('<b>|x|</b>')  # & more")
    bench.cell(2, cpu_j=20, count=3, code="=1+1", status="error")
    return Report.from_session(bench.session, project_name="demo <notebook>")


class _Cells(HTMLParser):
    """Text of every <td>/<th> per <tr>, unescaped, and every tag name seen."""

    def __init__(self):
        super().__init__()
        self.rows, self.tags, self._cell = [], [], None

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append(self._cell)
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


def parse_html(text):
    p = _Cells()
    p.feed(text)
    return p


def test_csv_has_codecarbon_columns_first_then_ours_and_pandas_reads_it(report):
    df = pd.read_csv(io.StringIO(formats.render(report, ".csv")))
    assert list(df.columns[:38]) == CODECARBON_EMISSIONS_CSV
    assert list(CODECARBON_COLUMNS) == CODECARBON_EMISSIONS_CSV
    assert list(df.columns[len(CODECARBON_EMISSIONS_CSV):]) == list(EXTRA_COLUMNS + DEFERRAL_COLUMNS)
    assert {"cpu_method", "gpu_method", "ram_method", "intensity_provider", "label", "cell_id", "status"} <= set(df.columns)
    assert len(df) == 3


def test_csv_units_are_codecarbons_kg_kwh_w_s(report):
    df = pd.read_csv(io.StringIO(formats.render(report, ".csv")))
    for (_, row), rec in zip(df.iterrows(), report.records):
        by_kind = rec.energy_by_kind()
        assert row["emissions"] == pytest.approx(rec.emissions_g / 1000, rel=1e-12)  # kg
        assert row["energy_consumed"] == pytest.approx(rec.energy_j / 3.6e6, rel=1e-12)  # kWh
        assert row["cpu_energy"] == pytest.approx(by_kind["cpu"] / 3.6e6, rel=1e-12)
        assert row["gpu_energy"] == pytest.approx(by_kind.get("gpu", 0) / 3.6e6, rel=1e-12, abs=1e-15)
        assert row["ram_energy"] == pytest.approx(by_kind["ram"] / 3.6e6, rel=1e-12)
        assert row["cpu_energy"] + row["gpu_energy"] + row["ram_energy"] == pytest.approx(row["energy_consumed"])
        assert row["duration"] == pytest.approx(rec.duration_s)  # s
        assert row["cpu_power"] == pytest.approx(by_kind["cpu"] / rec.duration_s)  # W, mean over the cell
        assert row["emissions_rate"] == pytest.approx(row["emissions"] / row["duration"])  # kg/s
        assert row["run_id"] == rec.session_id
        assert row["pue"] == 1.2
    first = df.iloc[0]
    assert first["cpu_power"] == pytest.approx(500 * 1.2 / 10)  # 500 J over 10 s, PUE 1.2
    assert first["gpu_power"] == pytest.approx(2000 * 1.2 / 10)
    assert (first["country_name"], first["country_iso_code"], first["on_cloud"]) == ("France", "FRA", "N")
    assert first["tracking_mode"] == "machine"
    assert pd.isna(first["codecarbon_version"])  # not written by CodeCarbon: left empty
    assert df["status"].tolist() == ["ok", "ok", "error"]
    assert df["cpu_method"].tolist() == ["counter"] * 3 and df["ram_method"].tolist() == ["estimated"] * 3
    assert df["label"].iloc[1] == XSS
    assert df["project_name"].iloc[0] == "demo <notebook>"


def test_csv_neutralises_spreadsheet_formulas_in_user_text(bench):
    bench.cell(1, cpu_j=1, label="=HYPERLINK(\"x\")", count=1)
    text = formats.render(Report.from_session(bench.session, "p"), ".csv")
    df = pd.read_csv(io.StringIO(text))
    assert df["label"].iloc[0] == "'=HYPERLINK(\"x\")"


def test_json_round_trip_gives_the_same_records_and_totals(report):
    doc, records = json_export.parse(formats.render(report, ".json"))
    assert [r.to_dict() for r in records] == [r.to_dict() for r in report.records]
    assert doc["totals"]["emissions_g"] == pytest.approx(sum(r.emissions_g for r in records), rel=1e-12)
    assert doc["totals"]["idle_energy_j"] == pytest.approx(report.totals["idle_energy_j"], rel=1e-12)
    assert doc["session_id"] == report.session_id
    assert {s["name"] for s in doc["sensors"]} == {"gpu:0", "cpu:package-0", "ram"}
    assert doc["intensity_sources"] and doc["intensity_sources"][0]["licence"] == "CC BY 4.0"
    assert doc["versions"]["carbon_magic"]
    assert "gpu_uuids" not in doc["host"]


def test_idle_energy_between_cells_is_reported(report):
    t = report.totals
    # 300 J of package energy and 30 s of the 2.98 W RAM estimate, times PUE 1.2, between cells 1 and 2
    ram_w = 8 * 0.3725
    assert t["idle_energy_j"] == pytest.approx((300 + 30 * ram_w) * 1.2, rel=1e-9)
    assert t["session_energy_j"] == pytest.approx(t["cells_energy_j"] + t["idle_energy_j"])


def _md_cell_rows(md):
    section = md.split("## Per cell")[1].split("##")[0]
    return [[c.strip() for c in re.split(r"(?<!\\)\|", ln)[1:-1]] for ln in section.splitlines() if ln.startswith("|")]


def test_receipts_show_each_cells_numbers_to_the_rounding_shown(report):
    md = formats.render(report, ".md")
    rows = _md_cell_rows(md)[2:]  # header and rule
    page = parse_html(formats.render(report, ".html"))
    table_rows = [r for r in page.rows if r and r[0] in ("In [1]", XSS, "In [3]")]
    for rec, md_row, html_row in zip(report.records, rows, table_rows):
        for row in (md_row, html_row):
            assert fmt_mass_g(rec.emissions_g) in row
            assert fmt_energy(rec.energy_j) in row
    assert html_row[-1] == "mixed (error)"  # third cell: counters and the RAM estimate, error status
    assert table_rows[1][0] == XSS and table_rows[1][1] == "print('<b>|x|</b>') # & more"


def test_html_and_markdown_escape_user_text(report):
    page_text = formats.render(report, ".html")
    assert XSS not in page_text and "<b>" not in page_text
    assert html.escape(XSS) in page_text
    tags = set(parse_html(page_text).tags)
    assert "img" not in tags and "b" not in tags
    assert "demo &lt;notebook&gt;" in page_text
    md = formats.render(report, ".md")
    assert XSS not in md and "&lt;img src=x onerror=alert(1)&gt;" in md
    assert "print('&lt;b&gt;\\|x\\|&lt;/b&gt;')" in md  # the pipe cannot split the table


def test_svg_badge_is_valid_and_escaped(report):
    import xml.etree.ElementTree as ET

    text = formats.render(report, ".svg")
    root = ET.fromstring(text)  # well-formed XML despite the '<' in the project name
    ns = root.tag[: root.tag.index("}") + 1]  # the SVG namespace (an identifier, never fetched)
    assert ns.endswith("/2000/svg}") and root.tag == ns + "svg"
    texts = [t.text for t in root.iter(ns + "text")]
    assert texts == ["CO₂e", fmt_mass_g(report.totals["emissions_g"]) + " partly estimated"]  # RAM is a model
    title = root.find(ns + "title").text
    assert title.startswith(f"CO₂e of demo <notebook>: {fmt_mass_g(report.totals['emissions_g'])} (98 % measured")


def test_totals_agree_across_table_and_every_format(report):
    shown = fmt_mass_g(report.totals["emissions_g"])
    energy = fmt_energy(report.totals["cells_energy_j"])
    table = CellTable(report)
    assert table.footer()[0][-2] == shown and table.footer()[0][-4] == energy
    df = pd.read_csv(io.StringIO(formats.render(report, ".csv")))
    assert fmt_mass_g(df["emissions"].sum() * 1000) == shown
    assert fmt_energy(df["energy_consumed"].sum() * 3.6e6) == energy
    doc = json.loads(formats.render(report, ".json"))
    assert fmt_mass_g(doc["totals"]["emissions_g"]) == shown
    assert fmt_mass_g(sum(r["emissions_g"] for r in doc["records"])) == shown
    md_total = [r for r in _md_cell_rows(formats.render(report, ".md")) if r[0] == "cells"][0]
    assert md_total[-2] == shown and md_total[-4] == energy
    html_total = [r for r in parse_html(formats.render(report, ".html")).rows if r and r[0] == "cells"][0]
    assert html_total[-2] == shown
    assert f"{shown} CO₂e" in formats.render(report, ".md")  # the totals section and the sentence
    assert f">{shown} partly estimated</text>" in formats.render(report, ".svg")


def test_receipt_has_method_sources_and_equivalents(report):
    md = formats.render(report, ".md")
    assert "## Method" in md and "estimated by a model" in md and "hardware energy counter" in md
    assert "Our World in Data" in md and "CC BY 4.0" in md
    assert "smartphone charges" in md and "driven by an average gasoline" in md and "EPA" in md and "(2024)" in md
    assert "The 3 measured cells of demo &lt;notebook&gt; used" in md


def test_no_token_is_ever_written(tmp_path, clock, powercap):
    b = Bench(tmp_path, clock, powercap)
    b.session.settings.electricitymaps_token = "sekrit-token-123"
    b.session.settings.watttime_password = "sekrit-password-456"
    b.cell(1, cpu_j=5, count=1)
    report = Report.from_session(b.session, "p")
    for suffix in formats.SUFFIXES:
        text = formats.render(report, suffix)
        assert "sekrit" not in text, suffix
    b.close()


@pytest.mark.parametrize("suffix", formats.SUFFIXES)
def test_empty_session_still_writes_a_valid_file(tmp_path, clock, powercap, suffix):
    b = Bench(tmp_path, clock, powercap)
    path = formats.write(Report.from_session(b.session, "empty"), tmp_path / f"out{suffix}")
    text = path.read_text(encoding="utf-8")
    if suffix == ".csv":
        assert list(pd.read_csv(path).columns[:38]) == CODECARBON_EMISSIONS_CSV
    elif suffix == ".json":
        assert json_export.parse(text)[1] == []
    elif suffix == ".svg":
        import xml.etree.ElementTree as ET

        ET.fromstring(text)
    else:
        assert "No cells of empty were measured" in text
    b.close()


def test_write_round_trip_from_disk(tmp_path, report):
    path = formats.write(report, tmp_path / "r.json")
    _, records = json_export.parse(path.read_text(encoding="utf-8"))
    assert [CellRecord.to_dict(r) for r in records] == [r.to_dict() for r in report.records]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("name", ["out.txt", "out", "out.csv.bak"])
def test_unknown_suffix_is_one_line_error_and_writes_nothing(tmp_path, report, name):
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(formats.ExportError) as exc:
        formats.write(report, out / name)
    assert "\n" not in str(exc.value) and ".csv" in str(exc.value)
    assert list(out.iterdir()) == []


def test_unwritable_paths_leave_nothing_behind(tmp_path, report):
    out = tmp_path / "out"
    out.mkdir()
    blocker = out / "file"
    blocker.write_text("x")
    (out / "dir.csv").mkdir()
    for target in (out / "missing" / "r.csv", blocker / "r.csv", out / "dir.csv"):
        with pytest.raises(formats.ExportError) as exc:
            formats.write(report, target)
        assert "\n" not in str(exc.value) and "cannot write" in str(exc.value)
    assert sorted(p.name for p in out.rglob("*")) == ["dir.csv", "file"]


def test_atomic_write_failure_keeps_old_file_and_removes_temp(tmp_path):
    from carbon_magic.report.atomic import write_atomic

    target = tmp_path / "r.csv"
    write_atomic(target, "old\n")
    assert target.read_text() == "old\n"
    busy = tmp_path / "busy.csv"  # a non-empty directory: os.replace onto it fails after the temp is written
    busy.mkdir()
    (busy / "x").write_text("x")
    with pytest.raises(OSError):
        write_atomic(busy, "new\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy.csv", "r.csv"]
    write_atomic(target, "new\n")
    assert target.read_text() == "new\n"


@pytest.mark.parametrize("zone, expected", [
    ("FR", {"country_name": "France", "country_iso_code": "FRA", "region": "", "on_cloud": "N"}),
    ("US-MIDA-PJM", {"country_name": "United States", "country_iso_code": "USA", "region": "US-MIDA-PJM"}),
    ("NA", {"country_name": "Namibia", "country_iso_code": "NAM"}),
    ("aws:us-east-1", {"cloud_provider": "aws", "cloud_region": "us-east-1", "on_cloud": "Y", "country_name": ""}),
    ("ZZ-1", {"country_name": "", "region": "ZZ-1"}),
    (None, {"country_name": "", "country_iso_code": "", "region": "", "on_cloud": "N"}),
])
def test_zone_to_codecarbon_location(zone, expected):
    from carbon_magic.report.location import zone_location

    loc = zone_location(zone)
    assert {k: loc[k] for k in expected} == expected
