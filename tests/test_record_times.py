"""Record times are numbers inside the package (issue 15): unix seconds from the sampler to the
record, its segments and its parent; ISO text written once (`to_dict`, the exports) and read
once (`from_dict`). Records written before stay readable, and write back byte for byte.

The fixture tests/data/records_before_numbers.json holds ledger bodies exactly as the version
before this change wrote them (commit 643edb7): a cell, a nested block and its cell, a
process-scope record/2 and two revisions of a cluster cell; plus a minimal v1 record.
"""
from __future__ import annotations

import csv
import io
import json
import random
import re
import sqlite3
import time
from pathlib import Path

import pytest

from carbon_magic.ledger import Ledger
from carbon_magic.record import (CellRecord, cell_key, iso_utc, latest_revisions, parent_key, record_identity,
                                 record_problem, time_ms, unix_from_iso)
from carbon_magic.report import csv_export
from carbon_magic.report.model import Report, grouped
from carbon_magic.report.sources import read_ledger
from carbon_magic.report.table import CellTable

from conftest import run
from report_helpers import Bench

FIXTURE = json.loads((Path(__file__).parent / "data" / "records_before_numbers.json").read_text(encoding="utf-8"))
ISO_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\Z")
ISO_ANY = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")


@pytest.fixture
def bench(tmp_path, clock, powercap):
    clock.advance(0.1234567)  # a wall clock with more than milliseconds, as time.time() has
    b = Bench(tmp_path, clock, powercap, zone="FR")
    yield b
    b.close()


def nested_cell(b: Bench, clock):
    """A cell (`train`) with a block measured inside it (`epoch`): (parent record, child record)."""
    outer = b.session.begin(label="train", execution_count=1)
    clock.advance(0.2500004)
    b.powercap.advance("intel-rapl:0", 5.0)
    b.session.sampler.tick()
    inner = b.session.begin(label="epoch")
    clock.advance(1.0000333)
    b.powercap.advance("intel-rapl:0", 12.0)
    b.session.sampler.tick()
    child = b.session.end(inner, sync=False)
    clock.advance(0.5)
    b.powercap.advance("intel-rapl:0", 4.0)
    b.session.sampler.tick()
    return b.session.end(outer, sync=False), child


