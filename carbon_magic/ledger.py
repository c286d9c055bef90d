"""The ledger: every record kept, and written to SQLite without a cell ever waiting on the file.

`append` (a cell's record), `put_session` and `cache_intensity` put a row in a bounded queue and
return in microseconds. One writer thread per Ledger opens the file (ledger_store.py: a damaged
or foreign file is moved aside, a newer one left alone), writes the queue in batches, each one
short IMMEDIATE transaction with a short busy timeout, and when the file is locked, full,
read-only, replaced or cannot be opened at all, keeps the rows and tries again, backing off up to
`retry_max_s`. Rows that wait are in memory only: a SIGKILL loses them (and the running cell),
a normal exit gives them EXIT_FLUSH_S to reach the file.

    cell ──append──► queue (≤ max_queue rows; the oldest dropped beyond, counted and told)
                       │ writer thread: open/classify · BEGIN IMMEDIATE · batch · COMMIT
                       ▼                 on failure: rows back in front, retry after 50 ms … 4 s
                    ledger.sqlite3 (WAL)

Reading: `records()`, `sessions()` and `session()` are answered by the writer thread (rows in the
file plus those still queued). `cached_intensity` is answered from memory (the cache is loaded
when the file first opens), so a cell that uses a new zone never waits on the file either.
The user hears about the file once per kind of trouble (`notices()`); `describe()` and
`waiting` are for `%carbon status`.

Reports (`carbon-magic report --ledger`) read a file with `LedgerReader`, which never writes it
(ledger_store.read_only) and skips a damaged row with a one-line note. The SQL of both is here.
"""
from __future__ import annotations

import atexit
import json
from typing import Any
import logging
import sqlite3
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from . import ledger_store as store
from .record import CellRecord, iso_utc, latest_revisions

log = logging.getLogger("carbon_magic")

MAX_QUEUE = 20_000  # rows waiting in memory at most (a record is about 2 kB)
BATCH = 500  # rows per transaction
BUSY_TIMEOUT_S = 0.1  # SQLite's wait for another writer, in the writer thread only
RETRY_MIN_S = 0.05
RETRY_MAX_S = 4.0
NEWER_RETRY_S = 60.0  # a newer carbon_magic's file changes only when the user acts
IDLE_CLOSE_S = 10.0  # the file is closed when nothing was written for this long
LOCKED_NOTICE_S = 30.0  # a lock held longer than this is worth telling the user about
READ_TIMEOUT_S = 5.0
EXIT_FLUSH_S = 1.5  # what interpreter exit gives the writers, all together
MAX_MOVES = 3  # files moved aside per kernel before the ledger stops making new ones
CACHE_KEEP_S = 8 * 86400.0  # intensity cache rows loaded into memory when the file opens
READ_BUSY_TIMEOUT_S = 1.0  # a report on a ledger locked longer than this says so, it does not wait

INSERT_RECORD = "INSERT INTO records(session_id, started_at, body) VALUES (?, ?, ?)"
PUT_SESSION = "INSERT OR REPLACE INTO sessions(session_id, started_at, body) VALUES (?, ?, ?)"
PUT_CACHE = "INSERT OR REPLACE INTO intensity_cache VALUES (?, ?, ?, ?, ?, ?)"
SELECT_RECORDS = "SELECT session_id, body FROM records ORDER BY id"
SELECT_SESSION_RECORDS = "SELECT session_id, body FROM records WHERE session_id=? ORDER BY id"
SELECT_SESSIONS = "SELECT session_id, started_at, body FROM sessions"


class LedgerUnavailable(Exception):
    """A read could not be answered from the file (one line: why)."""


@dataclass
class _Op:
    kind: str  # "record", "session" or "cache"
    sql: str
    args: tuple | list
    many: bool = False


class _Read:
    def __init__(self, fn):
        self.fn, self.done, self.result, self.error, self.cancelled = fn, threading.Event(), None, None, False


