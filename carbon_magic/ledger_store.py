"""The ledger's file on disk: open it ready to write, or say in one line why it cannot be.

`open_store(path)` classifies what is at `path` and returns a connection to a usable ledger:

    ours     application_id CBMG, user_version 1 (or a file of ours from before the stamp: same
             tables, no application_id; it is stamped)                        -> opened
    empty    no file yet, or an empty SQLite file                             -> created
    corrupt  not SQLite, a truncated header, a malformed database             -> moved aside
    foreign  a SQLite database of another application (other id or tables)    -> moved aside
    newer    ours, user_version above ours                                     -> Unusable("newer")
    and, from the operating system or SQLite: busy (locked by another process), full,
    readonly, io, cantopen, notdir (the data directory is a file)             -> Unusable(kind)

`read_only(path, read)` is the other way in, for reports: it changes nothing at `path` (no file
created, migrated, repaired or moved aside, no -wal or -journal beside it) and says in one line
why a file cannot be read.

A file moved aside becomes `ledger.sqlite3.corrupt-<UTC time>` (or `.foreign-…`), its -wal and
-shm beside it, and a new ledger is created in its place; `Opened.moved` says where, so the
caller can tell the user once. Nothing here waits longer than the busy timeout it is given;
`Unusable.kind` tells the caller whether trying again later can help (everything but "newer"
can: the user may free the disk, fix a permission, release a lock).
"""
from __future__ import annotations

import errno
import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

APPLICATION_ID = 0x43424D47  # "CBMG" in the SQLite header's application_id field
SCHEMA_VERSION = 1  # PRAGMA user_version of the files this version writes
SQLITE_MAGIC = b"SQLite format 3\x00"
HEADER_BYTES = 100
WAL_MODE = b"\x02\x02"  # header bytes 18-19 of a database in WAL mode
READ_ATTEMPTS = 3  # reads of a file that a writer changed meanwhile, before giving up
QUICK_CHECK_MAX_BYTES = 256 * 2**20  # read whole at the first open up to this (~0.2 s); larger: as written

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS records (id INTEGER PRIMARY KEY AUTOINCREMENT, session_id TEXT NOT NULL,"
    " started_at TEXT NOT NULL, body TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS records_session ON records(session_id)",
    "CREATE TABLE IF NOT EXISTS sessions (session_id TEXT PRIMARY KEY, started_at TEXT NOT NULL,"
    " body TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS intensity_cache (provider TEXT NOT NULL, zone TEXT NOT NULL,"
    " start_s REAL NOT NULL, end_s REAL NOT NULL, value_g_per_kwh REAL NOT NULL, body TEXT NOT NULL,"
    " PRIMARY KEY (provider, zone, start_s))",
)
# The columns each of our tables must have (a file of ours from before application_id is
# recognised by these; any other table makes it foreign).
COLUMNS = {
    "records": {"id", "session_id", "started_at", "body"},
    "sessions": {"session_id", "started_at", "body"},
    "intensity_cache": {"provider", "zone", "start_s", "end_s", "value_g_per_kwh", "body"},
}

# Fault kinds (Unusable.kind, fault_of()).
BUSY, FULL, READONLY, IO, CANTOPEN, CORRUPT, NOTDIR, NEWER, FOREIGN, OTHER = (
    "busy", "full", "readonly", "io", "cantopen", "corrupt", "notdir", "newer", "foreign", "other")
_SQLITE_PRIMARY = {5: BUSY, 6: BUSY, 15: BUSY, 13: FULL, 8: READONLY, 3: READONLY, 23: READONLY,
                   10: IO, 14: CANTOPEN, 11: CORRUPT, 26: CORRUPT}
_WORDS = {BUSY: "locked by another process", FULL: "disk full", READONLY: "read-only",
          IO: "input/output error", CANTOPEN: "cannot open the file", CORRUPT: "damaged"}


class Unusable(Exception):
    """The ledger file cannot be used now; `kind` is a fault kind, `reason` one line for people."""

    def __init__(self, kind: str, reason: str):
        super().__init__(reason)
        self.kind, self.reason = kind, reason