def strings(value):
    """Every str inside nested dicts, lists and tuples."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from strings(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from strings(v)


# -- in memory: numbers, to the last digit -------------------------------------------------
def test_a_record_keeps_its_times_as_unix_seconds_to_the_last_digit(bench, clock):
    t0 = clock.wall()
    parent, child = nested_cell(bench, clock)
    assert type(parent.start_s) is float and type(parent.end_s) is float
    assert parent.start_s == t0 and parent.end_s == clock.wall()  # not cut to milliseconds
    assert parent.start_s != time_ms(parent.start_s) / 1000
    assert parent.end_s - parent.start_s == pytest.approx(parent.duration_s, abs=1e-6)
    assert child.parent == {"start_s": t0, "cell_id": None, "label": "train"}
    for r in (parent, child):
        assert r.intensity_segments
        for seg in r.intensity_segments:
            assert type(seg["start_s"]) is float and type(seg["end_s"]) is float
            assert r.start_s <= seg["start_s"] < seg["end_s"] <= r.end_s
        assert r.intensity_segments[0]["start_s"] == r.start_s and r.intensity_segments[-1]["end_s"] == r.end_s


def test_the_record_as_built_holds_no_iso_text_and_to_dict_writes_it(bench, clock):
    parent, child = nested_cell(bench, clock)
    for r in (parent, child):
        assert not [s for s in strings(vars(r)) if ISO_ANY.search(s)]  # no time formatted on the way
        d = r.to_dict()
        times = [d["started_at"], d["ended_at"], *[s[k] for s in d["intensity_segments"] for k in ("start", "end")]]
        assert all(ISO_MS.match(t) for t in times)
        assert d["started_at"] == iso_utc(r.start_s) and d["ended_at"] == iso_utc(r.end_s)
        assert "start_s" not in json.dumps(d) and "end_s" not in json.dumps(d)  # the v1 keys only
    assert child.to_dict()["parent"] == {"started_at": parent.to_dict()["started_at"], "cell_id": None,
                                         "label": "train"}


def test_a_magic_cell_record_has_numbers_and_its_json_the_v1_text(shell):
    before = time.time()
    run(shell, "%%carbon -q -o r\nx = 1")
    r = shell.user_ns["r"]
    assert type(r.start_s) is float and before <= r.start_s <= r.end_s <= time.time()
    assert ISO_MS.match(r.to_dict()["started_at"]) and unix_from_iso(r.to_dict()["started_at"]) <= r.start_s


# -- the edges: to_dict -> JSON -> from_dict --------------------------------------------------
def test_a_new_record_round_trips_through_json_unchanged(bench, clock):
    parent, child = nested_cell(bench, clock)
    for r in (parent, child):
        text = json.dumps(r.to_dict())
        back = CellRecord.from_untrusted(json.loads(text))
        assert json.dumps(back.to_dict()) == text
        assert type(back.start_s) is float and time_ms(back.start_s) == time_ms(r.start_s)
        assert [time_ms(s["end_s"]) for s in back.intensity_segments] == \
            [time_ms(s["end_s"]) for s in r.intensity_segments]
        assert record_identity(back) == record_identity(r)  # the same cell, read back or in memory
        assert cell_key(back) == cell_key(r) and parent_key(back) == parent_key(r)


def test_records_written_before_read_back_and_write_back_byte_for_byte():
    for body in FIXTURE["ledger_bodies"]:
        d = json.loads(body)
        r = CellRecord.from_untrusted(d)
        assert r.start_s == unix_from_iso(d["started_at"]) and r.end_s == unix_from_iso(d["ended_at"])
        assert json.dumps(r.to_dict()) == body
        assert r.to_json() == body  # what Ledger.append writes: the same text, without the copy
    old = FIXTURE["minimal_v1"]  # the keys of DESIGN.md only: no segments, no parent, no scope
    r = CellRecord.from_untrusted(old)
    assert r.end_s - r.start_s == 4.5 and r.intensity_segments == [] and r.parent is None
    d = r.to_dict()
    assert (d["started_at"], d["ended_at"]) == (old["started_at"], old["ended_at"])


def test_the_ledger_writes_to_dicts_json_and_to_dict_stays_a_copy(tmp_path):
    path = tmp_path / "ledger.sqlite3"
    led = Ledger(path)
    records = [CellRecord.from_untrusted(json.loads(b)) for b in FIXTURE["ledger_bodies"]]
    for r in records:
        led.append(r)
    led.close(5)
    db = sqlite3.connect(path)
    rows = db.execute("SELECT started_at, body FROM records ORDER BY rowid").fetchall()
    db.close()
    assert rows == [(json.loads(b)["started_at"], b) for b in FIXTURE["ledger_bodies"]]
    r = records[1]  # nested: a parent, segments with their provenance
    d = r.to_dict()
    d["parent"]["label"] = "changed"
    d["intensity_segments"][0]["intensity"]["zone"] = "changed"
    d["components"][0]["energy_j"] = -1.0
    d["intensity"]["zone"] = "changed"
    assert r.to_json() == FIXTURE["ledger_bodies"][1]


def test_a_ledger_written_before_reads_the_same(tmp_path):
    """The old ledger's rows (column and body as that version wrote them): the same records, the
    nested block under its cell, the cluster cell's latest revision, the same times in the exports."""
    path = tmp_path / "ledger.sqlite3"
    led = Ledger(path)
    assert led.wait_ready(5)
    led.close(5)
    db = sqlite3.connect(path)
    for body in FIXTURE["ledger_bodies"]:
        d = json.loads(body)
        db.execute("INSERT INTO records(session_id, started_at, body) VALUES (?, ?, ?)",
                   (d["session_id"], d["started_at"], body))
    db.commit()
    db.close()

    led = Ledger(path)
    try:
        assert [json.dumps(r.to_dict()) for r in led.records()] == FIXTURE["ledger_bodies"]
    finally:
        led.close(5)
    (source,) = read_ledger(path)
    records = source.report.records
    assert [(r.label, r.revision) for r in records] == [("plain", None), ("epoch 1", None), ("train", None),
                                                        ("shared", None), ("cluster", 1)]
    table = CellTable(Report.from_records(records, project_name="fixture")).rows()
    assert [row[0] for row in table] == ["plain", "train", "↳ epoch 1", "shared", "cluster"]
    assert [row[2] for row in table] == ["2026-09-21 14:13:20", "2026-09-21 14:13:22", "2026-09-21 14:13:22",
                                         "2026-09-21 14:13:24", "2026-09-21 14:13:26"]
    rows = list(csv.DictReader(io.StringIO(csv_export.render(source.report))))
    # What the version before wrote for these records (its CSV export of the same fixture).
    assert [[r[k] for k in ("label", "timestamp", "started_at", "ended_at", "parent", "parent_started_at")]
            for r in rows] == [
        ["plain", "2026-09-21T14:13:22", "2026-09-21T14:13:20.123Z", "2026-09-21T14:13:22.123Z", "", ""],
        ["train", "2026-09-21T14:13:24", "2026-09-21T14:13:22.457Z", "2026-09-21T14:13:24.208Z", "", ""],
        ["epoch 1", "2026-09-21T14:13:23", "2026-09-21T14:13:22.708Z", "2026-09-21T14:13:23.708Z", "train",
         "2026-09-21T14:13:22.457Z"],
        ["shared", "2026-09-21T14:13:25", "2026-09-21T14:13:24.319Z", "2026-09-21T14:13:25.820Z", "", ""],
        ["cluster", "2026-09-21T14:13:29", "2026-09-21T14:13:26.042Z", "2026-09-21T14:13:29.042Z", "", ""],
    ]