class Ledger:
    def __init__(self, path: str | Path, *, connect=sqlite3.connect, max_queue: int = MAX_QUEUE,
                 busy_timeout_s: float = BUSY_TIMEOUT_S, retry_max_s: float = RETRY_MAX_S, wall=time.time):
        self.path = Path(path)
        self._connect, self._max_queue, self._busy_timeout_s = connect, max_queue, busy_timeout_s
        self._retry_max_s, self._wall = retry_max_s, wall
        self._cv = threading.Condition()
        self._queue: deque[_Op] = deque()
        self._in_flight: list[_Op] = []
        self._reads: list[_Read] = []
        self._db: sqlite3.Connection | None = None  # the writer thread's alone
        self._inode: tuple[int, int] | None = None
        self.mode = "opening"  # "file", "locked" (waits for another process) or "memory"
        self.reason: str | None = None  # why the file cannot be written now
        self.dropped = 0  # records dropped from a full queue
        self._dropped_told = 0
        self._notices: list[str] = []
        self._said: set = set()
        self._memory_told = False
        self._fault: str | None = None  # the kind of trouble the file is in (not a lock)
        self._tried = threading.Event()  # the first attempt to open the file is over
        self._delay_s = 0.0
        self._next_try = time.monotonic()
        self._failing_since: float | None = None
        self._last_io = time.monotonic()
        self._closing = False
        self._stopped = False
        self._cache: dict[tuple[str, str], dict[float, tuple]] = {}
        self._cache_loaded = False
        self._checked = False  # the whole file was read once (quick_check) after opening
        self._moves = 0  # files moved aside by this ledger (a disk that damages every file stops it)
        self._thread = threading.Thread(target=self._run, name="carbon_magic-ledger", daemon=True)
        with _LIVE_LOCK:
            _LIVE.add(self)
        try:
            self._thread.start()
        except RuntimeError as exc:  # no threads left: the records stay in memory
            self._stopped = True
            self._trouble(store.OTHER, f"no writer thread ({exc})")
            self._tried.set()

    @classmethod
    def in_dir(cls, data_dir: str | Path, **kw) -> Ledger:
        return cls(Path(data_dir) / "ledger.sqlite3", **kw)

    def __repr__(self) -> str:
        return f"<Ledger {self.describe()}>"

    # -- writing: queue and return ---------------------------------------------------------
    def append(self, record: CellRecord) -> None:
        # The column keeps the record's own ISO start; to_json() is json.dumps(to_dict()) without the copy.
        self._put(_Op("record", INSERT_RECORD, (record.session_id, record.started_at, record.to_json())))

    def put_session(self, session_id: str, start_s: float, info: dict) -> None:
        """The session's description; `start_s` (unix seconds) is written as ISO text, as records' starts are."""
        self._put(_Op("session", PUT_SESSION, (session_id, iso_utc(start_s), json.dumps(info))))

    def cache_intensity(self, provider: str, zone: str, points: list[tuple[float, float, float, dict]]) -> None:
        """points: (start_s, end_s, value_g_per_kwh, provenance)."""
        if not points:
            return
        rows = [(provider, zone, float(a), float(b), float(v), json.dumps(p)) for a, b, v, p in points]
        with self._cv:
            self._remember_cache(rows, replace=True)
        self._put(_Op("cache", PUT_CACHE, rows, many=True))

    def _put(self, op: _Op) -> None:
        with self._cv:
            self._queue.append(op)
            self._bound()
            self._cv.notify_all()

    def _bound(self) -> None:  # under self._cv
        """Beyond max_queue rows, drop the oldest that is not a session's description (those are
        one per session, and the records in the file need them)."""
        while len(self._queue) + len(self._in_flight) > self._max_queue:
            i = next((i for i, op in enumerate(self._queue) if op.kind != "session"), None)
            if i is None:
                return
            dropped = self._queue[i]
            del self._queue[i]
            if dropped.kind == "record":
                self.dropped += 1

    # -- reading -----------------------------------------------------------------------------
    def records(self, session_id: str | None = None, timeout_s: float = READ_TIMEOUT_S) -> list[CellRecord]:
        """The file's records (of one session, or all) followed by those still waiting."""
        def read(db):
            rows = [] if db is None else _record_rows(db, session_id)
            return [r[1] for r in rows] + [op.args[2] for op in self._waiting("record")
                                           if session_id is None or op.args[0] == session_id]

        return [CellRecord.from_dict(json.loads(b)) for b in self._ask(read, timeout_s)]

    def sessions(self, timeout_s: float = READ_TIMEOUT_S) -> list[dict]:
        def read(db):
            rows: dict[str, Any] = {} if db is None else {s: (t, b) for s, t, b in db.execute(
                SELECT_SESSIONS).fetchall()}
            for op in self._waiting("session"):
                rows[op.args[0]] = op.args[1:]
            return rows

        rows = self._ask(read, timeout_s)
        return sorted(({"session_id": s, "started_at": t, **json.loads(b)} for s, (t, b) in rows.items()),
                      key=lambda d: d["started_at"])

    def session(self, session_id: str, timeout_s: float = READ_TIMEOUT_S) -> dict | None:
        found = [s for s in self.sessions(timeout_s) if s["session_id"] == session_id]
        if not found:
            return None
        return {k: v for k, v in found[0].items() if k not in ("session_id", "started_at")}

    def cached_intensity(self, provider: str, zone: str, start_s: float, end_s: float):
        """Cached intensity overlapping [start_s, end_s), from memory: never waits on the file."""
        with self._cv:
            rows = [r for r in self._cache.get((provider, zone), {}).values() if r[1] > start_s and r[0] < end_s]
        return [(a, b, v, json.loads(p)) for a, b, v, p in sorted(rows)]

    def _waiting(self, kind: str) -> list[_Op]:
        with self._cv:
            return [op for op in (*self._in_flight, *self._queue) if op.kind == kind]

    def _ask(self, fn, timeout_s: float):
        """fn(connection or None) run by the writer thread; the caller waits at most timeout_s."""
        req = _Read(fn)
        with self._cv:
            stopped = self._stopped
            if not stopped:
                self._reads.append(req)
                self._cv.notify_all()
        if stopped:
            return fn(None)
        if not req.done.wait(timeout_s):
            req.cancelled = True
            raise LedgerUnavailable(f"the ledger {self.path} did not answer within {timeout_s:g} s"
                                    + (f" ({self.reason})" if self.reason else ""))
        if req.error is not None:
            raise LedgerUnavailable(f"cannot read the ledger {self.path} ({store.one_line(req.error)})")
        return req.result

    # -- state, for the user -------------------------------------------------------------------
    @property
    def waiting(self) -> int:
        """Records not yet in the file."""
        return len(self._waiting("record"))

    def describe(self) -> str:
        """One line for `%carbon status`: where records go, and what waits."""
        with self._cv:
            mode, reason, dropped, fault = self.mode, self.reason, self.dropped, self._fault
        n = self.waiting
        waiting = f"{n} record{'s' if n != 1 else ''} waiting"
        every = NEWER_RETRY_S if fault == store.NEWER else self._retry_max_s
        if mode == "memory":
            text = f"in memory, {waiting}: {self.path} cannot be used: {reason}. Retried every {every:g} s at most"
        elif mode == "locked":
            text = f"{self.path} (locked by another process; {waiting}, retried every {every:g} s at most)"
        else:
            text = str(self.path) + (" (opening)" if mode == "opening" else "") + (f"; {waiting}" if n else "")
        return text + (f"; {dropped} dropped (queue full)" if dropped else "")

    def notices(self) -> list[str]:
        """One-time messages for the user, each returned once."""
        with self._cv:
            out, self._notices = self._notices, []
            if self.dropped > self._dropped_told:
                out.append(f"carbon_magic: the ledger's queue is full ({self._max_queue} rows wait for "
                           f"{self.path}); {self.dropped} oldest records were dropped from it so far "
                           "(this session's table and exports still have them)")
                self._dropped_told = self.dropped
        return out

    def _notice(self, key, text: str) -> None:
        with self._cv:
            if key not in self._said:
                self._said.add(key)
                self._notices.append(text)

    # -- waiting, for exit and tests -----------------------------------------------------------
    def wait_ready(self, timeout_s: float) -> bool:
        """Wait at most timeout_s for the first attempt to open the file (its notices are then known)."""
        return self._tried.wait(timeout_s)

    def flush(self, timeout_s: float = 2.0) -> bool:
        """Try to write what waits now, and wait at most timeout_s; True if nothing waits."""
        deadline = time.monotonic() + timeout_s
        with self._cv:
            self._next_try = min(self._next_try, time.monotonic())
            self._cv.notify_all()
            while self._queue or self._in_flight:
                left = deadline - time.monotonic()
                if left <= 0 or self._stopped:
                    return False
                self._cv.wait(left)
        return True

    def close(self, timeout_s: float = 0.0) -> bool:
        """Stop once what waits is written (the thread goes on trying in the background if that
        takes longer than timeout_s, until the interpreter exits). True if nothing waits."""
        with self._cv:
            self._closing = True
            self._next_try = min(self._next_try, time.monotonic())
            self._cv.notify_all()
        if timeout_s > 0 and self._thread.is_alive():
            self._thread.join(timeout_s)
        with self._cv:
            return not (self._queue or self._in_flight)

    # -- the writer thread ---------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while True:
                with self._cv:
                    action = self._next_action()
                    while action is None:
                        self._cv.wait(self._wait_s())
                        action = self._next_action()
                    reads, self._reads = self._reads, []
                if action == "exit":
                    return
                for req in reads:
                    self._serve(req)
                if action == "write":
                    self._attempt()
                elif action == "idle":
                    self._close_db()
        except BaseException as exc:
            log.debug("ledger writer stopped", exc_info=True)
            with self._cv:
                self.mode, self._fault = "memory", store.OTHER
                self.reason = f"the writer stopped ({store.one_line(exc)})"
        finally:
            self._close_db()
            with self._cv:
                self._stopped = True
                reads, self._reads = self._reads, []
                self._cv.notify_all()
            for req in reads:
                self._serve(req)
            with _LIVE_LOCK:
                _LIVE.discard(self)

    def _next_action(self) -> str | None:  # under self._cv
        if self._reads:
            return "read"
        now, pending = time.monotonic(), bool(self._queue)
        if (pending or not self._tried.is_set()) and now >= self._next_try:
            return "write"
        if self._closing and not pending:
            return "exit"
        if self._db is not None and not pending and now - self._last_io >= IDLE_CLOSE_S:
            return "idle"
        return None

    def _wait_s(self) -> float | None:  # under self._cv
        now, waits = time.monotonic(), []
        if self._queue:
            waits.append(self._next_try - now)
        if self._db is not None:
            waits.append(self._last_io + IDLE_CLOSE_S - now)
        return max(0.001, min(waits)) if waits else None

    def _serve(self, req: _Read) -> None:
        if req.cancelled:
            return
        try:
            if self._db is None and not self._stopped:
                self._open()
            if self._db is None and self.mode == "locked":  # the file has rows we cannot see now
                raise LedgerUnavailable(f"{self.path} is {self.reason}")
            req.result = req.fn(self._db)
        except Exception as exc:  # noqa: BLE001 - handed to the reader
            req.error = exc
        finally:
            req.done.set()

    def _attempt(self) -> None:
        """Open the file if needed, then write one batch; on failure the batch waits again."""
        if self._db is not None and store.file_identity(self.path) != self._inode:
            self._close_db()  # moved, deleted or replaced under us: write to what is there now
        if self._db is None and not self._open():
            return
        with self._cv:
            while self._queue and len(self._in_flight) < BATCH:
                self._in_flight.append(self._queue.popleft())
            batch = list(self._in_flight)
        if not batch:
            self._ok()
            return
        try:
            self._write(batch)
        except Exception as exc:  # noqa: BLE001 - every failure keeps the rows
            with self._cv:
                self._queue.extendleft(reversed(self._in_flight))
                self._in_flight = []
                self._bound()
                self._cv.notify_all()
            self._write_failed(exc)
            return
        with self._cv:
            self._in_flight = []
            self._cv.notify_all()
        self._ok()

    def _write(self, batch: list[_Op]) -> None:
        db = self._db
        assert db is not None  # called only with the file open
        db.execute("BEGIN IMMEDIATE")
        try:
            for op in batch:
                (db.executemany if op.many else db.execute)(op.sql, op.args)
            db.execute("COMMIT")
        except BaseException:
            try:
                if db.in_transaction:
                    db.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            raise
        self._last_io = time.monotonic()

    def _open(self) -> bool:
        try:
            opened = store.open_store(self.path, connect=self._connect, busy_timeout_s=self._busy_timeout_s,
                                      wall=self._wall, check=not self._checked,
                                      moves_left=max(0, MAX_MOVES - self._moves))
        except store.Unusable as exc:
            self._trouble(exc.kind, exc.reason)
            self._tried.set()
            return False
        except Exception as exc:  # noqa: BLE001 - anything else the system says: records wait in memory
            kind = store.fault_of(exc)
            self._trouble(kind, store.describe_fault(kind, exc))
            self._tried.set()
            return False
        self._db, self._inode, self._last_io = opened.db, opened.inode, time.monotonic()
        self._checked = True
        for kind, why, target in opened.moved:
            self._moved_notice(kind, why, target)
        if not self._cache_loaded:
            self._load_cache()
        with self._cv:
            self.mode, self.reason = "file", None
        self._tried.set()
        return True

    def _load_cache(self) -> None:
        assert self._db is not None  # called right after the file opened
        try:
            rows = self._db.execute("SELECT provider, zone, start_s, end_s, value_g_per_kwh, body FROM intensity_cache"
                                    " WHERE end_s > ?", (self._wall() - CACHE_KEEP_S,)).fetchall()
        except sqlite3.Error:
            log.debug("intensity cache unreadable", exc_info=True)
            return
        with self._cv:
            self._remember_cache(rows, replace=False)
        self._cache_loaded = True

    def _remember_cache(self, rows, replace: bool) -> None:  # under self._cv
        for provider, zone, a, b, v, p in rows:
            if isinstance(provider, str) and isinstance(zone, str) and isinstance(p, str):
                by_start = self._cache.setdefault((provider, zone), {})
                if replace or a not in by_start:
                    by_start[a] = (a, b, v, p)

    def _close_db(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            try:
                db.close()
            except sqlite3.Error:
                log.debug("ledger close failed", exc_info=True)

    # -- outcomes ------------------------------------------------------------------------------
    def _ok(self) -> None:
        with self._cv:
            recovered = self._memory_told and self._fault is not None
            self.mode, self.reason, self._delay_s, self._failing_since = "file", None, 0.0, None
            self._fault = None
        if recovered:
            self._notice(("recovered",), f"carbon_magic: the ledger {self.path} can be written again; "
                                         "the records that waited are in it now.")

    def _write_failed(self, exc: Exception) -> None:
        kind = store.fault_of(exc)
        if kind == store.CORRUPT and self._moves < MAX_MOVES:  # found while writing: a new file
            inode = self._inode
            self._close_db()
            try:
                target = store.move_aside(self.path, store.CORRUPT, self._wall(), expect_inode=inode)
            except store.Unusable as failed:
                self._trouble(failed.kind, failed.reason)
                return
            if target is not None:
                self._moved_notice(store.CORRUPT, store.one_line(exc), target)
            with self._cv:
                self._next_try = time.monotonic()
            return
        if kind == store.CORRUPT:  # every new file is damaged too: the disk, not the file
            self._close_db()
            self._trouble(store.IO, f"damaged again after {self._moves} new files ({store.one_line(exc)}); "
                                    "check the disk")
            return
        if kind != store.BUSY:
            self._close_db()  # reopened on the next try: the file or its folder may have changed
        self._trouble(kind, store.describe_fault(kind, exc))

    def _trouble(self, kind: str, reason: str) -> None:
        """The file cannot be written now: back off, and tell the user once per kind of trouble."""
        now = time.monotonic()
        with self._cv:
            if self._failing_since is None:
                self._failing_since = now
            locked_s = now - self._failing_since
            cap = NEWER_RETRY_S if kind == store.NEWER else self._retry_max_s
            self._delay_s = min(cap, max(RETRY_MIN_S, self._delay_s * 2))
            self._next_try = now + self._delay_s
            self.reason = reason
            if kind != store.BUSY:
                self.mode, self._fault = "memory", kind
            elif self.mode != "memory":
                self.mode = "locked"
            self._cv.notify_all()
        if kind == store.BUSY:
            if locked_s >= LOCKED_NOTICE_S:
                self._notice(("locked",), f"carbon_magic: the ledger {self.path} has been locked by another "
                                          f"process for {locked_s:.0f} s; {self.waiting} records wait in memory "
                                          "and are written when it is free.")
            return
        if kind == store.NEWER:
            text = (f"carbon_magic: the ledger {self.path} was {reason}; it is left untouched and this "
                    "session's records are kept in memory. Upgrade carbon_magic (pip install -U carbon_magic) "
                    "to record into it.")
        else:
            text = (f"carbon_magic: cannot write the ledger {self.path}: {reason}. Records are kept in memory "
                    "and written there once it works (%carbon status shows how many wait).")
        self._memory_told = True
        self._notice(("memory", kind), text)

    def _moved_notice(self, kind: str, why: str, target: Path) -> None:
        self._moves += 1
        what = "was damaged" if kind == store.CORRUPT else "was not a carbon_magic ledger"
        self._notice(("moved", str(target)), f"carbon_magic: the ledger {self.path} {what} ({why}); it was "
                                             f"moved to {target} and a new ledger was started.")


def _record_rows(db: sqlite3.Connection, session_id: str | None) -> list:
    """(session_id, body) of the file's records, of one session or all, in the order written."""
    if session_id is None:
        return db.execute(SELECT_RECORDS).fetchall()
    return db.execute(SELECT_SESSION_RECORDS, (session_id,)).fetchall()


# -- reading a file for a report: never written ----------------------------------------------
@dataclass
class StoredSession:
    """One session as a ledger file holds it."""

    session_id: str
    records: list[CellRecord]  # each cell once, at its latest revision, in the order written
    info: dict  # its description (CarbonSession.describe()); {} where missing or unreadable
    notes: list[str] = field(default_factory=list)  # one line per damaged row skipped


class LedgerReader:
    """A ledger file read as it is: not created, migrated, repaired or moved aside, no -wal or
    -journal made beside it (ledger_store.read_only), a lock reported after busy_timeout_s rather
    than waited out. A damaged row is skipped with a one-line note; a file that cannot be read at
    all is one LedgerUnavailable whose message says why."""

    def __init__(self, path: str | Path, busy_timeout_s: float = READ_BUSY_TIMEOUT_S):
        self.path, self.busy_timeout_s = Path(path), busy_timeout_s

    def sessions(self, session_id: str | None = None) -> list[StoredSession]:
        """Each session with records in the file (or only `session_id`), in the order first written."""
        def read(db, tables):
            records = _record_rows(db, session_id) if "records" in tables else []
            infos = {s: b for s, _t, b in db.execute(SELECT_SESSIONS).fetchall()} if "sessions" in tables else {}
            return records, infos

        try:
            rows, infos = store.read_only(self.path, read, busy_timeout_s=self.busy_timeout_s)
        except store.Unusable as exc:
            raise LedgerUnavailable(exc.reason) from None
        found: dict[str, StoredSession] = {}
        for sid, body in rows:
            stored = found.get(sid)
            if stored is None:
                stored = found[sid] = StoredSession(sid, [], *_session_info(infos.get(sid)))
            try:
                d = json.loads(body)
            except (ValueError, TypeError, RecursionError):  # not text, not JSON, a 5000-digit number…
                stored.notes.append("a record skipped, invalid JSON")
                continue
            try:
                stored.records.append(CellRecord.from_untrusted(d))
            except ValueError as exc:
                stored.notes.append(f"a record skipped, {exc}")
        for stored in found.values():  # a record revised after its cell (cluster tasks): its last version
            stored.records = latest_revisions(stored.records)
        return list(found.values())


def _session_info(body) -> tuple[dict, list[str]]:
    """(the session's description, notes): {} and a note where its row is damaged."""
    if body is None:
        return {}, []
    try:
        info = json.loads(body)
    except (ValueError, TypeError, RecursionError):
        return {}, ["the session's description skipped, invalid JSON"]
    if not isinstance(info, dict):
        return {}, ["the session's description skipped, not a JSON object"]
    return info, []


# -- interpreter exit: give every writer a moment to finish ----------------------------------
_LIVE: set[Ledger] = set()
_LIVE_LOCK = threading.Lock()


def _flush_at_exit(total_s: float = EXIT_FLUSH_S) -> None:
    deadline = time.monotonic() + total_s
    with _LIVE_LOCK:
        ledgers = list(_LIVE)
    for led in ledgers:  # all start at once; then wait for each within the one deadline
        led.close(0.0)
    for led in ledgers:
        led.close(max(0.0, deadline - time.monotonic()))


atexit.register(_flush_at_exit)