@dataclass
class Opened:
    db: sqlite3.Connection
    inode: tuple[int, int]  # (st_dev, st_ino) of the file the connection has open
    moved: list[tuple[str, str, Path]] = field(default_factory=list)  # (corrupt|foreign, why, new path)


def fault_of(exc: BaseException) -> str:
    """The fault kind of an sqlite3 error or an OSError (BUSY, FULL, READONLY, IO, … or OTHER)."""
    if isinstance(exc, OSError):
        if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
            return FULL
        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            return READONLY
        if exc.errno in (errno.ENOTDIR, errno.EEXIST, errno.EISDIR):
            return NOTDIR
        return IO
    code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11+
    if isinstance(code, int) and (code & 0xFF) in _SQLITE_PRIMARY:
        return _SQLITE_PRIMARY[code & 0xFF]
    text = str(exc).lower()
    for words, kind in ((("locked", "busy", "locking protocol"), BUSY), (("full",), FULL),
                        (("readonly", "read-only", "permission", "not authorized"), READONLY),
                        (("malformed", "not a database", "corrupt"), CORRUPT),
                        (("unable to open",), CANTOPEN), (("disk i/o",), IO)):
        if any(w in text for w in words):
            return kind
    return OTHER


def one_line(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return " ".join(str(text).split())[:200]


def describe_fault(kind: str, exc: BaseException) -> str:
    """`disk full (database or disk is full)`: the kind in words, then what the system said."""
    said = one_line(exc)
    words = _WORDS.get(kind)
    return f"{words} ({said})" if words and words not in said else said


# -- what a file is ------------------------------------------------------------------------
def read_header(path: Path) -> bytes:
    """The first 100 bytes of the file, b"" when there is no file."""
    try:
        with open(path, "rb") as f:
            return f.read(HEADER_BYTES)
    except FileNotFoundError:
        return b""


def header_problem(header: bytes) -> str | None:
    """Why these first bytes cannot start a SQLite database (None if they can; b"" is a new file)."""
    if not header:
        return None
    if not SQLITE_MAGIC.startswith(header[:16]):
        return "not a SQLite database (unknown header)"
    if len(header) < HEADER_BYTES:
        return f"truncated ({len(header)} bytes)"
    return None


def inspect(db: sqlite3.Connection) -> tuple[int, int, dict[str, set[str]]]:
    """(application_id, user_version, {table: its columns}) of an open database."""
    app = db.execute("PRAGMA application_id").fetchone()[0]
    version = db.execute("PRAGMA user_version").fetchone()[0]
    names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall()]
    tables = {n: {r[1] for r in db.execute(f'PRAGMA table_info("{n}")').fetchall()}
              for n in names if isinstance(n, str) and '"' not in n}
    return app, version, tables


def verdict(app: int, version: int, tables: dict[str, set[str]]) -> tuple[str, str]:
    """("ours"|"legacy"|"empty"|"foreign"|"newer", detail) for what `inspect` found."""
    own = {n: c for n, c in tables.items() if not n.startswith("sqlite_")}
    mismatched = sorted(n for n, cols in own.items() if n not in COLUMNS or not COLUMNS[n] <= cols)
    if app == APPLICATION_ID:
        if version > SCHEMA_VERSION:
            return "newer", f"ledger schema {version}, this carbon_magic writes {SCHEMA_VERSION}"
        if mismatched:
            return "foreign", f"unexpected tables: {', '.join(mismatched[:5])}"
        return "ours", ""
    if app != 0:
        return "foreign", f"another application's SQLite database (application id {app:#x})"
    if not own:
        return ("empty", "") if version == 0 else ("foreign", f"a SQLite database with user_version {version}")
    if version == 0 and not mismatched and "records" in own:
        return "legacy", ""
    return "foreign", f"a SQLite database with other tables ({', '.join(sorted(own)[:5])})"


# -- reading, for reports: nothing at the path changes ----------------------------------------
T = TypeVar("T")


