"""The workshop notebooks run headless (nbclient, a real kernel) and produce what they teach.

Each test copies one notebook and its helper module to a temp dir, runs it with a temp
CARBON_MAGIC_DATA_DIR (so the ledger the kernel writes is this run's only), no zone and no provider
token (offline), and then checks what the notebook produced against that ledger: the records it
should have made, energies > 0, and the comparison cells' numbers recomputed from the records.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

from carbon_magic.ledger import Ledger  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "example_notebooks"
NOTEBOOKS = ["01_quickstart", "02_live_training", "03_mixed_precision", "04_search_strategies",
             "05_where_and_when", "06_reporting", "07_cluster"]
LIMIT_S = 180  # per notebook, on the CI machine (2 cores, no GPU)
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


class Run:
    def __init__(self, nb, work: Path, data: Path, seconds: float):
        self.nb, self.work, self.data, self.seconds = nb, work, data, seconds

    def records(self):
        ledger = Ledger.in_dir(self.data)
        try:
            return ledger.records()
        finally:
            ledger.close()

    def by_label(self, label):
        found = [r for r in self.records() if r.label == label]
        assert len(found) == 1, f"expected one record labelled {label!r}, got {len(found)}"
        return found[0]

    def cell(self, source_start: str):
        cells = [c for c in self.nb.cells if c.cell_type == "code" and c.source.lstrip().startswith(source_start)]
        assert cells, f"no code cell starting with {source_start!r}"
        return cells[0]

    def text(self, source_start: str) -> str:
        return outputs_text(self.cell(source_start))

    def result(self, name: str) -> dict:
        for c in self.nb.cells:
            for out in c.get("outputs", []):
                payload = out.get("data", {}).get("application/json")
                if isinstance(payload, dict) and payload.get("workshop_result") == name:
                    return payload
        raise AssertionError(f"the notebook displayed no result {name!r}")


def outputs_text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type in ("display_data", "execute_result"):
            data = out.get("data", {})
            parts.append(data.get("text/plain", "") + "\n" + data.get("text/html", ""))
        elif out.output_type == "error":
            parts.append("\n".join(out.traceback))
    return "\n".join(parts)


@pytest.fixture
def workshop(tmp_path, monkeypatch):
    """A participant's folder: the helper module beside the notebook, a fresh ledger, offline."""
    work = tmp_path / "participant"
    work.mkdir()
    shutil.copy(NB_DIR / "workshop_utils.py", work)
    data = tmp_path / "data"
    monkeypatch.setenv("CARBON_MAGIC_DATA_DIR", str(data))
    # The kernel imports this checkout's package, and `!carbon-magic` finds this environment's script.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
    monkeypatch.setenv("PATH", os.pathsep.join((str(Path(sys.executable).parent), os.environ.get("PATH", ""))))
    for var in ("CARBON_MAGIC_ZONE", "CARBON_MAGIC_PROVIDER", "ELECTRICITYMAPS_API_TOKEN", "WATTTIME_USERNAME",
                "WATTTIME_PASSWORD", "CARBON_MAGIC_PUE", "CARBON_MAGIC_INTERVAL_S", "CARBON_MAGIC_POWERCAP_ROOT"):
        monkeypatch.delenv(var, raising=False)

    def execute(name: str, extra_cells=()) -> Run:
        nb = nbformat.read(NB_DIR / f"{name}.ipynb", as_version=4)
        for src in extra_cells:
            nb.cells.append(nbformat.v4.new_code_cell(src))
        t0 = time.perf_counter()
        try:
            nbclient.NotebookClient(nb, timeout=LIMIT_S, kernel_name="python3",
                                    resources={"metadata": {"path": str(work)}}).execute()
        finally:
            nbformat.write(nb, str(work / f"{name}.executed.ipynb"))  # for a failing run's post-mortem
        seconds = time.perf_counter() - t0
        print(f"\n{name}: executed in {seconds:.1f} s")
        assert seconds <= LIMIT_S
        return Run(nb, work, data, seconds)

    return execute


