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
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

from carbon_magic.ledger import Ledger  # noqa: E402

pytestmark = pytest.mark.slow  # notebooks run in a real kernel

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
    shutil.copytree(NB_DIR / "data", work / "data")  # recorded series (data/README.md)
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
def check(directory: Path = NB_DIR) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(NB_DIR / "build_notebooks.py"), "--check", "--dir", str(directory)],
                          capture_output=True, text=True)


def test_notebooks_match_their_generator():
    result = check()
    assert result.returncode == 0, result.stderr
    for name in NOTEBOOKS:
        nbformat.validate(nbformat.read(NB_DIR / f"{name}.ipynb", as_version=4))


def save_as_jupyterlab_does(path: Path) -> None:
    """What running the notebook and saving it in JupyterLab changes: outputs, execution counts,
    kernel metadata (language_info), new cell ids, cell metadata (ours included), nbformat minor."""
    nb = nbformat.read(path, as_version=4)
    nb.nbformat_minor = 5
    nb.metadata["language_info"] = {"codemirror_mode": {"name": "ipython", "version": 3}, "file_extension": ".py",
                                    "mimetype": "text/x-python", "name": "python", "nbconvert_exporter": "python",
                                    "pygments_lexer": "ipython3", "version": "3.11.7"}
    for n, cell in enumerate(nb.cells, 1):
        cell["id"] = f"{n:08x}-saved"
        if cell.cell_type == "code":
            cell.execution_count = n
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="⚡ 1.2 J\n")]
            cell.metadata["carbon_magic"] = {"last": {"energy_j": 1.2}}
            cell.metadata["execution"] = {"iopub.status.busy": "2026-11-02T10:00:00.000Z"}
    nbformat.write(nb, str(path))


def test_a_notebook_run_and_saved_in_jupyterlab_still_matches(tmp_path):
    for name in NOTEBOOKS:
        shutil.copy(NB_DIR / f"{name}.ipynb", tmp_path)
    save_as_jupyterlab_does(tmp_path / "01_quickstart.ipynb")
    result = check(tmp_path)
    assert result.returncode == 0, result.stderr

    # An edited cell is a difference, named with a warning that regenerating overwrites the edit.
    nb = nbformat.read(tmp_path / "01_quickstart.ipynb", as_version=4)
    nb.cells[1].source += "\nprint('mine')"
    nbformat.write(nb, str(tmp_path / "01_quickstart.ipynb"))
    result = check(tmp_path)
    assert result.returncode == 1
    assert "01_quickstart.ipynb" in result.stderr and "02_live_training" not in result.stderr
    assert "overwrites" in result.stderr


def test_committed_notebooks_have_no_outputs():
    """The files in git (HEAD), not the working copy a user may have run and saved."""
    for name in NOTEBOOKS:
        shown = subprocess.run(["git", "show", f"HEAD:example_notebooks/{name}.ipynb"], cwd=ROOT,
                               capture_output=True, text=True)
        if shown.returncode != 0:
            pytest.skip(f"not a git checkout with the notebooks committed ({shown.stderr.strip()[:80]})")
        nb = nbformat.reads(shown.stdout, as_version=4)
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
    assert result["rec"]["components"] == squares.to_dict()["components"]
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
    # Where widgets do not render (nbconvert), the cell's view reads the cell's own final numbers.
    assert f"carbon_magic live: final: {training.energy_text()}" in text

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
    # %carbon wait offline: one line, no wait.
    wait_lines = [ln for ln in run.text("%carbon wait").splitlines() if ln.strip()]
    assert len(wait_lines) == 1 and "no forecast" in wait_lines[0] and "not waiting" in wait_lines[0]
    # The recorded series replayed: a 10 h wait (14:00 -> 00:00, 76.94 and 73 g/kWh) in seconds, and the next
    # cell's record says it was deferred, with the saving priced by that series (142.62 at 14:00, 76.94 at 00:00
    # for a cell of a few seconds).
    waited = run.result("wait_for_green")
    rec = run.by_label("after the wait")
    assert waited["outcome"] == "reached" and waited["waited_h"] == pytest.approx(10, abs=0.25)
    # (abs: the replay clock runs 2 h per real second, so a loaded machine's 0.1 s before the plan is 0.2 h)
    # (rel: the replay clock has run a few seconds past 14:00 by the time the plan is made)
    assert waited["forecast_saving_pct"] == pytest.approx(100 * (1 - (76.94 + 73) / (142.62 + 162.42)), rel=2e-3)
    assert rec.deferred_s == pytest.approx(waited["waited_h"] * 3600) and rec.avoided_basis == "forecast"
    assert rec.avoided_g == pytest.approx(rec.energy_j / 3.6e6 * (142.62 - 76.94), rel=1e-3)
    assert re.search(r"deferred (9 h [45]\d|10 h 00) min for a greener grid: ≈ .* avoided \(forecast\)",
                     run.text('%%carbon --label "after the wait"'))


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
    assert len(rows) == len(names)  # exported after the three participants' cells
    assert sum(float(r["emissions"]) for r in rows) * 1000 == pytest.approx(
        sum(recs[n].emissions_g for n in names), rel=1e-3)
    assert [r["unit"] for r in rows] == ["samples"] * 3  # `--per {len(X_tr)} samples`

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

    # Disclose: the model card written from participant B's training cell and the inference cell.
    b, pred = recs["participant_B"], run.by_label("predict")
    assert b.units["unit"] == "samples" and b.units["count"] > 0 and b.embodied_g > 0
    card = (out / "model-card.md").read_text()
    lines = card.split("\n")
    assert lines[0] == "---"
    yaml = pytest.importorskip("yaml")
    co2 = yaml.safe_load("\n".join(lines[1:lines.index("---", 1)]))["co2_eq_emissions"]
    assert co2["emissions"] == pytest.approx(b.emissions_g, rel=1e-4)
    assert co2["training_type"] == "pre-training"
    assert "## Environmental Impact" in card and "- **Carbon Emitted:** " in card and "±" in card
    spdx = json.loads(card.split("```json\n", 1)[1].split("```", 1)[0])
    assert float(spdx["ai_trainingEnergyConsumption"][0]["ai_energyQuantity"]) == pytest.approx(
        b.energy_j / 3.6e6, rel=1e-4)
    assert float(spdx["ai_inferenceEnergyConsumption"][0]["ai_energyQuantity"]) == pytest.approx(
        pred.energy_j / 3.6e6, rel=1e-4)
    disclosed = run.result("disclose")
    assert disclosed["sci_g_per_sample"] == pytest.approx((b.emissions_g + b.embodied_g) / b.units["count"])
    assert "per sample" in run.text("%%carbon --label participant_B")
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