def read_only(path: str | Path, read: Callable[[sqlite3.Connection, dict[str, set[str]]], T], *,
              busy_timeout_s: float) -> T:
    """`read(db, tables)` on a connection that cannot change the ledger at `path`, once the file is
    known to be ours; Unusable (kind and one line) where it cannot be read: no such file, CORRUPT,
    FOREIGN (or an empty database), NEWER, BUSY (locked longer than busy_timeout_s), or what the
    system said.

    SQLite gives even a read-only connection to a WAL-mode file a -wal and a -shm where none exist.
    None exists when no connection has the file open (the last one to close folds the -wal into the
    file and deletes it), so every committed row is in the file itself: it is read as immutable (no
    lock, no side file), and read again should it have changed meanwhile (a writer opened it, wrote
    and closed). Where a -wal exists, a writer has the file open now (or was killed): it is opened
    read-only with locks, so the rows in the -wal are seen and a lock is reported, not waited for
    (SQLite adds the -shm that the -wal's readers share if it is missing: a killed writer's).
    """
    path = Path(path)
    for _ in range(READ_ATTEMPTS):
        if not path.is_file():
            raise Unusable(CANTOPEN, "no such ledger file")
        try:
            header = read_header(path)
        except OSError as exc:
            raise Unusable(fault_of(exc), f"cannot read it ({one_line(exc)})") from None
        problem = header_problem(header)
        if problem:
            raise Unusable(CORRUPT, f"not a carbon_magic ledger: {problem}")
        wal = path.with_name(path.name + "-wal")
        before = _signature(path)
        snapshot = header[18:20] == WAL_MODE and not wal.exists()
        uri = f"file:{quote(str(path.absolute()))}?mode=ro" + ("&immutable=1" if snapshot else "")
        result = _read_with(uri, read, busy_timeout_s)
        if not snapshot or (not wal.exists() and _signature(path) == before):
            return result
    raise Unusable(BUSY, "the ledger is being written by another process; try again in a moment")


def _signature(path: Path) -> tuple[int, int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def _read_with(uri: str, read, busy_timeout_s: float):
    try:
        db = sqlite3.connect(uri, uri=True, timeout=busy_timeout_s)
        try:
            app, version, tables = inspect(db)
            kind, detail = verdict(app, version, tables)
            if kind == "newer":
                raise Unusable(NEWER, f"written by a newer carbon_magic ({detail}); upgrade carbon_magic to read it")
            if kind in ("foreign", "empty"):
                raise Unusable(FOREIGN, f"not a carbon_magic ledger ({detail or 'an empty database'})")
            return read(db, tables)
        finally:
            db.close()
    except sqlite3.Error as exc:
        kind = fault_of(exc)
        if kind == BUSY:
            raise Unusable(BUSY, "the ledger is locked by another process; try again in a moment") from None
        if kind == CORRUPT:
            raise Unusable(CORRUPT, f"the ledger is damaged ({one_line(exc)})") from None
        raise Unusable(kind, f"cannot read it ({describe_fault(kind, exc)})") from None


# -- opening ---------------------------------------------------------------------------------
def open_store(path: str | Path, *, connect=sqlite3.connect, busy_timeout_s: float = 0.1,
               wall=time.time, check: bool = False, moves_left: int = 2) -> Opened:
    """A connection to a usable ledger at `path` (moving aside what is not one), or Unusable.

    check: also read every page (PRAGMA quick_check, ~60 ms for 100 MB) so that damage deep in
    the file is found now rather than by a later write; done once per kernel, off the cell path.
    moves_left: files that may be moved aside; beyond, a damaged or foreign file is Unusable (a
    disk that damages every new file must not fill the folder with copies).
    """
    path = Path(path)
    moved: list[tuple[str, str, Path]] = []
    for _ in range(3):  # a damaged file moved aside, then a new one (twice, if another kernel races)
        _ensure_dir(path.parent)
        result = _try_open(path, connect, busy_timeout_s, check)
        if isinstance(result, Opened):
            result.moved = moved
            return result
        kind, why, inode = result
        if len(moved) >= moves_left:
            raise Unusable(IO if kind == CORRUPT else kind, f"{path} is {_what(kind)} ({why}) and was not "
                                                            "moved aside: too many were already")
        target = move_aside(path, kind, wall(), expect_inode=inode)
        if target is not None:
            moved.append((kind, why, target))
    raise Unusable(IO, f"{path} is still unusable after being moved aside")


def _ensure_dir(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        blocker = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), None)
        if blocker is not None:
            where = "is not a folder" if blocker == folder else f"cannot be made: {blocker} is a file"
            raise Unusable(NOTDIR, f"the data directory {folder} {where}; "
                                   "set CARBON_MAGIC_DATA_DIR to a writable folder") from None
        raise Unusable(fault_of(exc), f"cannot create the data directory {folder} ({one_line(exc)})") from None


