"""The ledger never stands between the user and their cell.

Whatever is wrong with the ledger file (damaged, truncated, another application's, from a newer
carbon_magic, locked by another process, on a full, read-only or slow disk, a data directory that
is a file, replaced or deleted while the kernel runs), `%load_ext carbon_magic` works, every cell
runs and returns as fast as without us, its record is kept in the session, the user is told once,
and the records reach the file as soon as it can be written. Through a real IPython shell where it
is about the user; the disk is real where it can be (a tmpfs for a full or read-only disk, when
this runs as root with mount rights, else chmod), and faked only at the SQLite connection.
"""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from carbon_magic import ledger_store as store
from carbon_magic.cli import main
from carbon_magic.config import Settings
from carbon_magic.extension import session_for
from carbon_magic.ledger import Ledger, LedgerUnavailable
from carbon_magic.script import measure
from carbon_magic.session import CarbonSession
from carbon_magic.sources import Discovery
from carbon_magic.sources.estimators import RamEstimator
from fakes import FaultyDisk

ROOT = Path(__file__).resolve().parents[1]
FAST_S = 0.5  # a cell on the path of a fault returns within this (the faults took 10 s to minutes)
CELL = "%%carbon -o rec\nx = 6 * 7\nx"


# -- helpers -------------------------------------------------------------------------------
@pytest.fixture
def ip(env):
    """A real shell; the test loads the extension (after arranging the data directory)."""
    shell = InteractiveShell.instance()
    yield shell
    if session_for(shell) is not None:
        shell.run_line_magic("unload_ext", "carbon_magic")


@pytest.fixture
def data_dir(env) -> Path:
    return Path(env["CARBON_MAGIC_DATA_DIR"])


class Said:
    """Everything the user saw on stderr, load and cells together."""

    def __init__(self):
        self.text = ""

    def load(self, shell):
        with capture_output() as cap:
            shell.run_line_magic("load_ext", "carbon_magic")
        self.text += cap.stderr + cap.stdout
        assert session_for(shell) is not None and "Traceback" not in self.text

    def cell(self, shell, code=CELL):
        t0 = time.monotonic()
        with capture_output() as cap:
            result = shell.run_cell(code, store_history=True)
        took = time.monotonic() - t0
        self.text += cap.stderr
        assert result.success and result.result == 42, cap.stdout + cap.stderr
        assert "Traceback" not in cap.stdout + cap.stderr and "Error in callback" not in cap.stdout
        return took

    def count(self, words: str) -> int:
        return sum(words in line for line in self.text.splitlines())


def status(shell) -> str:
    with capture_output() as cap:
        shell.run_line_magic("carbon", "status")
    return next(ln for ln in cap.stdout.splitlines() if ln.strip().startswith("ledger:"))


def file_records(path: Path) -> list[dict]:
    db = sqlite3.connect(path)
    try:
        return [json.loads(b) for (b,) in db.execute("SELECT body FROM records ORDER BY id")]
    finally:
        db.close()


def file_ids(path: Path) -> tuple[int, int]:
    db = sqlite3.connect(path)
    try:
        return db.execute("PRAGMA application_id").fetchone()[0], db.execute("PRAGMA user_version").fetchone()[0]
    finally:
        db.close()


def good_ledger(path: Path, n: int = 200) -> bytes:
    """A real ledger of n session rows, closed (no -wal left); its bytes."""
    db = store.open_store(path).db
    db.execute("BEGIN")
    db.executemany("INSERT INTO sessions VALUES (?, ?, ?)",
                   [(f"old{i}", "2026-01-01T00:00:00Z", json.dumps({"pad": "x" * 400})) for i in range(n)])
    db.execute("COMMIT")
    db.close()
    return path.read_bytes()


def session_on(tmp_path, ledger) -> CarbonSession:
    return CarbonSession(Settings.from_env({"CARBON_MAGIC_DATA_DIR": str(tmp_path)}),
                         discovery=Discovery([RamEstimator(10**9)]), ledger=ledger,
                         cuda_sync=lambda: []).start(thread=False)


