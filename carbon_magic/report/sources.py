"""Reading records outside a kernel: from notebooks' cell metadata, or from a ledger file.

The JupyterLab extension stores, per cell, metadata `carbon_magic` =
`{"last": <v1 record>, "history": [{started_at, energy_j, emissions_g, duration_s, status}, …]}`
(history oldest first, its final entry being `last`), and per notebook a summary. A notebook's
footprint is the sum over its cells' last runs; the history gives every recorded run.
A ledger file is read through `ledger.LedgerReader` (ledger.py owns the file's format), which
never writes it.
Problems are collected as one-line notes, never raised, except when the file as a whole cannot
be read (`SourceError`).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..ledger import LedgerReader, LedgerUnavailable
from ..notebook import notebook_stem
from ..record import CellRecord, quantity_problem
from .model import Report

METADATA_KEY = "carbon_magic"


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


def read_ledger(path: str | Path, session_id: str | None = None) -> list[Source]:
    """One Source per session in the ledger (or just `session_id`). The file is read as it is, never
    written (ledger.LedgerReader); one that is damaged, another application's, from a newer
    carbon_magic or locked is one SourceError."""
    path = Path(path)
    try:
        stored = LedgerReader(path).sessions(session_id)
    except LedgerUnavailable as exc:
        raise SourceError(str(exc)) from None
    if session_id is not None and not stored:
        raise SourceError(f"no records of session {session_id!r}")
    out = []
    for s in stored:
        nb = s.info.get("notebook")
        nb = nb if isinstance(nb, str) else None
        report = Report.from_records(s.records, s.info, s.session_id, notebook_stem(nb) or "notebook")
        name = (f"{Path(nb).name} (session {s.session_id})" if nb and notebook_stem(nb)
                else f"{path.name} session {s.session_id}")
        out.append(Source(name, report, report.totals["cells"],
                          report.totals["cells_energy_j"], report.totals["emissions_g"], s.notes))
    return out
