"""The one record type: what a measured cell (or `measure()` block) cost.

`CellRecord.to_dict()` is the v1 record of DESIGN.md; the ledger, exports, the comm and cell
metadata all carry exactly that shape, and `from_dict` reads it back.
"""
from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone

from .units import fmt_duration, fmt_energy, fmt_mass_g

SCHEMA = "carbon_magic.record/1"
# Vocabulary of `method`: `counter` (a hardware energy counter) is the only one called "measured";
# `sampled` is power read from hardware at instants and integrated (pre-Volta GPU polling, or a
# counter cell shorter than the counter's resolution); `estimated` is a model.
MEASURED_METHODS = ("counter",)
HARDWARE_METHODS = ("counter", "sampled")
METHOD_WORD = {"counter": "measured", "sampled": "sampled", "estimated": "estimated"}
# Component status: ok; failed (the sensor failed before or during the cell: energy counted
# before it failed); reset (the counter went back or jumped by more than the device can draw:
# that interval is estimated from power); ambiguous (a read gap that may hide uncounted wraps,
# or a backwards step of unknown size: estimated, with one counter range of uncertainty).
COMPONENT_STATUSES = ("ok", "failed", "reset", "ambiguous")
# The summary shows ± where the total's relative uncertainty exceeds this.
SHOW_UNCERTAINTY_ABOVE = 0.03


def method_word(method: str) -> str:
    return METHOD_WORD.get(method, "estimated")


STATUSES = ("ok", "error", "interrupted")
# A bound no real cell comes near (1e15 J is 278 GWh; 1e9 s is 31 years), so that totals over any
# number of records stay finite.
MAX_QUANTITY = 1e15
_QUANTITIES = ("duration_s", "energy_j", "emissions_g", "intensity_g_per_kwh")
_OPTIONAL_TEXT = ("cell_id", "label", "code_head")
_OMIT_IF_NONE = ("node", "revision", "cluster")  # cluster-only keys, absent from other records
MAX_REVISION = 1_000_000
_PROVENANCE_TEXT = ("provider", "provider_name", "zone", "kind", "signal", "source", "flag", "fallback_reason",
                    "fetched_at", "licence", "license")


