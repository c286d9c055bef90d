"""The one view every output renders: records, their totals, and what measured them.

`Report.from_session` (the magics, the comm) and `Report.from_records` (the CLI, from notebook
metadata or the ledger) build the same object, so the table, the exports and the CLI print the
same numbers. Totals add the top-level records only: a nested record (`measure()` inside a cell)
is listed under its cell, and its energy is already the cell's. Only whitelisted host fields are
kept: Settings (which holds API tokens) is never read here, and the GPU UUIDs of `describe()` are
dropped.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone

from ..record import CellRecord, cell_key, parent_key, top_level
from ..units import J_PER_KWH, provider_display

KINDS = ("gpu", "cpu", "dram", "ram")
HOST_KEYS = ("carbon_magic_version", "python_version", "os", "cpu_model", "cpu_count", "ram_total_size_gb",
             "gpu_count", "gpu_model", "sensors", "skipped", "pue", "zone", "interval_s", "notebook")
METHOD_TEXT = {
    "counter": "read from a hardware energy counter (NVML total energy, RAPL energy_uj)",
    "sampled": ("integrated from a hardware power sensor read at intervals (bursts between reads can be missed),"
                " or a counter's last power × duration for a cell shorter than the counter's update period"),
    "estimated": "estimated by a model (CPU: utilisation × TDP; RAM: installed memory), not measured",
}
_LICENCE_RE = re.compile(r"CC[ -]BY(?:-[A-Z]{2})*(?: \d\.\d)?|CC0(?: 1\.0)?|ODbL(?: 1\.0)?|Apache-2\.0|MIT")


def cell_name(record: CellRecord) -> str:
    """The label where one was given, else `In [n]`, else `–`."""
    if record.label:
        return str(record.label)
    if record.execution_count is not None:
        return f"In [{record.execution_count}]"
    return "–"


def mark(record: CellRecord) -> str:
    """measured (every component from an energy counter), sampled (all from hardware, some from
    sampled power), estimated (none from hardware), mixed, or `no sensor`."""
    if not record.components:
        return "no sensor"
    if record.measured:
        return "measured"
    hardware = [c.hardware for c in record.components]
    return "sampled" if all(hardware) else "estimated" if not any(hardware) else "mixed"


def methods_by_kind(record: CellRecord) -> dict[str, str]:
    """kind -> method (methods joined with '+' where one kind has several sources)."""
    out: dict[str, list[str]] = {}
    for c in record.components:
        out.setdefault(c.kind, [])
        if c.method not in out[c.kind]:
            out[c.kind].append(c.method)
    return {k: "+".join(v) for k, v in out.items()}


def licence_of(provenance: dict) -> str:
    """The licence a provenance names (its own key, or found in its source), else ''."""
    for key in ("licence", "license"):
        if provenance.get(key):
            return str(provenance[key])
    m = _LICENCE_RE.search(str(provenance.get("source") or ""))
    return m.group(0) if m else ""


def kinds_present(records: list[CellRecord]) -> list[str]:
    seen = {c.kind for r in records for c in r.components}
    return [k for k in KINDS if k in seen] + sorted(seen - set(KINDS))


def grouped(records: list[CellRecord]) -> list[tuple[CellRecord, list[CellRecord]]]:
    """(record, its nested records) for each top-level record, in the given order. A nested record
    whose parent is not among `records` is a group of its own (still nested: never summed)."""
    tops: dict[tuple, CellRecord] = {cell_key(r): r for r in records if r.parent is None}
    children: dict[int, list[CellRecord]] = {}
    for r in records:
        key = parent_key(r)
        parent = tops.get(key) if key is not None else None
        if parent is not None:
            children.setdefault(id(parent), []).append(r)
    placed = {id(c) for kids in children.values() for c in kids}
    return [(r, children.get(id(r), [])) for r in records if r.parent is None or id(r) not in placed]


def compute_totals(records: list[CellRecord], session_energy_j: float | None = None,
                   session_emissions_g: float | None = None) -> dict:
    """Sums over the top-level records (a nested record's energy is already its parent's, so it is
    counted as `nested` and never summed), and the session's three totals where the session is known
    (see `CarbonSession.totals`): cells (the records), session (all the sampler saw, never less than
    cells) and idle (session − cells). Without a session (a notebook file), idle and session are None."""
    nested = len(records) - len(top_level(records))
    records = top_level(records)
    cells_j = sum(r.energy_j for r in records)
    emissions_g = sum(r.emissions_g for r in records)
    by_kind: dict[str, float] = {}
    for r in records:
        for k, e in r.energy_by_kind().items():
            by_kind[k] = by_kind.get(k, 0.0) + e
    measured_j = sum(c.energy_j * r.pue for r in records for c in r.components if c.measured)
    sampled_j = sum(c.energy_j * r.pue for r in records for c in r.components if c.hardware and not c.measured)
    session_j = None if session_energy_j is None else max(session_energy_j, cells_j)
    session_g = None if session_emissions_g is None else max(session_emissions_g, emissions_g)
    return {
        "cells": len(records),
        "nested": nested,
        "measured_cells": sum(1 for r in records if r.measured),
        "duration_s": sum(r.duration_s for r in records),
        "cells_energy_j": cells_j,
        "cells_emissions_g": emissions_g,
        "measured_energy_j": measured_j,
        "sampled_energy_j": sampled_j,
        "uncertainty_j": sum(r.uncertainty_j for r in records),
        "energy_by_kind_j": by_kind,
        "session_energy_j": session_j,
        "session_emissions_g": session_g,
        "idle_energy_j": None if session_j is None else session_j - cells_j,
        "idle_emissions_g": None if session_g is None else session_g - emissions_g,
        "emissions_g": emissions_g,
        "intensity_g_per_kwh": emissions_g / (cells_j / J_PER_KWH) if cells_j > 0 else None,
    }


def intensity_sources(records: list[CellRecord]) -> list[dict]:
    """Each distinct intensity provenance used (segments first, else the record's main one)."""
    out: list[dict] = []
    seen = set()
    for r in records:
        provs = [s.get("intensity") or {} for s in r.intensity_segments] or [r.intensity or {}]
        for p in provs:
            key = tuple(str(p.get(k)) for k in ("provider", "zone", "kind", "source", "signal"))
            if key in seen or not p:
                continue
            seen.add(key)
            out.append({"provider": provider_display(p) or None, "zone": p.get("zone"),
                        "kind": p.get("kind"), "signal": p.get("signal"), "source": p.get("source"),
                        "licence": licence_of(p), "flag": p.get("flag")})
    return out


def components_used(records: list[CellRecord]) -> list[dict]:
    """Each component (name, kind) with its methods and energy over the top-level records (after PUE)."""
    out: dict[tuple, dict] = {}
    for r in top_level(records):
        for c in r.components:
            d = out.setdefault((c.name, c.kind), {"name": c.name, "kind": c.kind, "methods": [], "energy_j": 0.0,
                                                  "failed": False, "statuses": [], "mig": None})
            if c.method not in d["methods"]:
                d["methods"].append(c.method)
            d["energy_j"] += c.energy_j * r.pue
            d["failed"] = d["failed"] or c.status == "failed"
            if c.status != "ok" and c.status not in d["statuses"]:
                d["statuses"].append(c.status)
            d["mig"] = d["mig"] or c.mig
    return list(out.values())


def _plain_value(value) -> bool:
    """A value every output can show: text, a finite number, a flag or nothing."""
    if isinstance(value, float):
        return math.isfinite(value)
    return value is None or isinstance(value, (str, int, bool))


def host_info(info: dict | None) -> dict:
    """The whitelisted host fields; from a ledger file they are untrusted, so a field of the
    wrong shape is dropped (sensors and skipped: lists of objects; the rest: plain values)."""
    info = info if isinstance(info, dict) else {}
    out: dict = {}
    for k in HOST_KEYS:
        v = info.get(k)
        if k not in info:
            continue
        if k in ("sensors", "skipped"):
            if isinstance(v, list) and all(isinstance(x, dict) for x in v):
                out[k] = v
        elif _plain_value(v):
            out[k] = v
    return out


def measured_share(totals: dict) -> float | None:
    """Fraction of the cells' energy that came from hardware readings (None without energy)."""
    return totals["measured_energy_j"] / totals["cells_energy_j"] if totals["cells_energy_j"] > 0 else None


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass
class Report:
    records: list[CellRecord]
    totals: dict
    host: dict = field(default_factory=dict)
    session_id: str | None = None
    project_name: str = "notebook"
    experiment_id: str = ""
    record_projects: list[str] | None = None  # per record, when one report joins several notebooks

    def project_of(self, index: int) -> str:
        if self.record_projects is not None and index < len(self.record_projects):
            return self.record_projects[index]
        return self.project_name

    @classmethod
    def from_session(cls, session, project_name: str | None = None) -> Report:
        records = list(session.records)
        t = session.totals()
        return cls(records, compute_totals(records, t["session_energy_j"], t["session_emissions_g"]),
                   host_info(session.describe()),
                   session.session_id, project_name or "notebook")

    @classmethod
    def from_records(cls, records: list[CellRecord], host: dict | None = None, session_id: str | None = None,
                     project_name: str = "notebook", session_energy_j: float | None = None) -> Report:
        sid = session_id
        if sid is None:
            ids = sorted({r.session_id for r in records})
            sid = ids[0] if len(ids) == 1 else None
        return cls(list(records), compute_totals(records, session_energy_j), host_info(host), sid,
                   project_name or "notebook")
