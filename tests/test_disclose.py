"""Disclose: per-unit figures and SCI (`--per`), embodied carbon, water, and the model card.

Records come from real sessions on fake hardware (report_helpers.Bench) or from a real IPython
shell (the `shell` fixture); only the powercap tree, NVML and the clock are fakes.
"""
from __future__ import annotations

import importlib
import io
import json
import math
import re

import pandas as pd
import pytest
from IPython.core.error import UsageError

from carbon_magic.config import Settings
from carbon_magic.record import CellRecord, record_problem
from carbon_magic.report import Report, formats, json_export
from carbon_magic.report.table import CellTable
from carbon_magic.units import J_PER_KWH
from report_helpers import Bench

yaml = pytest.importorskip("yaml")


class _Lazy:
    """A module imported when first used, so that each test (not the file's collection) fails
    where the module is missing."""

    def __init__(self, name):
        self._name = name

    def __getattr__(self, attr):
        return getattr(importlib.import_module(self._name), attr)


embodied, water = _Lazy("carbon_magic.report.embodied"), _Lazy("carbon_magic.report.water")
mc, sci = _Lazy("carbon_magic.report.model_card"), _Lazy("carbon_magic.report.sci")
YEAR_S = 365.25 * 86400
HOSTILE = 'fit: x\n---\nco2_eq_emissions: {emissions: 0}\n"\\ # <!-- |'


@pytest.fixture
def bench(tmp_path, clock, powercap):
    b = Bench(tmp_path, clock, powercap, gpu=True, zone="FR", gpu_model="NVIDIA A100-SXM4-80GB",
              wue_l_per_kwh=0.5, pue=1.2)
    yield b
    b.close()


def front_matter(text: str) -> dict:
    """The YAML between the first two `---` lines, as the Hub reads a model card."""
    lines = text.split("\n")
    assert lines[0] == "---"
    end = lines.index("---", 1)
    return yaml.safe_load("\n".join(lines[1:end]))


# -- --per N UNIT ------------------------------------------------------------------------------
def test_per_puts_units_in_the_record_and_per_unit_figures_in_the_summary(shell, capsys):
    shell.run_cell("%%carbon --label fit --per 60000 samples -o rec\ntotal = sum(range(200_000))")
    rec = shell.user_ns["rec"]
    assert shell.user_ns["total"] == sum(range(200_000))  # the cell ran unchanged
    assert rec.units == {"count": 60000, "unit": "samples"}
    assert rec.to_dict()["units"] == {"count": 60000, "unit": "samples"}
    out = capsys.readouterr().out
    assert "per sample" in out and "SCI" in out and "M estimated" in out
    stored = shell.run_line_magic("carbon", "table")
    assert "per unit (energy · CO₂e)" in stored.text() and "/sample" in stored.text()


@pytest.mark.parametrize("header", ["--per -5 samples", "--per 0 samples", "--per nan samples", "--per inf tokens",
                                    "--per 1e400 tokens", "--per 5 'two words'", "--per 5", "--per x samples",
                                    "--per 5 sa;mples"])
def test_per_rejects_bad_input_with_one_line_and_the_cell_does_not_run(shell, header):
    result = shell.run_cell(f"%%carbon {header}\nran = True")
    assert isinstance(result.error_in_exec, UsageError)
    assert "\n" not in str(result.error_in_exec) and "--per" in str(result.error_in_exec)
    assert "ran" not in shell.user_ns


def test_sci_is_operational_plus_embodied_per_unit(bench):
    r = bench.cell(10, cpu_j=500, gpu_j=2000, label="fit", units={"count": 1000, "unit": "images"})
    p = sci.per_unit(r)
    assert p["unit"] == "image" and p["count"] == 1000
    assert p["energy_j"] == pytest.approx(r.energy_j / 1000)
    assert p["emissions_g"] == pytest.approx(r.emissions_g / 1000)
    assert p["sci_g"] == pytest.approx((r.emissions_g + r.embodied_g) / 1000)
    assert sci.per_unit(bench.cell(1, cpu_j=10)) is None  # no --per: no per-unit figures