# -- a damaged or foreign file is moved aside, once ------------------------------------------
def _garbage(data):
    return b"this is not a database, it is a shopping list\n" * 100


def _truncated(data):
    return data[:len(data) // 3]


def _truncated_header(data):
    return data[:60]


def _page1_damaged(data):
    return data[:100] + b"\xa5" * 3996 + data[4096:]


def _deep_page_damaged(data):
    return data[:len(data) // 2] + b"\xff" * 4096 + data[len(data) // 2 + 4096:]


@pytest.mark.parametrize("damage", [_garbage, _truncated, _truncated_header, _page1_damaged, _deep_page_damaged],
                         ids=["garbage-header", "truncated", "truncated-header", "malformed", "malformed-deep"])
def test_a_damaged_ledger_is_moved_aside_once_and_every_cell_runs(ip, data_dir, damage):
    path = data_dir / "ledger.sqlite3"
    data_dir.mkdir(parents=True)
    damaged = damage(good_ledger(path))
    path.write_bytes(damaged)
    said = Said()
    said.load(ip)
    assert said.cell(ip) < FAST_S
    session = session_for(ip)
    assert session.ledger.flush(5)
    said.cell(ip)
    assert session.ledger.flush(5)
    aside = sorted(data_dir.glob("ledger.sqlite3.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == damaged  # kept as it was, for the user
    assert said.count("was damaged") == 1 and said.count(str(aside[0])) == 1  # where, once
    assert [r["execution_count"] for r in file_records(path)] == [r.execution_count for r in session.records]
    assert file_ids(path) == (store.APPLICATION_ID, store.SCHEMA_VERSION)
    assert status(ip).strip() == f"ledger: {path}"


def _other_tables(path):
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY, taken TEXT)")
    db.execute("INSERT INTO photos (taken) VALUES ('today')")
    db.commit()
    db.close()


def _other_application_id(path):
    good_ledger(path, 3)
    db = sqlite3.connect(path)
    db.execute("PRAGMA application_id=1234")
    db.commit()
    db.close()


@pytest.mark.parametrize("make", [_other_tables, _other_application_id], ids=["other-tables", "other-app-id"])
def test_another_applications_database_is_moved_aside(ip, data_dir, make):
    data_dir.mkdir(parents=True)
    path = data_dir / "ledger.sqlite3"
    make(path)
    before = path.read_bytes()
    said = Said()
    said.load(ip)
    said.cell(ip)
    assert session_for(ip).ledger.flush(5)
    said.cell(ip)  # what the writer found after the first cell is told after the next one
    assert session_for(ip).ledger.flush(5)
    aside = list(data_dir.glob("ledger.sqlite3.foreign-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == before
    assert said.count("was not a carbon_magic ledger") == 1 and said.count(str(aside[0])) == 1
    assert len(file_records(path)) == 2


def test_a_ledger_from_a_newer_carbon_magic_is_left_untouched(ip, data_dir):
    data_dir.mkdir(parents=True)
    path = data_dir / "ledger.sqlite3"
    good_ledger(path, 3)
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version={store.SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    before, mtime = path.read_bytes(), path.stat().st_mtime_ns
    said = Said()
    said.load(ip)
    assert said.cell(ip) < FAST_S
    ledger = session_for(ip).ledger
    assert not ledger.flush(0.3)  # nothing may be written there
    said.cell(ip)
    assert path.read_bytes() == before and path.stat().st_mtime_ns == mtime
    assert not list(data_dir.glob("ledger.sqlite3.*-*"))
    assert said.count("newer carbon_magic") == 1 and said.count("Upgrade carbon_magic") == 1
    line = status(ip)
    assert "in memory" in line and "2 records waiting" in line
    assert [r.execution_count for r in ledger.records()] == [r.execution_count for r in session_for(ip).records]
    assert ip.user_ns["rec"] is session_for(ip).records[-1]


def test_a_ledger_from_before_the_stamp_is_kept_and_stamped(ip, data_dir):
    """A file of ours from before application_id/user_version existed: same tables, no stamp."""
    data_dir.mkdir(parents=True)
    path = data_dir / "ledger.sqlite3"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    for sql in store.SCHEMA:
        db.execute(sql)
    db.execute("INSERT INTO records(session_id, started_at, body) VALUES ('old', 't', '{\"label\": \"old\"}')")
    db.close()
    said = Said()
    said.load(ip)
    said.cell(ip)
    assert session_for(ip).ledger.flush(5)
    assert "ledger" not in said.text and not list(data_dir.glob("ledger.sqlite3.*-*"))
    assert [r.get("label") for r in file_records(path)] == ["old", None]
    assert file_ids(path) == (store.APPLICATION_ID, store.SCHEMA_VERSION)


# -- a file that cannot be written: records kept in memory, written once it can ---------------
@pytest.mark.parametrize("blocked", ["data-dir", "its-parent"])
def test_a_data_directory_that_is_a_file_keeps_records_until_it_is_a_folder(ip, data_dir, blocked, monkeypatch):
    data_dir.write_text("not a folder")
    if blocked == "its-parent":
        monkeypatch.setenv("CARBON_MAGIC_DATA_DIR", str(data_dir / "carbon"))
    said = Said()
    said.load(ip)
    assert said.cell(ip) < FAST_S
    assert not session_for(ip).ledger.flush(0.3)
    said.cell(ip)
    line = status(ip)
    assert "in memory" in line and f"{data_dir} is" in line and "2 records waiting" in line
    assert said.count("cannot write the ledger") == 1 and said.count("CARBON_MAGIC_DATA_DIR") == 1
    data_dir.unlink()  # the user fixes it: the records that waited reach the file
    ledger = session_for(ip).ledger
    assert ledger.flush(5)
    assert len(file_records(ledger.path)) == 2
    said.cell(ip)
    assert said.count("can be written again") == 1
    assert ledger.flush(5) and status(ip).strip() == f"ledger: {ledger.path}"


def test_a_read_only_data_directory_keeps_records_until_it_is_writable(ip, read_only_folder, monkeypatch):
    folder, read_only = read_only_folder
    data_dir = folder / "data"
    data_dir.mkdir()
    good_ledger(data_dir / "ledger.sqlite3", 2)
    read_only(True)
    monkeypatch.setenv("CARBON_MAGIC_DATA_DIR", str(data_dir))
    said = Said()
    said.load(ip)
    assert said.cell(ip) < FAST_S
    assert not session_for(ip).ledger.flush(0.3)
    said.cell(ip)
    line = status(ip)
    assert "in memory" in line and "2 records waiting" in line
    assert said.count("cannot write the ledger") == 1
    read_only(False)
    assert session_for(ip).ledger.flush(10)
    assert len(file_records(data_dir / "ledger.sqlite3")) == 2


@pytest.mark.parametrize("when", ["after-load", "at-load"])
def test_a_full_disk_keeps_records_until_space_is_freed(ip, tmpfs, monkeypatch, when):
    monkeypatch.setenv("CARBON_MAGIC_DATA_DIR", str(tmpfs.where / "data"))
    said = Said()
    if when == "at-load":  # not even a new ledger can be made
        filler = tmpfs.fill()
        said.load(ip)
        ledger = session_for(ip).ledger
    else:
        said.load(ip)
        ledger = session_for(ip).ledger
        assert ledger.flush(5)
        filler = tmpfs.fill()
    took = [said.cell(ip) for _ in range(3)]
    assert max(took) < FAST_S
    assert not ledger.flush(0.5)
    said.cell(ip)
    line = status(ip)
    assert "disk full" in line and "4 records waiting" in line
    assert said.count("disk full") == 1
    filler.unlink()  # space freed: the records of the full period reach the file
    assert ledger.flush(10)
    assert [r["execution_count"] for r in file_records(tmpfs.where / "data" / "ledger.sqlite3")] == \
        [r.execution_count for r in session_for(ip).records]


@pytest.mark.parametrize("fault", ["full", "readonly", "io", "cantopen"])
def test_a_failing_disk_at_the_sqlite_boundary_keeps_every_record(tmp_path, fault, capsys):
    """The same through `measure()` with the disk faked where SQLite meets it (always runs)."""
    disk = FaultyDisk(fault)
    path = tmp_path / "ledger.sqlite3"
    session = session_on(tmp_path, Ledger(path, connect=disk.connect))
    for i in range(3):
        t0 = time.monotonic()
        with measure(label=f"block{i}", session=session) as m:
            pass
        assert time.monotonic() - t0 < FAST_S and m.record is session.records[-1]
        assert not session.ledger.flush(0.2)  # what the writer met is told after the next block
    assert session.ledger.waiting == 3
    assert sum("cannot write the ledger" in ln for ln in capsys.readouterr().err.splitlines()) == 1
    disk.fault = None
    assert session.ledger.flush(10)
    assert [r["label"] for r in file_records(path)] == ["block0", "block1", "block2"]
    session.close()


def test_a_slow_disk_never_holds_a_cell(tmp_path):
    """A network home directory where every SQLite call takes 0.15 s: cells do not notice."""
    disk = FaultyDisk(delay_s=0.15)
    path = tmp_path / "ledger.sqlite3"
    session = session_on(tmp_path, Ledger(path, connect=disk.connect))
    t0 = time.monotonic()
    for i in range(3):
        with measure(label=f"b{i}", session=session):
            pass
    assert time.monotonic() - t0 < FAST_S
    assert session.ledger.flush(20)
    assert [r["label"] for r in file_records(path)] == ["b0", "b1", "b2"]
    session.close()


# -- another process holds the lock ------------------------------------------------------------
# An exclusive-mode lock is only granted while no other connection has the file open, so it
# meets a kernel at load (or after the writer closed an idle file), not while the file is open.
@pytest.mark.parametrize("when, kind", [("at-load", "write"), ("at-load", "exclusive"), ("after-load", "write")])
def test_a_lock_held_by_another_process_never_holds_a_cell(ip, data_dir, lock_holder, kind, when, monkeypatch):
    monkeypatch.setenv("CARBON_MAGIC_UK_URL", "http://127.0.0.1:9")  # GB has a provider (and its cache); no network
    data_dir.mkdir(parents=True)
    path = data_dir / "ledger.sqlite3"
    good_ledger(path, 1)
    said = Said()
    if when == "at-load":
        release = lock_holder(path, kind)
        t0 = time.monotonic()
        said.load(ip)
        assert time.monotonic() - t0 < 2.0
    else:
        said.load(ip)
        assert session_for(ip).ledger.flush(5)
        release = lock_holder(path, kind)
    took = said.cell(ip, "%%carbon --zone GB -o rec\nx = 6 * 7\nx")  # a new zone reads the intensity cache
    took = max(took, said.cell(ip))
    assert took < FAST_S
    session = session_for(ip)
    if kind == "write":  # readers still read: the records come back, the waiting ones included
        assert [r.execution_count for r in session.ledger.records()] == [r.execution_count for r in session.records]
    else:
        with pytest.raises(LedgerUnavailable, match="locked by another process"):
            session.ledger.records()
    assert "2 records waiting" in status(ip)
    release()
    assert session.ledger.flush(10)
    assert [r["execution_count"] for r in file_records(path)] == [r.execution_count for r in session.records]
    assert "waiting" not in status(ip)


def test_the_stop_button_while_a_cell_is_recorded_keeps_the_record(ip, data_dir):
    said = Said()
    said.load(ip)
    session = session_for(ip)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    session.record_listeners.append(lambda rec: signal.raise_signal(signal.SIGINT))
    try:
        with capture_output() as cap:
            result = ip.run_cell("%%carbon -o rec\nx = 6 * 7\nx", store_history=True)
    finally:
        session.record_listeners.pop()
        signal.signal(signal.SIGINT, previous)
    assert result.success and result.result == 42
    assert "Traceback" not in cap.stdout + cap.stderr and "Error in callback" not in cap.stdout
    assert "interrupted while recording this cell; its record is kept" in cap.stderr
    assert len(session.records) == 1 and session.records[0].status == "ok"
    assert session.ledger.flush(5) and len(file_records(data_dir / "ledger.sqlite3")) == 1


# -- the file changes under a running kernel ---------------------------------------------------
@pytest.mark.parametrize("change", ["replaced-by-garbage", "deleted"])
def test_a_ledger_replaced_or_deleted_while_the_kernel_runs(ip, data_dir, change):
    said = Said()
    said.load(ip)
    ledger = session_for(ip).ledger
    said.cell(ip)
    assert ledger.flush(5)
    path = data_dir / "ledger.sqlite3"
    if change == "deleted":
        for p in data_dir.glob("ledger.sqlite3*"):
            p.unlink()
    else:
        (data_dir / "tmp").write_bytes(b"garbage" * 1000)
        os.replace(data_dir / "tmp", path)
    said.cell(ip)
    assert ledger.flush(5)
    said.cell(ip)  # notices found by the writer meanwhile come after the next cell
    assert ledger.flush(5)
    assert len(file_records(path)) == 2  # the new file has the records made since
    if change != "deleted":
        assert said.count("was damaged") == 1 and len(list(data_dir.glob("ledger.sqlite3.corrupt-*Z"))) == 1


# -- a queue that cannot grow forever ------------------------------------------------------------
def test_a_full_queue_drops_the_oldest_records_and_says_how_many(tmp_path, capsys):
    blocked = tmp_path / "file"
    blocked.write_text("x")
    ledger = Ledger(blocked / "ledger.sqlite3", max_queue=5)
    session = session_on(tmp_path, ledger)
    ledger.flush(0.2)
    for i in range(8):
        with measure(label=f"b{i}", session=session):
            pass
    assert ledger.waiting == 4  # the session row and the 4 newest records fill the 5 places
    err = capsys.readouterr().err.splitlines()
    assert sum("oldest records were dropped" in ln for ln in err) == 4  # each time the count grew
    assert "4 oldest records were dropped" in err[-1] and ledger.notices() == []
    assert len(session.records) == 8  # the session itself keeps all
    assert "4 dropped (queue full)" in ledger.describe()
    blocked.unlink()
    assert ledger.flush(10)
    assert [r["label"] for r in file_records(blocked / "ledger.sqlite3")] == ["b4", "b5", "b6", "b7"]
    session.close()


# -- processes that end --------------------------------------------------------------------------
def test_exit_does_not_hang_on_a_locked_ledger(tmp_path, lock_holder):
    path = tmp_path / "ledger.sqlite3"
    good_ledger(path, 1)
    release = lock_holder(path, "write")
    script = textwrap.dedent(f"""
        import time
        from carbon_magic import measure
        from carbon_magic.config import Settings
        from carbon_magic.ledger import Ledger, LedgerUnavailable
        from carbon_magic.session import CarbonSession
        from carbon_magic.sources import Discovery
        from carbon_magic.sources.estimators import RamEstimator
        s = CarbonSession(Settings.from_env({{}}), discovery=Discovery([RamEstimator(10**9)]),
                          ledger=Ledger({str(path)!r}), cuda_sync=lambda: []).start(thread=False)
        t0 = time.monotonic()
        with measure(label="job", session=s):
            pass
        print(f"block {{time.monotonic() - t0:.3f}}")
        print(f"end {{time.time():.3f}}", flush=True)
    """)
    try:
        p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                           env={**os.environ, "PYTHONPATH": str(ROOT)})
        exited = time.time()
    finally:
        release()
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
    times = {k: float(v) for k, v in (line.split() for line in p.stdout.splitlines())}
    assert times["block"] < FAST_S
    assert exited - times["end"] < 3.0  # the writer gets 1.5 s at exit, then the process goes


def test_a_killed_kernel_loses_at_most_the_running_cell(tmp_path, powercap):
    pytest.importorskip("jupyter_client")
    pytest.importorskip("ipykernel")
    from jupyter_client.manager import start_new_kernel
    powercap.add_zone("intel-rapl:0", "package-0", 1_000_000)
    data = tmp_path / "data"
    env = {**os.environ, "CARBON_MAGIC_POWERCAP_ROOT": str(powercap.root), "CARBON_MAGIC_DATA_DIR": str(data),
           "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": str(ROOT)}
    for var in ("CARBON_MAGIC_ZONE", "ELECTRICITYMAPS_API_TOKEN", "CARBON_MAGIC_PROVIDER"):
        env.pop(var, None)
    km, kc = start_new_kernel(kernel_name="python3", env=env, cwd=str(tmp_path))
    try:
        assert kc.execute_interactive("%load_ext carbon_magic", timeout=30)["content"]["status"] == "ok"
        for i in range(3):
            reply = kc.execute_interactive(f"%%carbon --label done{i}\nx = {i}", timeout=30)
            assert reply["content"]["status"] == "ok"
        kc.execute("%%carbon --label running\nimport time\ntime.sleep(60)")
        time.sleep(1.0)
        os.kill(km.provisioner.process.pid, signal.SIGKILL)
        km.provisioner.process.wait()
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    path = data / "ledger.sqlite3"
    assert [r["label"] for r in file_records(path)] == ["done0", "done1", "done2"]
    led = Ledger(path)  # the file a killed kernel leaves is a good ledger: nothing moved aside
    assert led.wait_ready(5) and led.notices() == [] and len(led.sessions()) == 1
    led.close(5)
    assert not list(data.glob("ledger.sqlite3.*-*"))


# -- `carbon-magic report --ledger` on files that are not good ledgers: one line ------------------
def _newer(path):
    good_ledger(path, 1)
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version=7")
    db.commit()
    db.close()


def _empty(path):
    path.write_bytes(b"")


@pytest.mark.parametrize("make, words", [
    (lambda p: p.write_bytes(_garbage(b"")), "not a carbon_magic ledger: not a SQLite database"),
    (lambda p: p.write_bytes(_truncated(good_ledger(p))), "the ledger is damaged"),
    (lambda p: p.write_bytes(_truncated_header(good_ledger(p))), "truncated"),
    (_other_tables, "not a carbon_magic ledger (a SQLite database with other tables (photos))"),
    (_other_application_id, "another application's SQLite database"),
    (_newer, "written by a newer carbon_magic (ledger schema 7, this carbon_magic writes 1); upgrade"),
    (_empty, "not a carbon_magic ledger (an empty database)"),
], ids=["garbage", "truncated", "truncated-header", "foreign", "other-app-id", "newer", "empty"])
def test_report_on_a_bad_ledger_is_one_line(tmp_path, capsys, make, words):
    path = tmp_path / "ledger.sqlite3"
    make(path)
    assert main(["report", "--ledger", str(path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0] == f"{path}: {err[0].split(': ', 1)[1]}" and words in err[0], err
    assert err[1:] == ["carbon-magic report: no file could be read"]


def test_report_on_a_locked_ledger_is_one_line(tmp_path, capsys, lock_holder):
    path = tmp_path / "ledger.sqlite3"
    good_ledger(path, 1)
    release = lock_holder(path, "exclusive")
    try:
        t0 = time.monotonic()
        assert main(["report", "--ledger", str(path)]) == 1
        assert time.monotonic() - t0 < 5
    finally:
        release()
    err = capsys.readouterr().err.strip().splitlines()
    assert "locked by another process" in err[0] and err[1:] == ["carbon-magic report: no file could be read"]


def test_report_reads_a_ledger_whose_path_looks_like_a_uri(tmp_path, capsys):
    folder = tmp_path / "odd #1 ?x=%20"
    folder.mkdir()
    ledger = Ledger(folder / "ledger.sqlite3")
    session = session_on(tmp_path, ledger)
    with measure(label="odd", session=session):
        pass
    assert ledger.flush(5)
    assert main(["report", "--ledger", str(folder / "ledger.sqlite3")]) == 0
    assert session.session_id in capsys.readouterr().out
    session.close()
