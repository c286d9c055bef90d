"""%carbon table and %carbon export through a real IPython shell with the extension loaded."""
from __future__ import annotations

import json

import pandas as pd
import pytest
from IPython.core.error import UsageError

from carbon_magic.extension import session_for
from carbon_magic.report.commands import export_text, parse_table_args
from carbon_magic.units import fmt_mass_g

from conftest import run

XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture
def measured(shell, powercap):
    """Three measured cells with known package energy (5, 50 and 0.5 J) in the real shell."""
    shell.user_ns["pc"] = powercap
    for label, joules in (("small", 5.0), (XSS, 50.0), (None, 0.5)):
        header = f"%%carbon --quiet --label '{label}'" if label else "%%carbon --quiet"
        result = run(shell, f"{header}\npc.advance('intel-rapl:0', {joules})\n")
        assert result.success
    return shell


def _table(shell, args=""):
    return shell.run_line_magic("carbon", f"table {args}".strip())


def test_table_lists_each_cell_with_code_and_totals(measured):
    session = session_for(measured)
    table = _table(measured)
    text, page = str(table), table._repr_html_()
    assert len(table.rows()) == 3
    assert [r[0] for r in table.rows()][:2] == ["small", XSS]
    assert table.rows()[2][0].startswith("In [")  # no label: the execution count
    assert all(r[1] == "pc.advance('intel-rapl:0', " + j + ")" for r, j in zip(table.rows(), ("5.0", "50.0", "0.5")))
    total = fmt_mass_g(sum(r.emissions_g for r in session.records))
    assert table.footer()[0][-2] == total and total in text
    assert "idle" in text and "between measured cells" in text
    assert XSS not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert repr(table) == text


def test_table_sort_and_top(measured):
    # The cells' energies differ by 10x in RAPL, but the estimated RAM term grows with a cell's
    # duration (a loaded CI machine), so the expected order comes from the records themselves.
    records = sorted(session_for(measured).records, key=lambda r: r.energy_j, reverse=True)
    expected = [r.label or f"In [{r.execution_count}]" for r in records[:2]]
    table = _table(measured, "--sort energy --top 2")
    assert [r[0] for r in table.rows()] == expected
    assert "top 2 of 3 by energy" in str(table)
    by_emissions = max(session_for(measured).records, key=lambda r: r.emissions_g)
    assert _table(measured, "--sort=emissions --top=1").rows()[0][0] == (
        by_emissions.label or f"In [{by_emissions.execution_count}]")
    assert len(_table(measured, "--top 10").rows()) == 3


@pytest.mark.parametrize("args", ["--sort colour", "--top 0", "--top x", "--top", "extra", "--sort 'a"])
def test_table_bad_arguments_are_one_line_usage_errors(args):
    with pytest.raises(UsageError) as exc:
        parse_table_args(args)
    assert "\n" not in str(exc.value)


def test_table_of_an_empty_session(shell):
    table = _table(shell)
    assert table.rows() == [] and "no measured cells yet" in str(table) and "0 measured cells" in str(table)


def test_export_writes_every_format_with_the_same_total(measured, tmp_path, capsys):
    session = session_for(measured)
    shown = fmt_mass_g(sum(r.emissions_g for r in session.records))
    for suffix in (".csv", ".json", ".md", ".html", ".svg"):
        path = tmp_path / f"my notebook{suffix}"
        measured.run_line_magic("carbon", f'export "{path}"')
        assert path.exists()
        assert f"wrote 3 cells to {path}" in capsys.readouterr().out
    df = pd.read_csv(tmp_path / "my notebook.csv")
    assert fmt_mass_g(df["emissions"].sum() * 1000) == shown
    assert df["run_id"].unique().tolist() == [session.session_id]
    assert fmt_mass_g(json.loads((tmp_path / "my notebook.json").read_text())["totals"]["emissions_g"]) == shown
    assert shown in (tmp_path / "my notebook.md").read_text()
    assert XSS not in (tmp_path / "my notebook.html").read_text()


@pytest.mark.parametrize("args", ["", "a.csv b.csv", "out.xlsx", "/nonexistent-dir/x.csv"])
def test_export_errors_are_one_line_and_write_nothing(shell, tmp_path, monkeypatch, args):
    monkeypatch.chdir(tmp_path)
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises(UsageError) as exc:
        shell.run_line_magic("carbon", f"export {args}".strip())
    assert "\n" not in str(exc.value)
    assert sorted(tmp_path.rglob("*")) == before


def test_export_text_for_the_comm(measured):
    session = session_for(measured)
    name, content = export_text(session, "csv")
    assert name.endswith("-carbon.csv") and content.startswith("timestamp,project_name,run_id")
    name, content = export_text(session, "json")
    assert json.loads(content)["session_id"] == session.session_id
    name, content = export_text(session, "md")
    assert name.endswith(".md") and "# Carbon receipt" in content
    with pytest.raises(ValueError):
        export_text(session, "exe")


def test_project_name_comes_from_the_kernel_session(measured, tmp_path, monkeypatch):
    monkeypatch.setitem(measured.user_ns, "__session__", "/home/me/lab/Week 3.ipynb")
    path = tmp_path / "r.csv"
    measured.run_line_magic("carbon", f"export {path}")
    assert pd.read_csv(path)["project_name"].unique().tolist() == ["Week 3"]
    assert export_text(session_for(measured), "md")[0] == "Week_3-carbon.md"