# -- embodied (SCI's M) ------------------------------------------------------------------------
def test_embodied_is_a_time_share_of_the_table_row_with_its_source(bench):
    r = bench.cell(36, cpu_j=500, gpu_j=2000)
    row = embodied.gpu_row("NVIDIA A100-SXM4-80GB")
    assert row.key == "gpu-datacenter" and row.includes_host  # per-GPU share of the instance: no host row
    assert r.embodied_g == pytest.approx(row.embodied_kg * 1000 * 36 / (row.lifetime_years * YEAR_S))
    e = r.embodied
    assert e["method"] == "estimated" and e["allocation"] == "time-share"
    assert [i["row"] for i in e["items"]] == ["gpu-datacenter"]
    assert "HotCarbon" in e["source"] and "(2023)" in e["source"]
    assert e["uncertainty_g"] == pytest.approx(r.embodied_g * row.uncertainty_fraction)


def test_unknown_gpu_uses_the_generic_row_plus_the_chosen_host(tmp_path, clock, powercap):
    b = Bench(tmp_path, clock, powercap, gpu=True, embodied_host="laptop")  # NVML gives no name
    try:
        r = b.cell(100, cpu_j=100, gpu_j=100)
    finally:
        b.close()
    rows = {i["row"]: i for i in r.embodied["items"]}
    assert set(rows) == {"gpu-default", "host-laptop"}
    gpu, host = embodied.gpu_row(None), embodied.host_row("laptop")
    assert r.embodied_g == pytest.approx(sum(row.embodied_kg * 1000 * 100 / (row.lifetime_years * YEAR_S)
                                             for row in (gpu, host)))
    assert "EcoDiag" in r.embodied["source"] and "ThinkPad" in r.embodied["source"]


def test_no_hardware_counted_leaves_embodied_unset(tmp_path, clock, powercap):
    b = Bench(tmp_path, clock, powercap, embodied_host="none")
    try:
        r = b.cell(5, cpu_j=50)
    finally:
        b.close()
    assert r.embodied_g is None and "embodied_g" not in r.to_dict()
    assert sci.per_unit(CellRecord.from_dict({**r.to_dict(), "units": {"count": 5, "unit": "rows"}}))["sci_g"] is None


def test_every_embodied_row_names_its_source_url_and_year():
    rows = embodied.table()
    assert {r.key for r in rows} >= {"host-server", "host-desktop", "host-laptop", "gpu-datacenter", "gpu-default"}
    for r in rows:
        assert r.source and r.url.startswith("https://") and 2015 <= r.year <= 2030, r
        assert r.embodied_kg > 0 and r.lifetime_years > 0 and 0 < r.uncertainty_fraction < 1, r
        if r.match:
            re.compile(r.match)
    assert embodied.HOST_KINDS == ("server", "desktop", "laptop", "none")


# -- water -------------------------------------------------------------------------------------
def test_water_from_wue_on_it_energy_and_no_grid_figure_is_said(bench):
    r = bench.cell(10, cpu_j=500, gpu_j=2000)
    assert r.water_l == pytest.approx(r.energy_j / 1.2 / J_PER_KWH * 0.5)  # WUE is per kWh of IT energy
    assert r.water["method"] == "estimated" and r.water["grid_l"] is None
    assert r.water["grid_source"] == water.NO_GRID_DATA
    assert "estimated" in water.describe(r)


def test_grid_water_is_added_where_the_provider_gives_one():
    litres, prov = water.estimate(3.6e6 * 1.5, 1.5, None, grid_l_per_kwh=2.0, grid_source="example")
    assert litres == pytest.approx(3.0) and prov["onsite_l"] is None and prov["grid_l"] == pytest.approx(3.0)
    assert water.grid_water_l_per_kwh({"water_l_per_kwh": 1.7}) == 1.7
    assert water.grid_water_l_per_kwh({"water_l_per_kwh": float("nan")}) is None
    assert water.estimate(100.0, 1.0, None) == (None, None)  # nothing known: unknown, not zero


def test_wue_setting_from_environment_and_config(shell):
    assert Settings.from_env({"CARBON_MAGIC_WUE": "0.4"}).wue_l_per_kwh == 0.4
    bad = Settings.from_env({"CARBON_MAGIC_WUE": "lots", "CARBON_MAGIC_EMBODIED_HOST": "mainframe"})
    assert bad.wue_l_per_kwh is None and bad.embodied_host == "server"
    assert any("CARBON_MAGIC_WUE" in w and "not estimated" in w for w in bad.warnings)
    assert any("CARBON_MAGIC_EMBODIED_HOST" in w for w in bad.warnings)
    try:
        shell.run_line_magic("config", "CarbonMagics.wue = 0.3")
        shell.run_cell("%%carbon -q -o rec\nx = 1")
        assert shell.user_ns["rec"].water["wue_l_per_kwh"] == 0.3
        shell.run_line_magic("config", "CarbonMagics.wue = 50")  # refused (IPython logs the error)
        shell.run_cell("%%carbon -q -o rec\nx = 1")
        assert shell.user_ns["rec"].water["wue_l_per_kwh"] == 0.3
    finally:
        shell.run_line_magic("config", "CarbonMagics.wue = None")


