"""Reading records outside a kernel: from notebooks' cell metadata, or from a ledger file.

The JupyterLab extension stores, per cell, metadata `carbon_magic` =
`{"last": <v1 record>, "history": [{started_at, energy_j, emissions_g, duration_s, status}, …]}`
(history oldest first, its final entry being `last`), and per notebook a summary. A notebook's
footprint is the sum over its cells' last runs; the history gives every recorded run.
Problems are collected as one-line notes, never raised, except when the file as a whole cannot
be read (`SourceError`).
"""
from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from .. import ledger_store as store
from ..notebook import notebook_stem
from ..record import CellRecord, latest_revisions, quantity_problem
from .model import Report

METADATA_KEY = "carbon_magic"
LEDGER_BUSY_TIMEOUT_S = 1.0  # a ledger locked longer than this is reported, not waited for


class SourceError(Exception):
    """The file could not be read at all; the message says why."""


@dataclass
class Source:
    name: str
    report: Report
    runs: int = 0  # every recorded run (reruns included), where a history exists
    runs_energy_j: float = 0.0
    runs_emissions_g: float = 0.0
    notes: list[str] = field(default_factory=list)  # one line per skipped cell or record


def _history_entry_ok(e) -> bool:
    return isinstance(e, dict) and not any(quantity_problem(e.get(k)) for k in ("energy_j", "emissions_g",
                                                                                 "duration_s"))


def read_notebook(path: str | Path) -> Source:
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as f:
            nb = json.load(f)
    except FileNotFoundError:
        raise SourceError("no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"cannot read it ({getattr(exc, 'strerror', None) or exc})") from None
    except json.JSONDecodeError as exc:
        raise SourceError(f"not a notebook: invalid JSON at line {exc.lineno} ({exc.msg})") from None
    except (ValueError, RecursionError) as exc:  # e.g. an integer of 5000 digits, nesting too deep
        raise SourceError(f"not a notebook: unreadable JSON ({type(exc).__name__})") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise SourceError("not a notebook: no list of cells")
    records, notes = [], []
    runs, runs_j, runs_g = 0, 0.0, 0.0
    for i, cell in enumerate(nb["cells"]):
        meta = cell.get("metadata") if isinstance(cell, dict) else None
        stored = meta.get(METADATA_KEY) if isinstance(meta, dict) else None
        if stored is None:
            continue
        where = f"cell {i + 1}" + (f" (id {cell['id'][:64]})" if isinstance(cell.get("id"), str) else "")
        last = stored.get("last") if isinstance(stored, dict) else None
        try:
            if last is None:
                raise ValueError("no 'last' record")
            rec = CellRecord.from_untrusted(last)
        except ValueError as exc:
            notes.append(f"{where}: skipped, {exc}")
            continue
        records.append(rec)
        stored_history = stored.get("history")
        history = [e for e in stored_history if _history_entry_ok(e)] if isinstance(stored_history, list) else []
        history = history or [last]
        runs += len(history)
        runs_j += sum(float(e["energy_j"]) for e in history)
        runs_g += sum(float(e["emissions_g"]) for e in history)
    report = Report.from_records(records, project_name=path.stem)
    return Source(path.name, report, runs, runs_j, runs_g, notes)


def _ledger_rows(path: Path) -> tuple[list, dict]:
    try:
        problem = store.header_problem(store.read_header(path))
    except OSError as exc:
        raise SourceError(f"cannot read it ({store.one_line(exc)})") from None
    if problem:
        raise SourceError(f"not a carbon_magic ledger: {problem}")
    try:
        db = sqlite3.connect(f"file:{quote(str(path.absolute()))}?mode=ro", uri=True, timeout=LEDGER_BUSY_TIMEOUT_S)
        try:
            app, version, tables = store.inspect(db)
            kind, detail = store.verdict(app, version, tables)
            if kind == "newer":
                raise SourceError(f"written by a newer carbon_magic ({detail}); upgrade carbon_magic to read it")
            if kind in ("foreign", "empty"):
                raise SourceError(f"not a carbon_magic ledger ({detail or 'an empty database'})")
            rows = db.execute("SELECT session_id, body FROM records ORDER BY id").fetchall()
            sessions = (dict(db.execute("SELECT session_id, body FROM sessions").fetchall())
                        if "sessions" in tables else {})
        finally:
            db.close()
    except sqlite3.Error as exc:
        kind = store.fault_of(exc)
        if kind == store.BUSY:
            raise SourceError("the ledger is locked by another process; try again in a moment") from None
        if kind == store.CORRUPT:
            raise SourceError(f"the ledger is damaged ({store.one_line(exc)})") from None
        raise SourceError(f"cannot read it ({store.describe_fault(kind, exc)})") from None
    return rows, sessions


def read_ledger(path: str | Path, session_id: str | None = None) -> list[Source]:
    """One Source per session in the ledger (or just `session_id`). Opened read-only; a file that
    is damaged, another application's, from a newer carbon_magic or locked is one SourceError."""
    path = Path(path)
    if not path.is_file():
        raise SourceError("no such ledger file")
    rows, sessions = _ledger_rows(path)
    grouped: dict[str, list[CellRecord]] = {}
    notes: dict[str, list[str]] = {}
    for sid, body in rows:
        if session_id is not None and sid != session_id:
            continue
        grouped.setdefault(sid, [])
        try:
            d = json.loads(body)
        except (ValueError, TypeError, RecursionError):  # not text, not JSON, a 5000-digit number…
            notes.setdefault(sid, []).append("a record skipped, invalid JSON")
            continue
        try:
            grouped[sid].append(CellRecord.from_untrusted(d))
        except ValueError as exc:
            notes.setdefault(sid, []).append(f"a record skipped, {exc}")
    if session_id is not None and session_id not in grouped:
        raise SourceError(f"no records of session {session_id!r}")
    out = []
    for sid, recs in grouped.items():
        recs = latest_revisions(recs)  # a record revised after its cell (cluster tasks): its last version
        try:
            host = json.loads(sessions.get(sid) or "{}")
        except (ValueError, TypeError, RecursionError):
            host = {}
        host = host if isinstance(host, dict) else {}
        nb = host.get("notebook")
        nb = nb if isinstance(nb, str) else None
        report = Report.from_records(recs, host, sid, notebook_stem(nb) or "notebook")
        name = f"{Path(nb).name} (session {sid})" if nb and notebook_stem(nb) else f"{path.name} session {sid}"
        out.append(Source(name, report, report.totals["cells"],
                          report.totals["cells_energy_j"], report.totals["emissions_g"], notes.get(sid, [])))
    return out
