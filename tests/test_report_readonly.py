"""`carbon-magic report --ledger` reads a ledger file as it is and changes nothing there.

Whatever the file (good, from a newer carbon_magic, damaged, another application's, locked, in a
read-only folder, being written by a running kernel), the report leaves its bytes and mtime as
they were and makes no -wal, -shm or -journal beside it; and sources.py reads it only through
ledger.py (the one owner of the file's format). Real files, real SQLite, real locks.
"""
from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest

from carbon_magic import ledger_store as store
from carbon_magic.cli import main
from carbon_magic import ledger
from carbon_magic.ledger import Ledger
from report_helpers import Bench

SOURCES_PY = Path(__file__).resolve().parents[1] / "carbon_magic" / "report" / "sources.py"


def folder_state(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file in `folder`: its bytes and its mtime (ns)."""
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture
def bench(tmp_path, clock, powercap):
    b = Bench(tmp_path, clock, powercap, zone="DE")
    yield b
    b.close()


def closed_ledger(bench, n: int = 2) -> tuple[Path, list]:
    """A ledger with n records of a real session, its writer gone (the file alone, no -wal)."""
    recs = [bench.cell(10, cpu_j=100 * (i + 1), count=i + 1) for i in range(n)]
    led = bench.session.ledger
    assert led.flush(5) and led.close(5)
    assert sorted(p.name for p in led.path.parent.iterdir()) == ["ledger.sqlite3"]
    return led.path, recs


def _newer(path: Path) -> None:
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version={store.SCHEMA_VERSION + 6}")
    db.commit()
    db.close()


def _truncated(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:5000])


def _foreign(path: Path) -> None:
    db = sqlite3.connect(path)
    db.execute("PRAGMA application_id=1234")
    db.commit()
    db.close()


def _legacy(path: Path) -> None:
    """Ours from before the stamp: same tables, no application_id (a writer would stamp it)."""
    db = sqlite3.connect(path)
    db.execute("PRAGMA application_id=0")
    db.execute("PRAGMA user_version=0")
    db.commit()
    db.close()


# -- nothing at the path changes ---------------------------------------------------------------
def test_a_report_leaves_a_ledger_and_its_folder_as_they_were(bench, capsys):
    path, recs = closed_ledger(bench)
    before = folder_state(path.parent)
    assert main(["report", "--ledger", str(path)]) == 0
    assert bench.session.session_id in capsys.readouterr().out
    assert folder_state(path.parent) == before  # no -wal, no -shm, the file's bytes and mtime


@pytest.mark.parametrize("change, code, words", [
    (_newer, 1, "written by a newer carbon_magic"),
    (_truncated, 1, "the ledger is damaged"),
    (_foreign, 1, "another application's SQLite database"),
    (_legacy, 0, None),
], ids=["newer", "corrupt", "foreign", "legacy"])
def test_a_report_changes_no_ledger_it_cannot_or_would_not_write(bench, capsys, change, code, words):
    path, _ = closed_ledger(bench)
    change(path)
    before = folder_state(path.parent)
    assert main(["report", "--ledger", str(path)]) == code
    err = capsys.readouterr().err
    assert words is None or words in err, err
    assert folder_state(path.parent) == before  # not stamped, migrated, repaired or moved aside


def test_a_report_in_a_read_only_folder_reads_the_ledger(bench, read_only_folder, capsys):
    folder, read_only = read_only_folder
    path, recs = closed_ledger(bench)
    copy = folder / "ledger.sqlite3"
    copy.write_bytes(path.read_bytes())
    read_only(True)
    try:
        before = folder_state(folder)
        assert main(["report", "--ledger", str(copy)]) == 0
        out = capsys.readouterr().out
        assert folder_state(folder) == before
    finally:
        read_only(False)
    assert bench.session.session_id in out and "The 2 measured cells" in out


def test_a_report_on_a_locked_ledger_says_so_and_changes_nothing(bench, capsys, lock_holder):
    path, _ = closed_ledger(bench)
    release = lock_holder(path, "exclusive")  # a kernel's lock that shuts readers out
    try:
        before = folder_state(path.parent)  # the -wal is the other process's
        assert main(["report", "--ledger", str(path)]) == 1
        assert folder_state(path.parent) == before
    finally:
        release()
    assert "locked by another process; try again in a moment" in capsys.readouterr().err


def test_a_report_while_a_kernel_writes_sees_the_rows_in_its_wal(bench, capsys):
    """A running kernel's ledger holds recent rows in its -wal: they are read, the file is not written."""
    recs = [bench.cell(10, cpu_j=100, count=i) for i in range(3)]
    led = bench.session.ledger
    assert led.flush(5)  # the writer keeps the file open: the rows are in the -wal
    wal = led.path.with_name("ledger.sqlite3-wal")
    assert wal.stat().st_size > 0
    main_file = (led.path.read_bytes(), led.path.stat().st_mtime_ns)
    wal_file = (wal.read_bytes(), wal.stat().st_mtime_ns)
    [stored] = ledger.LedgerReader(led.path).sessions()
    assert [r.execution_count for r in stored.records] == [r.execution_count for r in recs]
    assert (led.path.read_bytes(), led.path.stat().st_mtime_ns) == main_file
    assert (wal.read_bytes(), wal.stat().st_mtime_ns) == wal_file
    assert not led.path.with_name("ledger.sqlite3-journal").exists()


def test_a_ledger_written_while_it_is_read_is_read_again(bench, tmp_path):
    """A kernel that opens, writes and closes the file during a read (the last close folds its
    -wal into the file) makes the reader read it again, not return a torn or stale mix."""
    path, recs = closed_ledger(bench)
    calls = []

    def read(db, tables):
        calls.append(db.execute("SELECT count(*) FROM records").fetchone()[0])
        if len(calls) == 1:  # another kernel, meanwhile
            other = Ledger(path)
            other.append(recs[0])
            assert other.flush(5) and other.close(5)
        return calls[-1]

    assert store.read_only(path, read, busy_timeout_s=1.0) == 3
    assert calls == [2, 3]


def test_a_ledger_that_changes_at_every_read_is_reported_not_read_forever(bench):
    path, recs = closed_ledger(bench)
    calls = []

    def read(db, tables):
        calls.append(1)
        other = Ledger(path)
        other.append(recs[0])
        assert other.flush(5) and other.close(5)

    with pytest.raises(store.Unusable, match="being written by another process; try again in a moment"):
        store.read_only(path, read, busy_timeout_s=1.0)
    assert len(calls) == store.READ_ATTEMPTS


# -- rows, notes and errors ------------------------------------------------------------------
def test_a_damaged_session_description_is_a_note_and_its_records_are_kept(bench, capsys):
    path, recs = closed_ledger(bench)
    db = sqlite3.connect(path)
    db.execute("UPDATE sessions SET body = '{not json'")
    db.commit()
    db.close()
    [stored] = ledger.LedgerReader(path).sessions()
    assert len(stored.records) == 2 and stored.info == {}
    assert stored.notes == ["the session's description skipped, invalid JSON"]
    assert main(["report", "--ledger", str(path)]) == 0
    assert "the session's description skipped, invalid JSON" in capsys.readouterr().err


def test_an_unreadable_file_is_one_ledger_unavailable(tmp_path):
    missing = tmp_path / "nope.sqlite3"
    with pytest.raises(ledger.LedgerUnavailable, match="^no such ledger file$"):
        ledger.LedgerReader(missing).sessions()
    assert not missing.exists()
    garbage = tmp_path / "g.sqlite3"
    garbage.write_bytes(b"shopping list\n" * 50)
    with pytest.raises(ledger.LedgerUnavailable, match="not a carbon_magic ledger: not a SQLite database"):
        ledger.LedgerReader(garbage).sessions()


def test_the_session_filter_reads_one_session(bench):
    path, recs = closed_ledger(bench)
    db = sqlite3.connect(path)
    db.execute("INSERT INTO records (session_id, started_at, body) VALUES ('other', 'x', ?)",
               (json.dumps(recs[0].to_dict()),))
    db.commit()
    db.close()
    assert [s.session_id for s in ledger.LedgerReader(path).sessions()] == [bench.session.session_id, "other"]
    [only] = ledger.LedgerReader(path).sessions("other")
    assert only.session_id == "other" and len(only.records) == 1 and only.info == {}
    assert ledger.LedgerReader(path).sessions("absent") == []


def test_sources_py_reads_ledgers_only_through_the_ledger_module():
    text = SOURCES_PY.read_text(encoding="utf-8")
    assert "sqlite3" not in text and "ledger_store" not in text
    assert not re.search(r"\b(SELECT|INSERT|UPDATE|PRAGMA|CREATE)\b", text)
    assert "LedgerReader" in text