# -- the record: optional keys, untrusted readers --------------------------------------------
def test_additions_are_absent_when_unset_and_read_back_when_set(bench):
    r = bench.cell(10, cpu_j=500, gpu_j=2000, units={"count": 7, "unit": "batches"})
    d = r.to_dict()
    assert record_problem(d) is None
    assert CellRecord.from_untrusted(json.loads(json.dumps(d))).to_dict() == d
    old = {k: v for k, v in d.items() if k not in ("units", "water_l", "water", "embodied_g", "embodied")}
    assert record_problem(old) is None and CellRecord.from_untrusted(old).units is None  # a v1 record


@pytest.mark.parametrize("key,value,where", [
    ("units", {"count": -1, "unit": "samples"}, "units count"),
    ("units", {"count": 0, "unit": "samples"}, "units count"),
    ("units", {"count": True, "unit": "samples"}, "units count"),
    ("units", {"count": "5", "unit": "samples"}, "units count"),
    ("units", {"count": 5, "unit": "two words"}, "units unit"),
    ("units", {"count": 5, "unit": 5}, "units unit"),
    ("units", [5, "samples"], "units"),
    ("water_l", -1.0, "water_l"),
    ("water_l", float("inf"), "water_l"),
    ("water", {"wue_l_per_kwh": {"x": 1}}, "water.wue_l_per_kwh"),
    ("embodied_g", "lots", "embodied_g"),
    ("embodied", {"items": "x"}, "embodied.items"),
    ("embodied", {"items": [{"g": -3}]}, "embodied.items[0].g"),
])
def test_untrusted_additions_are_rejected_in_one_line(bench, key, value, where):
    d = bench.cell(1, cpu_j=10).to_dict()
    d[key] = value
    problem = record_problem(d)
    assert problem and problem.startswith(where) and "\n" not in problem
    with pytest.raises(ValueError):
        CellRecord.from_untrusted(d)


# -- exports -----------------------------------------------------------------------------------
def test_csv_carries_water_wue_and_per_unit_columns_after_codecarbons(bench):
    bench.cell(10, cpu_j=500, gpu_j=2000, label="fit", units={"count": 100, "unit": "samples"})
    bench.cell(2, cpu_j=50)
    report = Report.from_session(bench.session, "nb")
    df = pd.read_csv(io.StringIO(formats.render(report, ".csv")))
    a, b = report.records
    assert df["water_consumed"][0] == pytest.approx(a.water_l) and df["wue"][0] == 0.5
    assert df["unit"][0] == "samples" and df["unit_count"][0] == 100
    assert df["sci_kg_per_unit"][0] == pytest.approx((a.emissions_g + a.embodied_g) / 100 / 1000)
    assert df["emissions_kg_per_unit"][0] == pytest.approx(a.emissions_g / 100 / 1000)
    assert pd.isna(df["unit"][1]) and pd.isna(df["sci_kg_per_unit"][1])
    assert "estimated" in df["embodied_method"][0] and "estimated" in df["water_method"][0]
    assert list(df.columns).index("unit") > list(df.columns).index("wue")


def test_csv_water_is_empty_not_zero_without_a_wue(tmp_path, clock, powercap):
    b = Bench(tmp_path, clock, powercap)
    try:
        b.cell(3, cpu_j=30)
        df = pd.read_csv(io.StringIO(formats.render(Report.from_session(b.session, "nb"), ".csv")))
    finally:
        b.close()
    assert pd.isna(df["water_consumed"][0]) and pd.isna(df["wue"][0])


def test_json_export_has_per_unit_rows_and_records_keep_their_units(bench):
    bench.cell(10, cpu_j=500, gpu_j=2000, label="fit", units={"count": 4, "unit": "epochs"})
    report = Report.from_session(bench.session, "nb")
    doc, records = json_export.parse(json_export.render(report))
    (row,) = doc["per_unit"]
    r = report.records[0]
    assert row["unit"] == "epochs" and row["count"] == 4 and row["embodied"] == "estimated"
    assert row["sci_g_per_unit"] == pytest.approx((r.emissions_g + r.embodied_g) / 4)
    assert records[0].units == {"count": 4, "unit": "epochs"} and records[0].water_l == pytest.approx(r.water_l)