def assert_positive(records):
    assert records, "no records in the ledger"
    for r in records:
        assert r.status == "ok", r
        assert r.energy_j > 0 and r.emissions_g > 0 and r.duration_s > 0, r
        assert r.components and all(c.energy_j >= 0 for c in r.components)


# -- the committed files -------------------------------------------------------------------------
def test_notebooks_are_generated_and_committed_without_outputs():
    check = subprocess.run([sys.executable, str(NB_DIR / "build_notebooks.py"), "--check"],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    for name in NOTEBOOKS:
        nb = nbformat.read(NB_DIR / f"{name}.ipynb", as_version=4)
        nbformat.validate(nb)
        for c in nb.cells:
            if c.cell_type == "code":
                assert c.outputs == [] and c.execution_count is None, f"{name}: cell {c.id} has outputs"


# -- 01 ------------------------------------------------------------------------------------------
def test_01_quickstart(workshop):
    run = workshop("01_quickstart", extra_cells=[
        'import sys, json; print("HEAVY", json.dumps([m for m in ("torch", "sklearn") if m in sys.modules]))'])
    records = run.records()
    assert_positive(records)

    # One record per %%carbon cell, plus one per cell run in auto mode (the control cells excluded).
    sources = [c.source.strip() for c in run.nb.cells if c.cell_type == "code"]
    magic_cells = sum(s.startswith("%%carbon") for s in sources)
    auto_cells = sources.index("%carbon auto off") - sources.index("%carbon auto on") - 1
    assert magic_cells >= 3 and auto_cells >= 2
    assert len(records) == magic_cells + auto_cells
    assert {"sort", "squares"} <= {r.label for r in records}

    # The pre-flight names every source the records use, and the zone.
    status = run.text("%carbon status")
    assert "zone" in status
    for comp in records[0].components:
        assert comp.name in status

    # -o rec: the same record as the ledger's.
    squares = run.by_label("squares")
    result = run.result("quickstart")
    assert result["rec"]["energy_j"] == pytest.approx(squares.energy_j)
    assert result["rec"]["components"] == [c.__dict__ for c in squares.components]
    assert "energy:" in run.text("print(f\"energy: {rec.energy_j")
    assert result["cells"] == len(records)
    assert result["total_energy_j"] == pytest.approx(sum(r.energy_j for r in records))

    # The table lists the labelled cells; the export has one row per record, same totals.
    table = run.text("%carbon table")
    assert "sort" in table and "squares" in table
    with open(run.work / "outputs" / "01_quickstart.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(records) == result["csv_rows"]
    assert sum(float(r["emissions"]) for r in rows) * 1000 == pytest.approx(
        sum(r.emissions_g for r in records), rel=1e-3)

    # The quick start needs neither PyTorch nor scikit-learn.
    heavy = run.text('import sys, json; print("HEAVY"')
    assert json.loads(heavy.split("HEAVY", 1)[1]) == []


# -- 02 ------------------------------------------------------------------------------------------
def test_02_live_training(workshop):
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    run = workshop("02_live_training")
    records = run.records()
    assert_positive(records)
    training = run.by_label("training")
    epochs = [run.by_label(f"epoch {i}") for i in range(1, 7)]

    # The live widget is displayed in the training cell, and each epoch's energy printed as it trained.
    cell = run.cell("%%carbon --live")
    assert any(WIDGET_MIME in out.get("data", {}) for out in cell.outputs), "no live widget displayed"
    text = outputs_text(cell)
    for i in range(1, 7):
        assert f"epoch {i}: loss" in text

    # Epochs are nested in the cell: their sum is at most the cell's energy; the notebook's sums match.
    result = run.result("live_training")
    epochs_j = sum(r.energy_j for r in epochs)
    assert epochs_j <= training.energy_j * (1 + 1e-9)
    assert result["epochs_energy_j"] == pytest.approx(epochs_j)
    assert result["cell_energy_j"] == pytest.approx(training.energy_j)
    assert result["outside_epochs_j"] == pytest.approx(training.energy_j - epochs_j)
    assert [row["energy_j"] for row in result["rows"]] == pytest.approx([r.energy_j for r in epochs])
    assert result["final_accuracy"] > 0.8  # the model did train


# -- 03 ------------------------------------------------------------------------------------------
def test_03_mixed_precision(workshop):
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    run = workshop("03_mixed_precision")
    assert_positive(run.records())
    fp32, mixed = run.by_label("fp32"), run.by_label("mixed")
    result = run.result("mixed_precision")
    assert [row["name"] for row in result["rows"]][0] == "float32"
    assert result["rows"][1]["name"] in ("bfloat16", "float16")
    assert result["energy_ratio_mixed_over_fp32"] == pytest.approx(mixed.energy_j / fp32.energy_j)
    assert result["time_ratio_mixed_over_fp32"] == pytest.approx(mixed.duration_s / fp32.duration_s)
    assert result["energy_saving_pct"] == pytest.approx((1 - mixed.energy_j / fp32.energy_j) * 100)
    for row in result["rows"]:
        assert row["accuracy"] > 0.8
    assert result["accuracy_change"] == pytest.approx(result["rows"][1]["accuracy"] - result["rows"][0]["accuracy"])
    ratio = mixed.energy_j / fp32.energy_j
    verdict = f"{(1 - ratio) * 100:.0f} % less energy than" if ratio < 1 else f"{ratio:.1f}× the energy of"
    assert f"Mixed precision used {verdict} float32" in run.text("rows = [w.record_row(res")


# -- 04 ------------------------------------------------------------------------------------------
def test_04_search_strategies(workshop):
    pytest.importorskip("sklearn")
    run = workshop("04_search_strategies")
    assert_positive(run.records())
    recs = {name: run.by_label(name) for name in ("grid", "random", "halving")}
    result = run.result("search_strategies")
    rows = {row["name"]: row for row in result["rows"]}
    assert rows["grid"]["fits"] == 75 and rows["random"]["fits"] == 24
    for name, rec in recs.items():
        assert rows[name]["energy_j"] == pytest.approx(rec.energy_j)
        assert rows[name]["energy_vs_grid"] == pytest.approx(rec.energy_j / recs["grid"].energy_j)
        assert rows[name]["reached_target"] == (rows[name]["test_accuracy"] >= result["target_accuracy"])
    # The lesson holds on this machine: the budgeted searches cost less than the full grid.
    assert recs["random"].energy_j < recs["grid"].energy_j
    assert recs["halving"].energy_j < recs["grid"].energy_j
    reached = [n for n in rows if rows[n]["reached_target"]]
    assert reached, "no strategy reached the accuracy target"
    cheapest = min(reached, key=lambda n: recs[n].energy_j)
    assert result["cheapest_reaching_target"] == cheapest
    assert result["saving_vs_grid_j"] == pytest.approx(recs["grid"].energy_j - recs[cheapest].energy_j)
    assert result["saving_vs_grid_g"] == pytest.approx(recs["grid"].emissions_g - recs[cheapest].emissions_g)


# -- 05 ------------------------------------------------------------------------------------------
def test_05_where_and_when(workshop):
    pytest.importorskip("numpy")
    run = workshop("05_where_and_when")
    assert_positive(run.records())
    assert "offline" in run.text("%load_ext carbon_magic")
    here = run.by_label("train (us-east-1)")
    assert here.intensity.get("zone") == "aws:us-east-1", here.intensity
    whatif = run.text("whatif = %carbon whatif")
    for zone in ("aws:us-east-1", "gcp:europe-north1", "FR", "SE"):
        assert zone in whatif, f"{zone} missing from the what-if output:\n{whatif}"
    assert "%" in whatif  # the saving against the current zone
    # The computed comparison: one row per zone asked for, savings against the measured grams.
    result = run.result("where_and_when")
    rows = {r["zone"]: r for r in result["rows"]}
    assert set(rows) == {"aws:us-east-1", "gcp:europe-north1", "FR", "SE"}
    assert result["energy_j"] == pytest.approx(here.energy_j)
    assert result["baseline_g"] == pytest.approx(here.emissions_g)
    assert rows["aws:us-east-1"]["emissions_g"] == pytest.approx(here.emissions_g)  # same zone, same figure
    for r in rows.values():
        assert r["emissions_g"] > 0 and "static" in r["basis"]  # offline: the embedded table, said so
        assert r["saving_g"] == pytest.approx(here.emissions_g - r["emissions_g"], abs=1e-12)
        assert r["saving_pct"] == pytest.approx(100 * r["saving_g"] / here.emissions_g, abs=1e-9)
        assert r["intensity_g_per_kwh"] == pytest.approx(r["emissions_g"] / (here.energy_j / 3.6e6))
    greenest = min(rows, key=lambda z: rows[z]["emissions_g"])
    assert result["greenest"] == greenest != "aws:us-east-1"  # hydro/nuclear grids beat us-east-1
    forecast = run.text("%carbon forecast").lower()
    assert forecast.strip(), "the forecast printed nothing"
    # Offline there is no forecast series: the command must say so rather than invent a window.
    assert any(w in forecast for w in ("offline", "no forecast", "static", "embedded")), forecast


# -- 06 ------------------------------------------------------------------------------------------
def test_06_reporting(workshop):
    pytest.importorskip("sklearn")
    run = workshop("06_reporting")
    records = run.records()
    assert_positive(records)
    names = ("participant_A", "participant_B", "participant_C")
    recs = {n: run.by_label(n) for n in names}

    out = run.work / "outputs"
    receipt_md = (out / "receipt.md").read_text().replace("\\_", "_")  # Markdown escapes underscores
    receipt_html = (out / "receipt.html").read_text()
    for n in names:
        assert n in receipt_md and n in receipt_html
    with open(out / "emissions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(records)
    assert sum(float(r["emissions"]) for r in rows) * 1000 == pytest.approx(
        sum(r.emissions_g for r in records), rel=1e-3)

    # The participant notebooks carry the measured records in their cell metadata.
    for n in names:
        nb = nbformat.read(run.work / "class" / f"{n}.ipynb", as_version=4)
        stored = [c.metadata["carbon_magic"]["last"] for c in nb.cells if "carbon_magic" in c.metadata]
        assert len(stored) == 1 and stored[0]["energy_j"] == pytest.approx(recs[n].energy_j)

    # The class comparison: every participant listed, the leaderboard in ascending CO₂e.
    report = run.text("!carbon-magic report")
    assert "leaderboard" in report.lower(), report
    board = report[report.lower().rindex("leaderboard"):].splitlines()
    ranked = [line.split()[1] for line in board if line.split() and line.split()[0].isdigit()]
    expected = sorted(names, key=lambda n: recs[n].emissions_g)
    assert [Path(n).stem for n in ranked] == expected, report

    result = run.result("reporting")
    assert result["leader"] == expected[0]
    assert result["csv_rows"] == len(rows)
    assert result["highest_over_lowest"] == pytest.approx(recs[expected[-1]].emissions_g / recs[expected[0]].emissions_g)


# -- 07 ------------------------------------------------------------------------------------------
def test_07_cluster(workshop):
    pytest.importorskip("distributed")
    from carbon_magic.record import latest_revisions

    run = workshop("07_cluster")
    records = latest_revisions(run.records())  # the ledger holds every revision; the last counts
    (matmul,) = [r for r in records if r.label == "dask-matmul"]
    assert matmul.cluster["pending"] is False and matmul.cluster["engine"] == "dask"
    nodes = {n["node"]: n for n in matmul.cluster["nodes"]}
    assert set(nodes) <= {"node-a", "node-b"} and nodes, matmul.cluster
    assert matmul.cluster_energy_j > 0
    for c in matmul.components:
        if c.node:
            assert c.name.startswith(c.node + "/")
    shown = run.result("per_node")
    assert {r["node"] for r in shown["rows"]} == set(nodes)
    assert shown["cluster_energy_j"] == pytest.approx(matmul.cluster_energy_j)
    assert shown["revision"] == matmul.revision >= 1

    (late,) = [r for r in records if r.label == "outlives"]
    out = run.result("outlives")
    assert late.revision == out["revision"] >= 1 and late.cluster["pending"] is False
    assert late.cluster_energy_j > 0 and out["task_s"] >= 2.0
    assert "when the cell ended: pending True" in run.text("print(\"when the cell ended")

    status = run.text("%carbon status")
    assert "node node-a: zone" in status and "node node-b: zone" in status
