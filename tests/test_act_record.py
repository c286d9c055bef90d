"""The record's optional deferral keys (`deferred_s`, `avoided_g`, `avoided_basis`): absent from
records without a wait, validated from outside, kept by the ledger and both exports (CSV: trailing
columns), and said in the summary. v1 records without them still read."""
from __future__ import annotations

import csv
import io
import json
import math

import pytest

from carbon_magic.record import CellRecord, record_problem
from carbon_magic.report import Report, formats, json_export
from report_helpers import Bench


@pytest.fixture
def bench(tmp_path, clock, powercap):
    b = Bench(tmp_path, clock, powercap)
    yield b
    b.close()


def deferred(bench):
    plain = bench.cell(10, 100.0, label="plain")
    waited = bench.cell(10, 100.0, label="waited")
    waited.deferred_s, waited.avoided_g, waited.avoided_basis = 14400.0, 0.25, "forecast"
    return plain, waited


def test_records_without_a_wait_carry_no_deferral_keys(bench):
    plain, _ = deferred(bench)
    d = plain.to_dict()
    assert not {"deferred_s", "avoided_g", "avoided_basis"} & set(d)
    assert CellRecord.from_untrusted(d).to_dict() == d
    assert "deferred" not in plain.summary()


def test_deferral_keys_round_trip_through_json_and_validation(bench):
    _, waited = deferred(bench)
    d = json.loads(json.dumps(waited.to_dict()))
    assert (d["deferred_s"], d["avoided_g"], d["avoided_basis"]) == (14400.0, 0.25, "forecast")
    back = CellRecord.from_untrusted(d)
    assert (back.deferred_s, back.avoided_g, back.avoided_basis) == (14400.0, 0.25, "forecast")


@pytest.mark.parametrize("key, value, words", [
    ("deferred_s", -1.0, "deferred_s is not a finite number between 0"),
    ("deferred_s", "4h", "deferred_s is not a number"),
    ("deferred_s", math.inf, "deferred_s is not a finite number"),
    ("avoided_g", "a lot", "avoided_g is not a finite number"),
    ("avoided_g", True, "avoided_g is not a finite number"),
    ("avoided_g", math.nan, "avoided_g is not a finite number"),
    ("avoided_g", -1e16, "avoided_g is not a finite number"),
    ("avoided_basis", "guess", "avoided_basis 'guess' is not one of forecast, actual"),
    ("avoided_basis", 3, "avoided_basis 3 is not one of"),
])
def test_bad_deferral_values_from_outside_are_refused_in_one_line(bench, key, value, words):
    _, waited = deferred(bench)
    d = waited.to_dict()
    d[key] = value
    problem = record_problem(d)
    assert problem is not None and words in problem and "\n" not in problem


def test_a_wait_that_cost_more_is_a_negative_saving_and_says_so(bench):
    _, waited = deferred(bench)
    waited.avoided_g, waited.avoided_basis = -0.5, "actual"
    assert record_problem(waited.to_dict()) is None
    assert "500 mg CO₂e more than starting at once (actual)" in waited.summary()


def test_summary_says_deferred_and_the_saving(bench):
    _, waited = deferred(bench)
    assert waited.summary().splitlines()[-1] == "  deferred 4 h 00 min for a greener grid: ≈ 250 mg CO₂e avoided (forecast)"


def test_ledger_and_exports_keep_the_deferral(bench, tmp_path):
    plain, waited = deferred(bench)
    session = bench.session
    session.ledger.append(waited)  # as the session writes a record (the annotator ran before)
    assert session.ledger.records(session.session_id)[-1].to_dict() == waited.to_dict()
    report = Report.from_session(session, "nb")
    rows = list(csv.DictReader(io.StringIO(formats.render(report, ".csv"))))
    header = list(rows[0])
    assert header[-3:] == ["deferred_s", "avoided_g", "avoided_basis"]  # trailing: old readers unaffected
    by_label = {r["label"]: r for r in rows}
    assert by_label["plain"]["deferred_s"] == "" and by_label["plain"]["avoided_basis"] == ""
    assert float(by_label["waited"]["deferred_s"]) == 14400.0 and float(by_label["waited"]["avoided_g"]) == 0.25
    doc, records = json_export.parse(formats.render(report, ".json"))
    got = {r.label: r for r in records}
    assert got["waited"].avoided_basis == "forecast" and got["plain"].deferred_s is None