def test_the_ledger_columns_keep_their_iso_text(bench, clock):
    r = bench.cell(1.0, cpu_j=10.0)
    assert bench.session.ledger.flush(5)
    db = sqlite3.connect(bench.session.ledger.path)
    try:
        (column,) = db.execute("SELECT started_at FROM records").fetchone()
        (session_column,) = db.execute("SELECT started_at FROM sessions").fetchone()
    finally:
        db.close()
    assert column == r.to_dict()["started_at"] and ISO_MS.match(column)
    assert session_column == iso_utc(bench.session.start_s) and ISO_MS.match(session_column)


# -- identity: to the millisecond -------------------------------------------------------------
def test_time_ms_is_the_millisecond_the_iso_text_shows():
    rng = random.Random(15)
    values = [1_790_000_000 + k + f for k in range(3) for f in (0.0, 0.0004999, 0.0005, 0.0009999, 0.9994999,
                                                                0.9995, 0.9999996, 0.123456789)]
    values += [rng.uniform(946_684_800, 4_102_444_800) for _ in range(2000)] + [-0.0005, -1.2345678, 0.0]
    for t in values:
        text = iso_utc(t)
        assert time_ms(t) == time_ms(unix_from_iso(text)), text
        assert iso_utc(unix_from_iso(text)) == text


def test_a_child_read_back_finds_its_parent_in_memory_and_revisions_merge(bench, clock):
    parent, child = nested_cell(bench, clock)
    loaded_child = CellRecord.from_dict(json.loads(json.dumps(child.to_dict())))
    assert loaded_child.parent["start_s"] != parent.start_s  # milliseconds only, the parent has more
    assert grouped([parent, loaded_child]) == [(parent, [loaded_child])]
    loaded_parent = CellRecord.from_dict(parent.to_dict())
    assert grouped([loaded_parent, child]) == [(loaded_parent, [child])]
    parent.revision = 0
    revised = CellRecord.from_dict({**parent.to_dict(), "revision": 1, "energy_j": parent.energy_j + 1})
    assert latest_revisions([parent, revised]) == [revised]


