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
import math
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from ..record import CellRecord
from .model import Report

METADATA_KEY = "carbon_magic"
_NUMBERS = ("duration_s", "energy_j", "emissions_g", "intensity_g_per_kwh")


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


def record_problem(d) -> str | None:
    """Why `d` is not a usable v1 record, or None."""
    if not isinstance(d, dict):
        return "not an object"
    try:
        rec = CellRecord.from_dict(d)
    except (ValueError, TypeError) as exc:
        return str(exc).splitlines()[0]
    for key in _NUMBERS:
        v = getattr(rec, key)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            return f"{key} is not a non-negative number ({v!r})"
    if not isinstance(rec.components, list) or not isinstance(rec.intensity or {}, dict):
        return "components or intensity malformed"
    return None


def _history_entry_ok(e) -> bool:
    return isinstance(e, dict) and all(
        isinstance(e.get(k), (int, float)) and not isinstance(e.get(k), bool) and math.isfinite(e[k])
        for k in ("energy_j", "emissions_g", "duration_s"))


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
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise SourceError("not a notebook: no list of cells")
    records, notes = [], []
    runs, runs_j, runs_g = 0, 0.0, 0.0
    for i, cell in enumerate(nb["cells"]):
        meta = cell.get("metadata") if isinstance(cell, dict) else None
        stored = meta.get(METADATA_KEY) if isinstance(meta, dict) else None
        if stored is None:
            continue
        where = f"cell {i + 1}" + (f" (id {cell['id']})" if isinstance(cell.get("id"), str) else "")
        last = stored.get("last") if isinstance(stored, dict) else None
        problem = record_problem(last) if last is not None else "no 'last' record"
        if problem:
            notes.append(f"{where}: skipped, {problem}")
            continue
        rec = CellRecord.from_dict(last)
        records.append(rec)
        history = [e for e in stored.get("history") or [] if _history_entry_ok(e)] or [last]
        runs += len(history)
        runs_j += sum(float(e["energy_j"]) for e in history)
        runs_g += sum(float(e["emissions_g"]) for e in history)
    report = Report.from_records(records, project_name=path.stem)
    return Source(path.name, report, runs, runs_j, runs_g, notes)


def read_ledger(path: str | Path, session_id: str | None = None) -> list[Source]:
    """One Source per session in the ledger (or just `session_id`). Opened read-only."""
    path = Path(path)
    if not path.is_file():
        raise SourceError("no such ledger file")
    try:
        db = sqlite3.connect(f"file:{path.absolute()}?mode=ro", uri=True)
        try:
            rows = db.execute("SELECT session_id, body FROM records ORDER BY id").fetchall()
            sessions = dict(db.execute("SELECT session_id, body FROM sessions").fetchall())
        finally:
            db.close()
    except sqlite3.Error as exc:
        raise SourceError(f"not a carbon_magic ledger ({exc})") from None
    grouped: dict[str, list[CellRecord]] = {}
    notes: dict[str, list[str]] = {}
    for sid, body in rows:
        if session_id is not None and sid != session_id:
            continue
        try:
            d = json.loads(body)
        except json.JSONDecodeError:
            d = None
        problem = record_problem(d) if d is not None else "invalid JSON"
        if problem:
            notes.setdefault(sid, []).append(f"a record skipped, {problem}")
            grouped.setdefault(sid, [])
            continue
        grouped.setdefault(sid, []).append(CellRecord.from_dict(d))
    if session_id is not None and session_id not in grouped:
        raise SourceError(f"no records of session {session_id!r}")
    out = []
    for sid, recs in grouped.items():
        try:
            host = json.loads(sessions.get(sid) or "{}")
        except json.JSONDecodeError:
            host = {}
        report = Report.from_records(recs, host if isinstance(host, dict) else {}, sid, "notebook")
        out.append(Source(f"{path.name} session {sid}", report, len(recs),
                          report.totals["cells_energy_j"], report.totals["emissions_g"], notes.get(sid, [])))
    return out