def test_table_shows_per_unit_and_sci_only_when_a_cell_has_units(bench):
    bench.cell(1, cpu_j=10)
    plain = CellTable(Report.from_session(bench.session, "nb"))
    assert "SCI (E·I+M)/R" not in plain.header()
    bench.cell(10, cpu_j=500, gpu_j=2000, units={"count": 1000, "unit": "tokens"})
    table = CellTable(Report.from_session(bench.session, "nb"))
    assert "SCI (E·I+M)/R" in table.header()
    assert all(len(row) == len(table.header()) for row in table.rows() + table.footer())
    assert "/token" in table.text() and "/token" in table.html()


# -- the model card ----------------------------------------------------------------------------
@pytest.fixture
def card_report(bench):
    bench.cell(20, cpu_j=500, gpu_j=4000, label="fit", units={"count": 60000, "unit": "samples"})
    bench.cell(5, cpu_j=100, gpu_j=500, label="eval", units={"count": 100, "unit": "requests"})
    bench.cell(2, cpu_j=20)  # unlabelled: not in the card by default
    return Report.from_session(bench.session, "mnist <demo>")


def test_model_card_front_matter_is_the_hubs_co2_eq_emissions(card_report):
    text = mc.render(card_report, mc.CardOptions(inference=["eval"]))
    meta = front_matter(text)
    co2 = meta["co2_eq_emissions"]
    assert set(meta) == {"co2_eq_emissions"}
    assert set(co2) == {"emissions", "source", "training_type", "geographical_location", "hardware_used"}
    fit = card_report.records[0]
    assert isinstance(co2["emissions"], float) and co2["emissions"] == pytest.approx(fit.emissions_g, rel=1e-5)
    assert co2["training_type"] == "pre-training"
    assert co2["geographical_location"] == "France (FR)"
    assert "1 x NVIDIA A100-SXM4-80GB" in co2["hardware_used"]
    assert "carbon_magic" in co2["source"] and "measured" in co2["source"] and "estimated" in co2["source"]


def test_model_card_fills_environmental_impact_with_measured_estimated_and_uncertainty(card_report):
    text = mc.render(card_report, mc.CardOptions(inference=["eval"]))
    body = text.split("## Environmental Impact", 1)[1]
    for field in ("Hardware Type", "Hours used", "Cloud Provider", "Compute Region", "Carbon Emitted"):
        assert f"- **{field}:** " in body
    fit = card_report.records[0]
    assert f"- **Hours used:** {20 / 3600:.4g}" in body
    emitted = body.split("- **Carbon Emitted:** ", 1)[1].split("\n", 1)[0]
    assert "±" in emitted and "measured by hardware energy counters" in emitted and "estimated" in emitted
    assert "\\[More Information Needed\\]" in body  # FR is not a cloud region
    assert "SCI" in body and "per sample" in body and "per request" in body
    assert fit.uncertainty_j > 0 and "Not all of this energy was measured" in body  # RAM is estimated


def test_model_card_spdx_block_uses_the_3_0_1_ai_names(card_report):
    text = mc.render(card_report, mc.CardOptions(inference=["eval"], training_type="fine-tuning"))
    block = json.loads(text.split("```json\n", 1)[1].split("```", 1)[0])
    fit, ev = card_report.records[0], card_report.records[1]
    assert block["type"] == "ai_EnergyConsumption"
    assert set(block) == {"type", "ai_finetuningEnergyConsumption", "ai_inferenceEnergyConsumption"}
    (ft,), (inf,) = block["ai_finetuningEnergyConsumption"], block["ai_inferenceEnergyConsumption"]
    for desc, rec in ((ft, fit), (inf, ev)):
        assert desc["type"] == "ai_EnergyConsumptionDescription" and desc["ai_energyUnit"] == "kilowattHour"
        assert re.fullmatch(r"\d+\.\d+", desc["ai_energyQuantity"])  # xsd:decimal
        assert float(desc["ai_energyQuantity"]) == pytest.approx(rec.energy_j / J_PER_KWH, rel=1e-5)
    assert front_matter(text)["co2_eq_emissions"]["training_type"] == "fine-tuning"


