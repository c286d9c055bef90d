"""Append-only SQLite ledger of records (WAL), one row per cell, written when the cell ends.

Several kernels may write the same file at once: each write is one short IMMEDIATE transaction
with a busy timeout, so no row is lost. A killed kernel loses at most the cell that was running.
The database also holds session descriptions and the intensity cache of the providers.
"""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path

from .record import CellRecord

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL,
    started_at TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_session ON records(session_id);
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY,
    started_at TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS intensity_cache (
    provider TEXT NOT NULL,
    zone TEXT NOT NULL,
    start_s REAL NOT NULL,
    end_s REAL NOT NULL,
    value_g_per_kwh REAL NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (provider, zone, start_s)
);
"""


def _retry_locked(fn, attempts: int = 50, pause_s: float = 0.05):
    """Run fn, retrying while SQLite says the database is locked (other writers), ~2.5 s at most."""
    for i in range(attempts):
        try:
            return fn()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or i == attempts - 1:
                raise
            time.sleep(pause_s)


class Ledger:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), timeout=10.0, isolation_level=None,
                                   check_same_thread=False)
        # Another kernel may be creating or converting the same file right now: switching to WAL
        # can report "locked" without waiting for the busy timeout, so retry briefly.
        _retry_locked(lambda: self._db.execute("PRAGMA journal_mode=WAL"))
        self._db.execute("PRAGMA synchronous=NORMAL")
        _retry_locked(lambda: self._db.executescript(SCHEMA_SQL))

    @classmethod
    def in_dir(cls, data_dir: str | Path) -> Ledger:
        return cls(Path(data_dir) / "ledger.sqlite3")

    def _write(self, sql: str, args) -> None:
        with self._lock:
            _retry_locked(lambda: self._transaction(sql, args))

    def _transaction(self, sql: str, args) -> None:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            if isinstance(args, list):
                self._db.executemany(sql, args)
            else:
                self._db.execute(sql, args)
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise

    # -- records -------------------------------------------------------------------------
    def append(self, record: CellRecord) -> None:
        self._write("INSERT INTO records(session_id, started_at, body) VALUES (?, ?, ?)",
                    (record.session_id, record.started_at, json.dumps(record.to_dict())))

    def records(self, session_id: str | None = None) -> list[CellRecord]:
        with self._lock:
            if session_id is None:
                rows = self._db.execute("SELECT body FROM records ORDER BY id").fetchall()
            else:
                rows = self._db.execute("SELECT body FROM records WHERE session_id=? ORDER BY id",
                                        (session_id,)).fetchall()
        return [CellRecord.from_dict(json.loads(r[0])) for r in rows]

    # -- sessions ------------------------------------------------------------------------
    def put_session(self, session_id: str, started_at: str, info: dict) -> None:
        self._write("INSERT OR REPLACE INTO sessions(session_id, started_at, body) VALUES (?, ?, ?)",
                    (session_id, started_at, json.dumps(info)))

    def session(self, session_id: str) -> dict | None:
        with self._lock:
            row = self._db.execute("SELECT body FROM sessions WHERE session_id=?", (session_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def sessions(self) -> list[dict]:
        with self._lock:
            rows = self._db.execute("SELECT session_id, started_at, body FROM sessions ORDER BY started_at").fetchall()
        return [{"session_id": s, "started_at": t, **json.loads(b)} for s, t, b in rows]

    # -- intensity cache -----------------------------------------------------------------
    def cache_intensity(self, provider: str, zone: str, points: list[tuple[float, float, float, dict]]) -> None:
        """points: (start_s, end_s, value_g_per_kwh, provenance)."""
        if points:
            self._write("INSERT OR REPLACE INTO intensity_cache VALUES (?, ?, ?, ?, ?, ?)",
                        [(provider, zone, a, b, v, json.dumps(p)) for a, b, v, p in points])

    def cached_intensity(self, provider: str, zone: str, start_s: float, end_s: float):
        with self._lock:
            rows = self._db.execute(
                "SELECT start_s, end_s, value_g_per_kwh, body FROM intensity_cache "
                "WHERE provider=? AND zone=? AND end_s>? AND start_s<? ORDER BY start_s",
                (provider, zone, start_s, end_s)).fetchall()
        return [(a, b, v, json.loads(p)) for a, b, v, p in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()
