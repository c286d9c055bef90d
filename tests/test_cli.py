"""`carbon-magic report` on notebooks written with nbformat (records from real sessions) and ledgers."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from carbon_magic.cli import main
from carbon_magic.units import fmt_energy, fmt_mass_g
from report_helpers import Bench

XSS = "<img src=x onerror=alert(1)>"


def history_entry(d):
    return {k: d[k] for k in ("started_at", "energy_j", "emissions_g", "duration_s", "status")}


def write_notebook(path: Path, records, reruns=None) -> Path:
    """A notebook as the JupyterLab extension leaves it: per cell {last, history}, plus a summary."""
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_markdown_cell("# title"))
    for i, rec in enumerate(records):
        d = rec.to_dict()
        cell = nbformat.v4.new_code_cell(rec.code_head or "")
        history = [history_entry(p.to_dict()) for p in (reruns or {}).get(i, [])] + [history_entry(d)]
        cell.metadata["carbon_magic"] = {"last": d, "history": history}
        nb.cells.append(cell)
    nb.metadata["carbon_magic"] = {"schema": "carbon_magic.summary/1", "cells": len(records),
                                   "energy_j": sum(r.energy_j for r in records),
                                   "emissions_g": sum(r.emissions_g for r in records),
                                   "updated_at": "2026-09-21T14:20:00.000Z"}
    nbformat.validate(nb)
    nbformat.write(nb, str(path))
    return path


@pytest.fixture
def bench(tmp_path, clock, powercap):
    b = Bench(tmp_path, clock, powercap, zone="DE")
    yield b
    b.close()


@pytest.fixture
def notebooks(bench, tmp_path):
    """before.ipynb (two cells, one rerun) and after.ipynb (the same work, cheaper)."""
    r1 = bench.cell(60, cpu_j=3000, count=1, code="model.fit(X, y)")
    r2 = bench.cell(5, cpu_j=100, label=XSS, count=2, code="evaluate()")
    rerun = bench.cell(50, cpu_j=2500, count=3, code="model.fit(X, y)")
    before = write_notebook(tmp_path / "before.ipynb", [rerun, r2], reruns={0: [r1]})
    a1 = bench.cell(30, cpu_j=1000, count=1, code="model.fit(X_small, y)")
    after = write_notebook(tmp_path / "after.ipynb", [a1])
    return {"before": (before, [rerun, r2], [r1, rerun, r2]), "after": (after, [a1], [a1])}


def test_one_notebook_summary_and_cell_table(notebooks, capsys):
    path, last, _ = notebooks["before"]
    assert main(["report", str(path)]) == 0
    out = capsys.readouterr().out
    total = fmt_mass_g(sum(r.emissions_g for r in last))
    assert "before.ipynb" in out and total in out and fmt_energy(sum(r.energy_j for r in last)) in out
    assert "model.fit(X, y)" in out and XSS in out  # plain text: shown literally
    assert "3 runs" in out  # the rerun from the history counts in "all runs"


def test_before_after_comparison_with_differences(notebooks, capsys):
    before, after = notebooks["before"][0], notebooks["after"][0]
    assert main(["report", str(before), str(after)]) == 0
    out = capsys.readouterr().out
    board = out.split("Leaderboard")[1]
    ranks = {ln.split()[1]: ln.split()[0] for ln in board.splitlines()[3:] if ln.strip()}
    assert ranks == {"after.ipynb": "1", "before.ipynb": "2"}  # lowest CO₂e first
    b_g = sum(r.emissions_g for r in notebooks["before"][1])
    a_g = sum(r.emissions_g for r in notebooks["after"][1])
    assert f"−{fmt_mass_g(b_g - a_g)} (−{(b_g - a_g) / b_g * 100:.0f} %) CO₂e" in board
    assert "(baseline)" in board


def test_malformed_files_are_named_and_others_still_reported(notebooks, tmp_path, capsys):
    good = notebooks["after"][0]
    broken = tmp_path / "broken.ipynb"
    broken.write_text('{"cells": [', encoding="utf-8")
    notnb = tmp_path / "list.ipynb"
    notnb.write_text("[1, 2]", encoding="utf-8")
    bad_record = tmp_path / "badrecord.ipynb"
    nb = json.loads(Path(notebooks["before"][0]).read_text(encoding="utf-8"))
    nb["cells"][1]["metadata"]["carbon_magic"]["last"]["schema"] = "something/9"
    nb["cells"][2]["metadata"]["carbon_magic"]["last"]["emissions_g"] = "lots"
    bad_record.write_text(json.dumps(nb), encoding="utf-8")
    code = main(["report", str(broken), str(good), str(notnb), str(bad_record), str(tmp_path / "nope.ipynb")])
    captured = capsys.readouterr()
    assert code == 0
    err = captured.err.splitlines()
    assert any(ln.startswith(f"{broken}: not a notebook: invalid JSON") for ln in err)
    assert any(ln.startswith(f"{notnb}: not a notebook") for ln in err)
    assert any(ln.startswith(f"{tmp_path / 'nope.ipynb'}: no such file") for ln in err)
    assert any(ln.startswith("badrecord.ipynb: cell 2") and "schema" in ln for ln in err)
    assert any(ln.startswith("badrecord.ipynb: cell 3") and "emissions_g" in ln for ln in err)
    assert "after.ipynb" in captured.out and "badrecord.ipynb" in captured.out


def test_exit_code_is_nonzero_only_when_nothing_could_be_read(tmp_path, capsys):
    broken = tmp_path / "broken.ipynb"
    broken.write_text("not json", encoding="utf-8")
    assert main(["report", str(broken)]) == 1
    assert "no file could be read" in capsys.readouterr().err
    assert main(["report"]) == 2
    with pytest.raises(SystemExit) as exc:
        main(["report", "--bogus"])
    assert exc.value.code == 2


def test_output_csv_of_several_notebooks_keeps_each_project_name(notebooks, tmp_path, capsys):
    out = tmp_path / "class.csv"
    assert main(["report", str(notebooks["before"][0]), str(notebooks["after"][0]), "-o", str(out)]) == 0
    df = pd.read_csv(out)
    assert df["project_name"].tolist() == ["before", "before", "after"]
    expected = [*notebooks["before"][1], *notebooks["after"][1]]
    assert df["emissions"].tolist() == pytest.approx([r.emissions_g / 1000 for r in expected], rel=1e-12)
    shown = fmt_mass_g(sum(r.emissions_g for r in expected))
    assert fmt_mass_g(df["emissions"].sum() * 1000) == shown
    assert f"wrote {out}" in capsys.readouterr().out


@pytest.mark.parametrize("suffix", [".json", ".md", ".html", ".svg"])
def test_output_formats_agree_with_the_printed_total(notebooks, tmp_path, capsys, suffix):
    path = notebooks["before"][0]
    out = tmp_path / f"r{suffix}"
    assert main(["report", str(path), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    shown = fmt_mass_g(sum(r.emissions_g for r in notebooks["before"][1]))
    text = out.read_text(encoding="utf-8")
    assert shown in printed
    if suffix == ".json":
        assert fmt_mass_g(json.loads(text)["totals"]["emissions_g"]) == shown
    else:
        assert shown in text
    if suffix in (".html", ".svg"):
        assert XSS not in out.read_text(encoding="utf-8")


def test_bad_output_path_is_one_line_and_exit_1(notebooks, tmp_path, capsys):
    assert main(["report", str(notebooks["after"][0]), "-o", str(tmp_path / "r.docx")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown export format" in err[0]
    assert not (tmp_path / "r.docx").exists()


def test_ledger_sessions_and_session_filter(bench, tmp_path, capsys):
    recs = [bench.cell(10, cpu_j=400, count=1), bench.cell(10, cpu_j=40, count=2)]
    assert bench.session.ledger.flush(5)  # the writer thread takes records to the file
    ledger = bench.session.ledger.path
    assert main(["report", "--ledger", str(ledger)]) == 0
    out = capsys.readouterr().out
    assert bench.session.session_id in out and fmt_mass_g(sum(r.emissions_g for r in recs)) in out
    assert main(["report", "--ledger", str(ledger), "--session", "nope"]) == 1
    assert "no records of session 'nope'" in capsys.readouterr().err
    assert main(["report", "--session", "x", "nb.ipynb"]) == 2
    missing = tmp_path / "missing.sqlite3"
    assert main(["report", "--ledger", str(missing)]) == 1
    assert not missing.exists()  # reading never creates a ledger


def test_console_script_entry_runs_without_a_kernel(notebooks, tmp_path):
    """`python -m carbon_magic.cli` in a fresh process: no kernel, no network needed."""
    path = notebooks["after"][0]
    env = {"PYTHONPATH": str(Path(__file__).resolve().parents[1]), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-m", "carbon_magic.cli", "report", str(path)], capture_output=True,
                          text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "after.ipynb" in proc.stdout


def test_terminal_escape_sequences_in_labels_are_not_printed(bench, tmp_path, capsys):
    rec = bench.cell(1, cpu_j=5, label="\x1b[2J\x1b[31mred", count=1, code="x\x07 = 1")
    path = write_notebook(tmp_path / "esc.ipynb", [rec])
    assert main(["report", str(path)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "?[2J?[31mred" in out