def file_identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _try_open(path: Path, connect, busy_timeout_s: float, check: bool):
    """Opened, or (corrupt|foreign, why, inode) for a file to move aside; raises Unusable."""
    if path.exists() and not path.is_file():
        raise Unusable(NOTDIR, f"{path} is not a file; move it, or set CARBON_MAGIC_DATA_DIR to another folder")
    try:
        problem = header_problem(read_header(path))
    except OSError as exc:
        raise Unusable(fault_of(exc), f"cannot read {path} ({one_line(exc)})") from None
    inode = file_identity(path)
    if problem:
        return CORRUPT, problem, inode
    try:
        db = connect(str(path), timeout=busy_timeout_s, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        kind = fault_of(exc)
        raise Unusable(kind, describe_fault(kind, exc)) from None
    try:
        kind, detail = verdict(*inspect(db))
        if kind == "newer":
            raise Unusable(NEWER, f"written by a newer carbon_magic ({detail})")
        if kind == "foreign":
            db.close()
            return "foreign", detail, inode
        if check and kind != "empty" and os.path.getsize(path) <= QUICK_CHECK_MAX_BYTES:
            found = db.execute("PRAGMA quick_check(1)").fetchone()[0]
            if found != "ok":
                db.close()
                return CORRUPT, " ".join(str(found).split())[:200], inode
        _prepare(db, stamp=kind != "ours")
    except sqlite3.Error as exc:
        db.close()
        kind = fault_of(exc)
        if kind == CORRUPT:
            return CORRUPT, one_line(exc), inode
        raise Unusable(kind, describe_fault(kind, exc)) from None
    except BaseException:
        db.close()
        raise
    return Opened(db, file_identity(path) or inode or (0, 0))


def _prepare(db: sqlite3.Connection, stamp: bool) -> None:
    """WAL, our tables, and (for a new or pre-stamp file) our application_id and user_version."""
    if db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        try:
            db.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError as exc:  # a file system without shared memory: keep its mode
            if fault_of(exc) not in (IO, OTHER):
                raise
    db.execute("PRAGMA synchronous=NORMAL")
    have = {r[0] for r in db.execute("SELECT name FROM sqlite_master").fetchall()}
    if not stamp and {"records", "sessions", "intensity_cache", "records_session"} <= have:
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        for sql in SCHEMA:
            db.execute(sql)
        db.execute(f"PRAGMA application_id={APPLICATION_ID}")
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def _what(kind: str) -> str:
    return "damaged" if kind == CORRUPT else "not a carbon_magic ledger"


def move_aside(path: Path, kind: str, wall_s: float, expect_inode=None) -> Path | None:
    """Rename `path` (and its -wal, -shm) to `<name>.<kind>-<UTC time>`; None if it is gone or
    is no longer the file that was judged (another kernel replaced it first). Unusable if the
    rename fails (a read-only folder): the caller keeps its records in memory."""
    if expect_inode is not None and file_identity(path) != expect_inode:
        return None
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(wall_s))
    target, n = path.with_name(f"{path.name}.{kind}-{stamp}"), 1
    while target.exists():
        target, n = path.with_name(f"{path.name}.{kind}-{stamp}-{n}"), n + 1
    try:
        os.replace(path, target)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise Unusable(fault_of(exc), f"{path} is {_what(kind)} and could not be moved aside "
                                      f"({one_line(exc)})") from None
    for suffix in ("-wal", "-shm", "-journal"):
        side = path.with_name(path.name + suffix)
        try:
            os.replace(side, target.with_name(target.name + suffix))
        except FileNotFoundError:
            pass
        except OSError:  # a stale -wal beside the new file would be replayed into it: never keep one
            try:
                side.unlink()
            except OSError:
                pass
    return target