def test_model_card_stays_valid_yaml_with_hostile_labels_and_host_text(tmp_path, clock, powercap):
    b = Bench(tmp_path, clock, powercap, gpu=True, gpu_model='A100"\n---\nevil: 1 # \\', zone="FR")
    try:
        b.cell(10, cpu_j=100, gpu_j=1000, label=HOSTILE)
        report = Report.from_session(b.session, "nb\n---\n")
    finally:
        b.close()
    report.host["cpu_model"] = "x: y\r\n--- \u2028 \ud800 \x1b[31m"
    text = mc.render(report)
    meta = front_matter(text)
    assert set(meta) == {"co2_eq_emissions"} and "evil" not in meta
    assert set(meta["co2_eq_emissions"]) == {"emissions", "source", "training_type", "geographical_location",
                                             "hardware_used"}
    assert meta["co2_eq_emissions"]["hardware_used"].startswith('1 x A100"?---?evil: 1 # \\')
    assert [i for i, line in enumerate(text.split("\n")) if line.strip() == "---"] == [0, 8]  # only the fences
    assert "<!-- |" not in text and "\x1b" not in text
    text.encode("utf-8")  # no lone surrogate survives


def test_yaml_scalars_read_back_exactly():
    for s in ["plain", 'a "quoted" \\ back', "x: y # z", "--- ", "ünïcødé · ±"]:
        assert yaml.safe_load(f"k: {mc.yaml_str(s)}")["k"] == s
    for v in [12.345678, 0.0000123456, 1234567.0, 3e-9]:
        loaded = yaml.safe_load(f"k: {mc.yaml_number(v)}")["k"]
        assert isinstance(loaded, float) and math.isclose(loaded, v, rel_tol=1e-5)


def test_model_card_cells_default_to_the_labelled_ones_and_unknown_labels_are_refused(card_report):
    meta = front_matter(mc.render(card_report))  # fit and eval, both labelled: both training
    fit, ev, plain = card_report.records
    assert meta["co2_eq_emissions"]["emissions"] == pytest.approx(fit.emissions_g + ev.emissions_g, rel=1e-5)
    only = front_matter(mc.render(card_report, mc.CardOptions(cells=["eval"])))
    assert only["co2_eq_emissions"]["emissions"] == pytest.approx(ev.emissions_g, rel=1e-5)
    with pytest.raises(mc.CardError, match="no measured cell is labelled 'nope'; labels: eval, fit"):
        mc.render(card_report, mc.CardOptions(cells=["nope"]))


def test_export_magic_writes_a_model_card_by_name_or_flag(shell, tmp_path):
    shell.run_cell("%%carbon --label fit --per 10 samples -q\nx = sum(range(1000))")
    shell.run_line_magic("carbon", f"export {tmp_path / 'model-card.md'}")
    assert front_matter((tmp_path / "model-card.md").read_text())["co2_eq_emissions"]["emissions"] > 0
    shell.run_line_magic("carbon", f"export {tmp_path / 'README.md'} --model-card --training-type fine-tuning")
    assert "fine-tuning" in (tmp_path / "README.md").read_text()
    shell.run_line_magic("carbon", f"export {tmp_path / 'receipt.md'}")
    assert (tmp_path / "receipt.md").read_text().startswith("# Carbon receipt")
    for bad in (f"export {tmp_path / 'x.csv'} --model-card", f"export {tmp_path / 'x.csv'} --cells fit",
                f"export {tmp_path / 'm.md'} --model-card --cells nope", f"export {tmp_path / 'm.md'} --training-type x"):
        with pytest.raises(UsageError) as err:
            shell.run_line_magic("carbon", bad)
        assert "\n" not in str(err.value)
    assert not (tmp_path / "m.md").exists() and not (tmp_path / "x.csv").exists()


def test_cli_writes_a_model_card_from_notebook_metadata(tmp_path, card_report, capsys):
    from carbon_magic.cli import main
    from test_cli import write_notebook

    nb = write_notebook(tmp_path / "train.ipynb", card_report.records)
    out = tmp_path / "card.md"
    assert main(["report", str(nb), "--model-card", str(out), "--inference", "eval"]) == 0
    meta = front_matter(out.read_text())
    assert meta["co2_eq_emissions"]["emissions"] == pytest.approx(card_report.records[0].emissions_g, rel=1e-5)
    assert "ai_inferenceEnergyConsumption" in out.read_text()
    assert main(["report", str(nb), "--model-card", str(tmp_path / "x.md"), "--cells", "nope"]) == 2
    assert main(["report", str(nb), "--cells", "fit"]) == 2
    assert main(["report", str(nb), "--model-card", str(tmp_path / "x.txt")]) == 2
    err = capsys.readouterr().err
    assert "no measured cell is labelled 'nope'" in err and "need --model-card" in err
