"""Bad input from outside the kernel: forged notebooks and ledgers for `carbon-magic report`,
hostile text in CSV cells, export paths that cannot be written. Each gives one line that names
the problem, never a traceback, and whatever is valid is still reported."""
from __future__ import annotations

import copy
import csv
import io
import json
import math
import sqlite3

import pytest

from carbon_magic.cli import main
from carbon_magic.record import CellRecord, record_problem
from carbon_magic.report import csv_export
from carbon_magic.report.formats import ExportError, write
from carbon_magic.report.model import Report
from carbon_magic.units import fmt_mass_g
from report_helpers import Bench

ESC_TEXT = "\x1b[31mred\x1b]0;owned\x07\u202eevil\x9b2J\r\nnext\x00"
BAD_NUMBERS = {"text": "12", "list": [1], "dict": {"a": 1}, "nan": math.nan, "inf": math.inf,
               "-inf": -math.inf, "negative": -1.0, "huge": 1e300, "bool": True, "null": None,
               "bigint": 10 ** 400}
NUMBER_FIELDS = ("duration_s", "energy_j", "emissions_g", "intensity_g_per_kwh")
TEXT_FIELDS = ("label", "code_head", "cell_id", "session_id")
PROVENANCE_FIELDS = ("provider", "zone", "kind", "source", "signal", "flag", "fallback_reason", "fetched_at")
FORMULAS = ("=HYPERLINK(\"http://127.0.0.1/x\")", "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd")


@pytest.fixture
def bench(tmp_path, clock, powercap):
    b = Bench(tmp_path, clock, powercap, zone="DE")
    yield b
    b.close()


def _missing(d, key):
    d.pop(key, None)


def forgeries(good: dict):
    """(name, forged record or None for "remove it", must_skip) — each a mutation of a valid record."""
    for field in NUMBER_FIELDS:
        for tag, bad in BAD_NUMBERS.items():
            yield f"{field}-{tag}", {**good, field: bad}, True
        d = copy.deepcopy(good)
        _missing(d, field)
        yield f"{field}-missing", d, True
    for tag, bad in BAD_NUMBERS.items():
        d = copy.deepcopy(good)
        d["components"][0]["energy_j"] = bad
        yield f"component-energy-{tag}", d, True
        if tag not in ("negative",):
            yield f"pue-{tag}", {**good, "pue": bad}, True
    for tag, bad in {"text": "gpu", "list-of-text": ["gpu:0"], "dict": {"a": 1}, "number": 5, "null": None,
                     "list-of-lists": [[1, 2]]}.items():
        yield f"components-{tag}", {**good, "components": bad}, True
    for key in ("name", "kind", "method"):
        for tag, bad in {"list": ["x"], "number": 3, "null": None}.items():
            d = copy.deepcopy(good)
            d["components"][0][key] = bad
            yield f"component-{key}-{tag}", d, True
    for tag, bad in {"text": "static", "list": [1], "number": 5}.items():
        yield f"intensity-{tag}", {**good, "intensity": bad}, True
    for key in PROVENANCE_FIELDS:
        d = copy.deepcopy(good)
        d["intensity"][key] = ["not", "text"]
        yield f"intensity-{key}-list", d, True
    for tag, bad in {"text": "x", "number": 5, "list-of-text": ["x"]}.items():
        yield f"segments-{tag}", {**good, "intensity_segments": bad}, True
    for tag, bad in {"unknown": "bogus", "number": 1, "null": None, "escape": ESC_TEXT}.items():
        yield f"status-{tag}", {**good, "status": bad}, True
    for key in ("started_at", "ended_at"):
        for tag, bad in {"words": "yesterday", "number": 5, "escape": ESC_TEXT}.items():
            yield f"{key}-{tag}", {**good, key: bad}, True
    for tag, bad in {"text": "3", "float": 1.5, "list": [1], "bool": True}.items():
        yield f"execution_count-{tag}", {**good, "execution_count": bad}, True
    for key in TEXT_FIELDS:
        yield f"{key}-number", {**good, key: 7 if key != "session_id" else None}, True
    yield "schema-wrong", {**good, "schema": "carbon_magic.record/0"}, True
    yield "not-an-object", ["a", "list"], True
    yield "just-a-string", ESC_TEXT, True
    # Valid records whose text carries terminal escapes: reported, and printed harmless.
    for key in TEXT_FIELDS:
        yield f"{key}-escape", {**good, key: ESC_TEXT}, False
    for key in PROVENANCE_FIELDS:
        d = copy.deepcopy(good)
        d["intensity"][key] = ESC_TEXT
        yield f"intensity-{key}-escape", d, False
    for key in ("name", "kind", "method"):
        d = copy.deepcopy(good)
        d["components"][0][key] = ESC_TEXT
        yield f"component-{key}-escape", d, False


