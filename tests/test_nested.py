"""`carbon_magic.measure()` inside a `%%carbon` cell (workshop notebook 02 measures each epoch):
the inner record is a child of its cell (`parent`), kept in the ledger and the exports, shown under
the cell, and never added to a total: table, CSV, JSON, whatif, status and `carbon-magic report`."""
from __future__ import annotations

import io
import json
import time

import pandas as pd
import pytest

import carbon_magic
from carbon_magic.cli import build_parser, report_main
from carbon_magic.extension import session_for
from carbon_magic.record import CellRecord, parent_key, record_problem
from carbon_magic.report.sources import read_ledger
from carbon_magic.units import fmt_energy, fmt_mass_g

from conftest import run
from report_helpers import Bench

CELL = """%%carbon --quiet --label training -o outer
for i in (1, 2):
    with carbon_magic.measure(label=f"epoch {i}", session=session) as m:
        pc.advance('intel-rapl:0', 20.0)
        time.sleep(0.01)  # longer than RAPL's 1 ms update (shorter: last power x duration)
pc.advance('intel-rapl:0', 10.0)
time.sleep(0.01)
"""


@pytest.fixture
def nested(shell, powercap):
    """One cell of 50 J or more (two 20 J epochs inside it, measured with measure())."""
    shell.user_ns.update(pc=powercap, session=session_for(shell), carbon_magic=carbon_magic, time=time)
    assert run(shell, CELL).success
    return shell


def test_measure_inside_a_cell_is_a_child_of_that_cell(nested):
    session = session_for(nested)
    outer = nested.user_ns["outer"]
    epochs = [r for r in session.records if r.label and r.label.startswith("epoch")]
    assert [r.label for r in session.records] == ["epoch 1", "epoch 2", "training"]
    assert outer.parent is None and outer.energy_j >= 50.0
    for r in epochs:
        assert r.parent == {"start_s": outer.start_s, "cell_id": None, "label": "training"}
        assert r.to_dict()["parent"] == {"started_at": outer.to_dict()["started_at"], "cell_id": None, "label": "training"}
        assert r.energy_j >= 20.0
    assert sum(r.energy_j for r in epochs) <= outer.energy_j  # inside the cell, not beside it
    # Kept in the ledger with the link, and read back.
    stored = session.ledger.records(session.session_id)
    assert [r.to_dict()["parent"] for r in stored] == [r.to_dict()["parent"] for r in session.records]
    assert [parent_key(r) for r in stored] == [parent_key(r) for r in session.records]


def test_nested_energy_is_not_added_to_any_total(nested, tmp_path, capsys):
    session = session_for(nested)
    outer = nested.user_ns["outer"]
    capsys.readouterr()

    # %carbon table: the epochs listed under their cell, the total is the cell's.
    table = nested.run_line_magic("carbon", "table")
    names = [row[0] for row in table.rows()]
    assert names == ["training", "↳ epoch 1", "↳ epoch 2"]
    total = table.footer()[0]
    assert total[0] == "cells" and total[1].startswith("1 measured cell") and "2 nested" in total[1]
    assert fmt_energy(outer.energy_j) in total and fmt_mass_g(outer.emissions_g) in total

    # CSV: every record kept, children under their cell with `parent`; the top-level rows sum to the cell.
    path = tmp_path / "s.csv"
    nested.run_line_magic("carbon", f"export {path}")
    df = pd.read_csv(path, keep_default_na=False)
    assert df["label"].tolist() == ["training", "epoch 1", "epoch 2"]
    assert df["parent"].tolist() == ["", "training", "training"]
    assert df["parent_started_at"].tolist()[1:] == [outer.to_dict()["started_at"]] * 2
    top = df[df["parent"] == ""]
    assert top["energy_consumed"].sum() * 3.6e6 == pytest.approx(outer.energy_j)

    # JSON: records all there, totals from the cell alone.
    path = tmp_path / "s.json"
    nested.run_line_magic("carbon", f"export {path}")
    doc = json.loads(path.read_text())
    assert len(doc["records"]) == 3
    assert doc["totals"]["cells"] == 1 and doc["totals"]["cells_energy_j"] == pytest.approx(outer.energy_j)
    assert doc["totals"]["emissions_g"] == pytest.approx(outer.emissions_g)
    assert sum(c["energy_j"] for c in doc["components"]) == pytest.approx(outer.energy_j)

    # %carbon whatif: the session's energy is the cell's.
    result = nested.run_line_magic("carbon", "whatif FR")
    assert result.cells == 1 and result.energy_j == pytest.approx(outer.energy_j)
    assert result.baseline_g == pytest.approx(outer.emissions_g)
    epoch = nested.run_line_magic("carbon", "whatif FR --label 'epoch 1'")  # asked for by name: that one
    assert epoch.cells == 1 and epoch.energy_j < outer.energy_j

    # %carbon status: one measured cell.
    assert session.totals()["cells"] == 1 and session.totals()["cells_energy_j"] == pytest.approx(outer.energy_j)
    capsys.readouterr()
    nested.run_line_magic("carbon", "status")
    cells_line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.strip().startswith("cells"))
    assert fmt_energy(outer.energy_j) in cells_line and "1 measured cell (+2 nested, counted in their cells)" in cells_line

    # carbon-magic report --ledger: the same total, one run.
    out, err = io.StringIO(), io.StringIO()
    code = report_main(build_parser().parse_args(["report", "--ledger", str(session.ledger.path)]), out, err)
    assert code == 0, err.getvalue()
    [source] = read_ledger(session.ledger.path)
    assert source.runs == 1 and source.report.totals["cells_energy_j"] == pytest.approx(outer.energy_j)
    assert fmt_energy(outer.energy_j) in out.getvalue() and "1 run," in out.getvalue()


def test_measure_inside_measure_outside_ipython(tmp_path, clock, powercap):
    """A script: the inner window is the outer one's child; the next window is top level again."""
    b = Bench(tmp_path, clock, powercap)
    with carbon_magic.measure(label="job", session=b.session) as job:
        with carbon_magic.measure(label="step", session=b.session) as step:
            clock.advance(1.0)
            powercap.advance("intel-rapl:0", 30.0)
            b.session.sampler.tick()
    after = b.cell(1.0, 5.0, label="after")
    assert step.record.parent["label"] == "job" and step.record.parent["start_s"] == job.record.start_s
    assert job.record.parent is None and after.parent is None
    assert b.session.totals()["cells_energy_j"] == pytest.approx(job.record.energy_j + after.energy_j)


def test_records_without_parent_are_top_level_and_bad_parents_are_refused(tmp_path, clock, powercap):
    d = Bench(tmp_path, clock, powercap).cell(1.0, 5.0).to_dict()
    old = {k: v for k, v in d.items() if k != "parent"}  # a v1 record written before the key existed
    assert record_problem(old) is None and CellRecord.from_dict(old).parent is None
    for bad, why in (("x", "parent is not an object"), ({}, "parent.started_at"),
                     ({"started_at": d["started_at"], "execution_count": "3"}, "parent.execution_count")):
        assert why in record_problem({**d, "parent": bad})