def test_a_copy_is_independent_and_keeps_every_digit(bench, clock):
    parent, child = nested_cell(bench, clock)
    c = child.copy()
    assert c == child and c.start_s == child.start_s and c.parent["start_s"] == child.parent["start_s"]
    c.intensity_segments[0]["end_s"] += 1.0
    c.parent["label"] = "other"
    c.components[0].energy_j += 1.0
    assert child.intensity_segments[0]["end_s"] == child.end_s and child.parent["label"] == "train"
    assert child.components[0].energy_j != c.components[0].energy_j


# -- reading: one check, one line --------------------------------------------------------------
@pytest.mark.parametrize("where, bad, words", [
    ("parent", {"started_at": "yesterday", "cell_id": None, "label": "x"}, "parent.started_at is not an ISO 8601 time"),
    ("segment", {"start": "soon"}, "intensity_segments[0].start is missing or not an ISO 8601 time"),
    ("segment", {"end": None}, "intensity_segments[0].end is missing or not an ISO 8601 time"),
    ("record", {"started_at": "0001-01-01T00:00:00+14:00"}, "started_at is not an ISO 8601 time"),
])
def test_times_that_cannot_be_read_are_refused_in_one_line(where, bad, words):
    d = json.loads(FIXTURE["ledger_bodies"][1])  # the nested one: it has a parent and a segment
    if where == "parent":
        d["parent"] = bad
    elif where == "segment":
        d["intensity_segments"][0].update(bad)
    else:
        d.update(bad)
    problem = record_problem(d)
    assert problem is not None and words in problem and "\n" not in problem
    with pytest.raises(ValueError, match=re.escape(words)):
        CellRecord.from_untrusted(d)


def test_a_time_without_an_offset_is_utc_whatever_the_local_zone(monkeypatch):
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        d = {**FIXTURE["minimal_v1"], "started_at": "2025-03-01T09:00:00.250", "ended_at": "2025-03-01T11:00:04.750+02:00"}
        r = CellRecord.from_untrusted(d)
        assert r.to_dict()["started_at"] == "2025-03-01T09:00:00.250Z"
        assert r.to_dict()["ended_at"] == "2025-03-01T09:00:04.750Z"
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_a_record_read_by_user_code_still_has_the_v1_time_texts(shell):
    """`%%carbon -o rec` users read rec.started_at / rec.ended_at (v1 names): the JSON's text."""
    run(shell, "%%carbon -o rec\nx = 1")
    rec = shell.user_ns["rec"]
    d = rec.to_dict()
    assert (rec.started_at, rec.ended_at) == (d["started_at"], d["ended_at"])
    assert isinstance(rec.start_s, float) and rec.started_at.endswith("Z")
    back = CellRecord.from_dict(json.loads(json.dumps(d)))
    assert (back.started_at, back.ended_at) == (d["started_at"], d["ended_at"])


def test_code_that_builds_records_with_the_v1_names_gets_numbers(bench, clock):
    """`CellRecord(started_at=…, ended_at=…)` (ISO text, v1 names) and ISO text in the numbers' place."""
    d = nested_cell(bench, clock)[0].to_dict()
    fields = {k: v for k, v in d.items() if k in CellRecord.__dataclass_fields__}
    fields.update(components=[], intensity_segments=[], parent=None)
    by_name = CellRecord(started_at=d["started_at"], ended_at=d["ended_at"], **fields)
    by_place = CellRecord(d["session_id"], d["started_at"], d["ended_at"],
                          **{k: v for k, v in fields.items() if k != "session_id"})
    for r in (by_name, by_place):
        assert (r.start_s, r.end_s) == (unix_from_iso(d["started_at"]), unix_from_iso(d["ended_at"]))
        assert (r.to_dict()["started_at"], r.ended_at) == (d["started_at"], d["ended_at"])