def notebook(records, cell_id="c1", history="ok"):
    cells = [{"cell_type": "markdown", "metadata": {}, "source": "# t", "id": "m1"}]
    for i, rec in enumerate(records):
        hist = ([{k: rec[k] for k in ("energy_j", "emissions_g", "duration_s")}] if history == "ok" and
                isinstance(rec, dict) and all(k in rec for k in ("energy_j", "emissions_g", "duration_s"))
                else history)
        cells.append({"cell_type": "code", "metadata": {"carbon_magic": {"last": rec, "history": hist}},
                      "source": "x", "id": f"{cell_id}-{i}", "outputs": [], "execution_count": None})
    return {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def write_json(path, doc):
    path.write_text(json.dumps(doc, allow_nan=True), encoding="utf-8")  # NaN/Infinity as forgers write
    return path


def strict_json(text):
    def no_constant(name):
        raise AssertionError(f"non-standard JSON constant {name}")
    return json.loads(text, parse_constant=no_constant)


def assert_clean(text):
    bad = [c for c in text if (ord(c) < 32 and c != "\n") or 127 <= ord(c) < 160 or c in "\u202e\u2066\u200f"]
    assert not bad, f"control characters reached the terminal: {sorted(set(bad))!r}"


def test_forged_notebooks_are_skipped_and_named_and_the_valid_one_is_still_reported(bench, tmp_path, capsys):
    recs = [bench.cell(60, cpu_j=3000, count=1, code="fit()"), bench.cell(5, cpu_j=100, count=2, code="ev()")]
    good = recs[0].to_dict()
    assert record_problem(good) is None
    valid = write_json(tmp_path / "valid.ipynb", notebook([r.to_dict() for r in recs]))
    forged, must_skip = [], {}
    for i, (name, rec, skip) in enumerate(forgeries(good)):
        path = write_json(tmp_path / f"forged{i:03d}.ipynb", notebook([rec], cell_id=f"f{i}"))
        forged.append(path)
        must_skip[path.name] = (name, skip)
    assert len(forged) > 120
    # Notebook-level forgeries: none of these is a notebook, each is named and skipped.
    broken = {
        "notjson.ipynb": "{not json",
        "list.ipynb": "[1, 2]",
        "nocells.ipynb": '{"cells": 5}',
        "deep.ipynb": "[" * 100000 + "]" * 100000,
        "bigint.ipynb": '{"cells": [], "x": ' + "9" * 5000 + "}",
        "binary.ipynb": b"\xff\xfe\x00\x1b[2J",
    }
    for fname, content in broken.items():
        p = tmp_path / fname
        p.write_bytes(content if isinstance(content, bytes) else content.encode())
    # Odd metadata shapes inside an otherwise valid notebook.
    odd = notebook([good])
    odd["cells"].append({"cell_type": "code", "metadata": {"carbon_magic": "a string"}, "source": "", "id": "s"})
    odd["cells"].append({"cell_type": "code", "metadata": {"carbon_magic": {"last": good, "history": 5}},
                         "source": "", "id": "\x1b[2Jid"})
    odd["cells"].append({"cell_type": "code", "metadata": {"carbon_magic": {"last": good,
                                                                            "history": [{"energy_j": math.nan}]}},
                         "source": "", "id": "h"})
    odd["cells"].append("not a cell")
    write_json(tmp_path / "odd\x1b[31m.ipynb", odd)

    out_json, out_csv = tmp_path / "all.json", tmp_path / "all.csv"
    names = [str(valid), *map(str, forged), *(str(tmp_path / f) for f in broken), str(tmp_path / "odd\x1b[31m.ipynb")]
    assert main(["report", *names, "-o", str(out_json)]) == 0  # 0: at least one file was read
    cap = capsys.readouterr()
    assert_clean(cap.out)
    assert_clean(cap.err)
    assert "Traceback" not in cap.err
    valid_row = next(ln for ln in cap.out.splitlines() if ln.lstrip(" 0123456789").startswith("valid.ipynb"))
    assert fmt_mass_g(sum(r.emissions_g for r in recs)) in valid_row  # the valid notebook, right totals
    errs = cap.err.splitlines()
    for fname in broken:
        assert [ln for ln in errs if fname in ln and ("not a notebook" in ln or "cannot read" in ln)], fname
    for fname, (name, skip) in must_skip.items():
        named = [ln for ln in errs if ln.startswith(f"{fname}: cell 2 (id f")]
        if skip:
            assert len(named) == 1 and "skipped" in named[0], (name, named)
        else:
            assert not named, (name, named)
    assert sum("odd?[31m.ipynb: cell" in ln for ln in errs) == 1  # only the string-metadata cell
    doc = strict_json(out_json.read_text(encoding="utf-8"))  # no NaN, no Infinity
    accepted = [n for n, (_, skip) in must_skip.items() if not skip]
    assert doc["totals"]["cells"] == len(recs) + len(accepted) + 3  # + the odd notebook's three good cells
    assert main(["report", *names, "-o", str(out_csv)]) == 0
    capsys.readouterr()
    assert len(list(csv.DictReader(out_csv.open(encoding="utf-8")))) == doc["totals"]["cells"]


def test_a_forged_ledger_reports_its_valid_records(bench, tmp_path, capsys):
    recs = [bench.cell(10, cpu_j=500, count=i, code=f"c{i}") for i in (1, 2)]
    assert bench.session.ledger.flush(5)  # the writer thread takes records to the file
    db = bench.session.ledger.path
    good = recs[0].to_dict()
    con = sqlite3.connect(db)
    sid = recs[0].session_id
    bodies = [json.dumps({**good, "energy_j": math.nan}), json.dumps({**good, "components": "gpu"}),
              json.dumps({**good, "label": ESC_TEXT}), "{not json", "9" * 5000, json.dumps([1])]
    for body in bodies:
        con.execute("INSERT INTO records (session_id, started_at, body) VALUES (?, ?, ?)", (sid, "x", body))
    con.execute("UPDATE sessions SET body = ? WHERE session_id = ?",
                (json.dumps({"cpu_model": ESC_TEXT, "skipped": "x", "pue": math.inf}), sid))
    con.commit()
    con.close()
    out_json = tmp_path / "l.json"
    assert main(["report", "--ledger", str(db), "-o", str(out_json)]) == 0
    cap = capsys.readouterr()
    assert_clean(cap.out + cap.err)
    assert sum("a record skipped" in ln for ln in cap.err.splitlines()) == 5
    doc = strict_json(out_json.read_text(encoding="utf-8"))
    assert doc["totals"]["cells"] == 3
    assert doc["totals"]["emissions_g"] == pytest.approx(sum(r.emissions_g for r in recs) + recs[0].emissions_g)


def test_json_export_maps_non_finite_to_null(bench):
    from carbon_magic.report.json_export import render

    rec = bench.cell(10, cpu_j=500)
    rec.intensity["weird"] = math.nan  # a provider field the validator does not know
    report = Report.from_records([rec], host={"cpu_model": "x"})
    doc = strict_json(render(report))
    assert doc["records"][0]["intensity"]["weird"] is None


# -- CSV: every text cell neutralised ------------------------------------------------------
def test_csv_neutralises_formulas_in_every_text_column(bench):
    records = []
    for i, formula in enumerate(FORMULAS):
        rec = bench.cell(5, cpu_j=100, count=i, label=formula, code=formula)
        rec.cell_id = formula
        rec.session_id = formula
        # (times are numbers, written as ISO text by the export: no text of outside reaches them)
        rec.parent = {"start_s": rec.start_s, "cell_id": formula, "label": formula}
        rec.status = formula
        rec.components[0].name = rec.components[0].kind = rec.components[0].method = formula
        rec.intensity = {k: formula for k in PROVENANCE_FIELDS}
        records.append(rec)
    host = {k: FORMULAS[0] for k in ("carbon_magic_version", "python_version", "os", "cpu_model", "cpu_count",
                                     "ram_total_size_gb", "gpu_count", "gpu_model", "zone")}
    report = Report.from_records(records, host=host, project_name="-project")
    report.experiment_id = "@exp"
    text = csv_export.render(report)
    rows = list(csv.reader(io.StringIO(text)))
    header, body = rows[0], rows[1:]
    assert len(body) == len(FORMULAS)
    dangerous = [(header[j], cell) for row in body for j, cell in enumerate(row)
                 if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert not dangerous
    assert all(row[header.index("label")] == ("'" + f).replace("\r", "\n") for row, f in zip(body, FORMULAS))
    assert body[0][header.index("os")] == "'" + FORMULAS[0]
    assert body[0][header.index("project_name")] == "'-project"


def test_csv_keeps_numbers_as_numbers_negative_ones_too():
    assert csv_export.csv_cell(-1.5) == "-1.5" and csv_export.csv_cell(-3) == -3
    assert csv_export.csv_cell(0.1) == "0.1"
    assert csv_export.csv_cell("-3") == "'-3"  # text that looks like a formula is text
    assert csv_export.csv_cell(None) == "" and csv_export.csv_cell(True) == "True"


# -- export paths --------------------------------------------------------------------------
@pytest.fixture
def report(bench):
    bench.cell(5, cpu_j=100)
    return Report.from_session(bench.session)


def test_a_long_but_valid_export_name_is_written(report, tmp_path):
    for n in (200, 251):  # + ".csv": 204 and 255 bytes, at most NAME_MAX
        path = tmp_path / ("n" * n + ".csv")
        assert write(report, path) == path
        assert path.read_text(encoding="utf-8").startswith("timestamp,")
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("path, words", [
    ("bad\0name.csv", "NUL byte"),
    (12, "must be a file name, not int"),
    (b"bytes.csv", "must be a file name, not bytes"),
    ("x" * 300 + ".csv", "over the file system's limit of"),
    ("nodir/deeper/x.csv", "does not exist"),
    ("~no_such_user_zz/x.csv", "give the full path"),
    ("x.xlsx", "unknown export format"),
    ("", "give a file name"),
    ("afile.txt/x.csv", "does not exist"),
])
def test_bad_export_paths_are_one_line_errors(report, tmp_path, monkeypatch, path, words):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile.txt").write_text("")
    with pytest.raises(ExportError) as exc:
        write(report, path)
    assert words in str(exc.value) and "\n" not in str(exc.value)


@pytest.mark.parametrize("argline, words", [
    ('"bad\0name.csv"', "NUL byte"),
    ("x" * 300 + ".csv", "limit of"),
    ('"unclosed.csv', "No closing quotation"),
    ("nodir/x.csv", "does not exist"),
])
def test_export_magic_gives_one_line_usage_errors(shell, tmp_path, monkeypatch, argline, words):
    from IPython.utils.capture import capture_output

    monkeypatch.chdir(tmp_path)
    shell.run_cell("%%carbon\nx = 1")
    with capture_output() as cap:
        r = shell.run_cell(f"%carbon export {argline}")
    err = r.error_in_exec
    assert type(err).__name__ == "UsageError" and words in str(err) and "\n" not in str(err)
    assert "Traceback" not in cap.stdout + cap.stderr
    with capture_output():
        assert shell.run_cell("%carbon export " + "y" * 240 + ".json").error_in_exec is None
    assert (tmp_path / ("y" * 240 + ".json")).is_file()


def test_record_validator_accepts_what_the_session_writes(bench):
    rec = bench.cell(5, cpu_j=100, label="l", count=3)
    d = rec.to_dict()
    assert record_problem(d) is None
    assert CellRecord.from_untrusted(d) == rec
    with pytest.raises(ValueError, match="energy_j"):
        CellRecord.from_untrusted({**d, "energy_j": "lots"})


def test_receipts_and_badge_carry_no_control_characters(bench):
    import xml.etree.ElementTree as ET

    from carbon_magic.report.formats import render

    rec = bench.cell(5, cpu_j=100, label=ESC_TEXT, code=ESC_TEXT)
    rec.intensity = {**rec.intensity, "zone": ESC_TEXT, "source": ESC_TEXT, "provider": ESC_TEXT}
    report = Report.from_records([rec], host={"cpu_model": ESC_TEXT, "os": ESC_TEXT}, project_name=ESC_TEXT)
    for suffix in (".md", ".html", ".svg"):
        assert_clean(render(report, suffix))
    ET.fromstring(render(report, ".svg"))  # well-formed XML: no control characters in it
    assert "red" in render(report, ".md") and "evil" in render(report, ".html")  # the text itself is kept