def iso_utc(unix_s: float) -> str:
    return datetime.fromtimestamp(unix_s, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def unix_from_iso(iso: str) -> float:
    """The inverse of `iso_utc` (record times back to unix seconds)."""
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _plain(value):
    """A copy of nested dicts/lists/tuples (values are JSON scalars), as asdict would give."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    return value


@dataclass
class Component:
    name: str
    kind: str  # gpu | cpu | dram | ram
    method: str  # counter | sampled | estimated
    energy_j: float
    status: str = "ok"  # one of COMPONENT_STATUSES
    uncertainty_j: float = 0.0  # absolute, J, before PUE (0 in records written before it existed)
    uncertainty_cause: str = ""  # counter-resolution, sampling, model, counter-reset, ambiguous-gap,
    #                              sensor-failed; several joined with "+"
    mig: str | None = None  # the MIG slice this GPU stands for: energy_j is the whole board's
    node: str | None = None  # the cluster node this component is on (its name is `<node>/<name>`)

    @property
    def measured(self) -> bool:
        """Read from a hardware energy counter that did not fail during the cell."""
        return self.method in MEASURED_METHODS and self.status != "failed"

    @property
    def hardware(self) -> bool:
        """Read from a hardware sensor (counter or sampled power) that did not fail, not a model."""
        return self.method in HARDWARE_METHODS and self.status != "failed"

    def how(self) -> str:
        """`measured`, `sampled` or `estimated`; empty for a sensor that failed (its note says so)."""
        return "" if self.status == "failed" else method_word(self.method)

    def note(self) -> str:
        notes = {"failed": "sensor failed, counted until then", "reset": "counter reset, estimated",
                 "ambiguous": "read gap may hide counter wraps, estimated"}
        out = [notes[self.status]] if self.status in notes else []
        if self.mig:
            out.append("whole board, MIG slice")
        return f" ({'; '.join(out)})" if out else ""


@dataclass
class CellRecord:
    session_id: str
    started_at: str
    ended_at: str
    duration_s: float
    status: str  # ok | error | interrupted
    energy_j: float  # after PUE
    components: list[Component]
    intensity_g_per_kwh: float
    intensity: dict  # provenance of the main value: provider, zone, kind, fetched_at (+ source, signal)
    emissions_g: float
    pue: float = 1.0
    cell_id: str | None = None
    execution_count: int | None = None
    label: str | None = None
    code_head: str | None = None  # first line of the cell, for tables
    intensity_segments: list[dict] = field(default_factory=list)  # each value used, with its energy
    schema: str = SCHEMA
    # Cluster work (carbon_magic.cluster): `revision` counts the versions of this record written
    # to the ledger (0 first; readers keep the highest per cell identity), `cluster` says what the
    # cell's tasks on cluster nodes cost and whether some still run (`pending`). None otherwise,
    # and then left out of to_dict(), so records of cells without a cluster are unchanged.
    revision: int | None = None
    cluster: dict | None = None

    # -- serialisation -------------------------------------------------------------------
    def to_dict(self) -> dict:
        """The v1 record as a new dict (changing it leaves the record alone).

        Built field by field: `dataclasses.asdict` (deep copies through every level, and it ran
        twice over the components) was the largest single cost of a measured cell.
        """
        d = {name: _plain(getattr(self, name)) for name in self.__dataclass_fields__
             if name not in _OMIT_IF_NONE or getattr(self, name) is not None}
        d["components"] = [{name: _plain(getattr(c, name)) for name in Component.__dataclass_fields__
                            if name not in _OMIT_IF_NONE or getattr(c, name) is not None}
                           for c in self.components]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "CellRecord":
        if not isinstance(d, dict):
            raise ValueError(f"a record is an object, not {type(d).__name__}")
        if d.get("schema") != SCHEMA:
            raise ValueError(f"not a carbon_magic v1 record (schema={_short(d.get('schema'))})")
        known = {f for f in cls.__dataclass_fields__}
        kw = {k: v for k, v in d.items() if k in known}
        kw["components"] = [Component(**{k: v for k, v in c.items() if k in Component.__dataclass_fields__})
                            for c in d.get("components", [])]
        return cls(**kw)

    @classmethod
    def from_untrusted(cls, d) -> "CellRecord":
        """`from_dict` for a record read from outside this kernel (notebook metadata, a ledger
        file, an export): ValueError with a one-line reason unless `record_problem(d)` is None."""
        problem = record_problem(d)
        if problem:
            raise ValueError(problem)
        return cls.from_dict(d)

    # -- views ---------------------------------------------------------------------------
    @property
    def measured(self) -> bool:
        """True when every component came from a hardware energy counter (sampled power is not)."""
        return bool(self.components) and all(c.measured for c in self.components)

    @property
    def cluster_energy_j(self) -> float:
        """The part of `energy_j` (after PUE) spent on cluster nodes (components with a `node`)."""
        return sum(c.energy_j for c in self.components if c.node) * self.pue

    @property
    def uncertainty_j(self) -> float:
        """Uncertainty of `energy_j` (after PUE): the components' uncertainties added (conservative)."""
        return sum(float(c.uncertainty_j or 0.0) for c in self.components) * self.pue

    def energy_text(self) -> str:
        """`41.2 J`, or `41.2 J ± 4.1 J` where the uncertainty exceeds SHOW_UNCERTAINTY_ABOVE."""
        u = self.uncertainty_j
        if self.energy_j > 0 and u > SHOW_UNCERTAINTY_ABOVE * self.energy_j or self.energy_j <= 0 < u:
            return f"{fmt_energy(self.energy_j)} ± {fmt_energy(u)}"
        return fmt_energy(self.energy_j)

    def energy_by_kind(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for c in self.components:
            out[c.kind] = out.get(c.kind, 0.0) + c.energy_j * self.pue
        return out

    def intensity_label(self) -> str:
        p = self.intensity or {}
        parts = [p.get("zone") or "world average"]
        provider = p.get("provider_name") or p.get("provider")
        if provider:
            parts.append(provider)
        if p.get("kind") and p.get("kind") != provider:
            parts.append(p["kind"])
        if p.get("signal") == "marginal":
            parts.append("marginal")
        if p.get("fallback_reason"):
            parts.append(f"fallback: {p['fallback_reason']}")
        elif p.get("flag") and p.get("zone"):
            parts.append(str(p["flag"]))
        return ", ".join(str(x) for x in parts)

    def summary(self) -> str:
        comps = " · ".join(
            " ".join(filter(None, (c.name, fmt_energy(c.energy_j), c.how()))) + c.note()
            for c in self.components if not c.node
        ) + _cluster_summary(self)
        pue = f" · PUE {self.pue:g}" if self.pue != 1.0 else ""
        status = "" if self.status == "ok" else f" · {self.status}"
        label = f"[{self.label}] " if self.label else ""
        pending = ""
        if isinstance(self.cluster, dict) and self.cluster.get("pending"):
            pending = "\n  cluster: tasks still running or readings not yet in; this record updates until they end"
        return (f"⚡ {label}{self.energy_text()} ({comps}) · {fmt_mass_g(self.emissions_g)} CO₂e\n"
                f"  @ {self.intensity_g_per_kwh:.0f} g/kWh ({self.intensity_label()}) · "
                f"{fmt_duration(self.duration_s)}{pue}{status}{pending}")

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        return "<pre>" + html.escape(self.summary()) + "</pre>"


SUMMARY_NODES = 4  # cluster nodes named in the summary line; the rest are counted


def _cluster_summary(record: "CellRecord") -> str:
    """` · cluster node-a 20 J measured · node-b 41 J (gap)`: the cluster components by node."""
    by_node: dict[str, list[Component]] = {}
    for c in record.components:
        if c.node:
            by_node.setdefault(c.node, []).append(c)
    if not by_node:
        return ""
    parts = []
    for node, comps in list(by_node.items())[:SUMMARY_NODES]:
        hows = {c.how() for c in comps if c.how()}
        how = hows.pop() if len(hows) == 1 else ("mixed" if hows else "")
        gap = " (gap: node lost)" if any(c.status == "failed" for c in comps) else ""
        parts.append(" ".join(filter(None, (node, fmt_energy(sum(c.energy_j for c in comps)), how))) + gap)
    more = len(by_node) - SUMMARY_NODES
    lead = " · " if any(not c.node for c in record.components) else ""
    return lead + "cluster " + " · ".join(parts) + (f" · {more} more nodes" if more > 0 else "")


def record_identity(record: "CellRecord") -> tuple:
    """What stays the same across the revisions of one cell's record."""
    return (record.session_id, record.started_at, record.ended_at, record.execution_count, record.cell_id,
            record.label)


def latest_revisions(records: list["CellRecord"]) -> list["CellRecord"]:
    """`records` with each revised record (its `revision` set) kept once: the highest revision,
    in the place of its first version. Records without a revision are all kept."""
    best: dict[tuple, int] = {}
    out: list[CellRecord] = []
    for r in records:
        if r.revision is None:
            out.append(r)
            continue
        key = record_identity(r)
        if key not in best:
            best[key] = len(out)
            out.append(r)
        elif (out[best[key]].revision or 0) <= r.revision:
            out[best[key]] = r
    return out


def _short(value, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def quantity_problem(value, limit: float = MAX_QUANTITY) -> str | None:
    """Why `value` is not a finite, non-negative number up to `limit`, or None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"is not a number ({_short(value)})"
    try:
        v = float(value)
    except OverflowError:
        v = math.inf
    if not math.isfinite(v) or v < 0 or v > limit:
        return f"is not a finite number between 0 and {limit:g} ({_short(value)})"
    return None


def _provenance_problem(p, where: str) -> str | None:
    if p is None:
        return None
    if not isinstance(p, dict):
        return f"{where} is not an object"
    for key in _PROVENANCE_TEXT:
        if p.get(key) is not None and not isinstance(p[key], str):
            return f"{where}.{key} is not text ({_short(p[key])})"
    return None


def record_problem(d) -> str | None:
    """Why `d` is not a usable v1 record, or None: the one check for records from outside.

    Types of every field the outputs read, numbers finite and within MAX_QUANTITY, a known
    status, times in ISO 8601. Unknown extra keys are allowed (newer records add some).
    """
    if not isinstance(d, dict):
        return f"not an object ({type(d).__name__})"
    if d.get("schema") != SCHEMA:
        return f"not a carbon_magic v1 record (schema={_short(d.get('schema'))})"
    for key in ("session_id", "started_at", "ended_at", "status"):
        if not isinstance(d.get(key), str):
            return f"{key} is missing or not text ({_short(d.get(key))})"
    if d["status"] not in STATUSES:
        return f"status {_short(d['status'])} is not one of {', '.join(STATUSES)}"
    for key in ("started_at", "ended_at"):
        try:
            unix_from_iso(d[key])
        except (ValueError, OverflowError, OSError):
            return f"{key} is not an ISO 8601 time ({_short(d[key])})"
    for key in _QUANTITIES:
        problem = quantity_problem(d.get(key))
        if problem:
            return f"{key} {problem}"
    pue = d.get("pue", 1.0)
    if quantity_problem(pue, 100.0) or pue <= 0:
        return f"pue is not a positive number up to 100 ({_short(pue)})"
    for key in _OPTIONAL_TEXT:
        if d.get(key) is not None and not isinstance(d[key], str):
            return f"{key} is not text ({_short(d[key])})"
    count = d.get("execution_count")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int)):
        return f"execution_count is not a whole number ({_short(count)})"
    comps = d.get("components")
    if not isinstance(comps, list):
        return f"components is not a list ({_short(comps)})"
    for i, c in enumerate(comps):
        if not isinstance(c, dict):
            return f"components[{i}] is not an object ({_short(c)})"
        for key in ("name", "kind", "method"):
            if not isinstance(c.get(key), str):
                return f"components[{i}].{key} is missing or not text ({_short(c.get(key))})"
        if c.get("status") is not None and not isinstance(c["status"], str):
            return f"components[{i}].status is not text ({_short(c['status'])})"
        for key in ("energy_j", "uncertainty_j"):
            if key == "energy_j" or c.get(key) is not None:
                problem = quantity_problem(c.get(key))
                if problem:
                    return f"components[{i}].{key} {problem}"
        for key in ("uncertainty_cause", "mig", "node"):
            if c.get(key) is not None and not isinstance(c[key], str):
                return f"components[{i}].{key} is not text ({_short(c[key])})"
    problem = _provenance_problem(d.get("intensity"), "intensity") or _cluster_problem(d)
    if problem:
        return problem
    segments = d.get("intensity_segments", [])
    if not isinstance(segments, list):
        return f"intensity_segments is not a list ({_short(segments)})"
    for i, seg in enumerate(segments):
        if not isinstance(seg, dict):
            return f"intensity_segments[{i}] is not an object"
        problem = _provenance_problem(seg.get("intensity"), f"intensity_segments[{i}].intensity")
        if problem:
            return problem
    return None


def _cluster_problem(d: dict) -> str | None:
    """Why the cluster keys (`revision`, `cluster`) of record `d` are not usable, or None."""
    rev = d.get("revision")
    if rev is not None and (isinstance(rev, bool) or not isinstance(rev, int) or not 0 <= rev <= MAX_REVISION):
        return f"revision is not a whole number from 0 to {MAX_REVISION} ({_short(rev)})"
    cluster = d.get("cluster")
    if cluster is None:
        return None
    if not isinstance(cluster, dict):
        return f"cluster is not an object ({_short(cluster)})"
    if not isinstance(cluster.get("pending", False), bool):
        return f"cluster.pending is not true or false ({_short(cluster.get('pending'))})"
    for key in ("engine", "attribution"):
        if cluster.get(key) is not None and not isinstance(cluster[key], str):
            return f"cluster.{key} is not text ({_short(cluster[key])})"
    nodes = cluster.get("nodes", [])
    if not isinstance(nodes, list):
        return f"cluster.nodes is not a list ({_short(nodes)})"
    for i, n in enumerate(nodes):
        if not isinstance(n, dict):
            return f"cluster.nodes[{i}] is not an object ({_short(n)})"
        if not isinstance(n.get("node"), str):
            return f"cluster.nodes[{i}].node is missing or not text ({_short(n.get('node'))})"
        for key in ("energy_j", "emissions_g", "gap_s", "time_window_j"):
            if n.get(key) is not None:
                problem = quantity_problem(n[key])
                if problem:
                    return f"cluster.nodes[{i}].{key} {problem}"
        for key in ("zone", "gap", "status"):
            if n.get(key) is not None and not isinstance(n[key], str):
                return f"cluster.nodes[{i}].{key} is not text ({_short(n[key])})"
    for key in ("task_intervals", "running"):
        v = cluster.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
            return f"cluster.{key} is not a whole number ({_short(v)})"
    return None
