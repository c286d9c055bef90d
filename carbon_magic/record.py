"""The one record type: what a measured cell (or `measure()` block) cost.

`CellRecord.to_dict()` is the record of DESIGN.md; the ledger, exports, the comm and cell
metadata all carry exactly that shape, and `from_dict` reads it back.

Scope (see attribution/): every record says whether its energies are what the devices drew
(`scope` machine) or this kernel's share of them (`scope` process), and why (`scope_reason`); each
component keeps both figures (`device_energy_j`, `share`, `attribution`), with `energy_j` the one
billed. A machine-scope record means what a v1 record always meant and stays
`carbon_magic.record/1` (the new keys are extras a v1 reader ignores); a process-scope record,
whose `energy_j` is a share, is `carbon_magic.record/2`, so a v1-only reader refuses it rather
than take a share for a device's energy. Both are read here.

Times: inside the package every time is unix seconds, a float (`start_s`, `end_s` of the record
and of each intensity segment, `start_s` of `parent`). ISO 8601 text is written once, by
`to_dict()` (the v1 JSON: `started_at`, `ended_at`, segments' `start`/`end`, `parent.started_at`,
in milliseconds) or by an export for people, and read once, by `from_dict()`. ISO text keeps
milliseconds and a time in memory may have more, so two times are the same moment when their
milliseconds are (`time_ms`): record identity, and a child finding its parent, compare those.

Nesting: a window opened while another of the same session is open (`carbon_magic.measure()`
inside a `%%carbon` cell, e.g. one per epoch) gives a record with `parent`, the identity of the
enclosing cell: `{"started_at", "cell_id", "label"}` in the JSON (`{"start_s", …}` in memory);
with the child's `session_id`, that start finds the parent record (`cell_key`, `parent_key`).
(No execution count: the cell's is only final when it ends, after its nested records were
written.) Its energy is part of the parent's, so a nested record is kept and shown (under its
cell) but never summed: every total adds `top_level(records)` only. A record without `parent`
(every record written before the key existed) is top level.
"""
from __future__ import annotations

import copy
import functools
import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from .units import fmt_duration, fmt_energy, fmt_intensity, fmt_mass_g, fmt_provenance

SCHEMA = "carbon_magic.record/1"
SCHEMA_V2 = "carbon_magic.record/2"  # a process-scope record (energies are this kernel's share)
SCHEMAS = (SCHEMA, SCHEMA_V2)
RECORD_SCOPES = ("machine", "process")
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
# Carbon-aware waits and pauses (carbon_magic.act): optional keys, absent from records without one.
# deferred_s: how long the work was held back (a `%carbon wait` before the cell, or pauses inside it);
# avoided_g: CO₂e saved against starting at once (negative where waiting cost more); avoided_basis:
# `forecast` (priced with a forecast or not-yet-final values) or `actual` (realised intensities).
DEFERRAL_KEYS = ("deferred_s", "avoided_g", "avoided_basis")
AVOIDED_BASES = ("forecast", "actual")
# Record keys added after v1 (DESIGN.md "Record additions"): absent when not set.
OPTIONAL_KEYS = ("units", "water_l", "water", "embodied_g", "embodied", "scope_reason")
_OMIT_IF_NONE = ("node", "revision", "cluster")  # cluster-only keys, absent from other records
_ABSENT_IF_NONE = frozenset(DEFERRAL_KEYS + OPTIONAL_KEYS + _OMIT_IF_NONE)
_SCALARS = frozenset((str, float, int, bool))
MAX_REVISION = 1_000_000
_PROVENANCE_TEXT = ("provider", "provider_name", "zone", "kind", "signal", "source", "flag", "fallback_reason",
                    "fetched_at", "licence", "license")


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MS = timedelta(milliseconds=1)
# The times ISO text can hold (years 1 to 9999, UTC): what `unix_from_iso` accepts and `iso_utc` writes.
EARLIEST_S = datetime.min.replace(tzinfo=timezone.utc).timestamp()
LATEST_S = datetime.max.replace(tzinfo=timezone.utc).timestamp()


def _utc(unix_s: float) -> datetime:
    return datetime.fromtimestamp(unix_s, tz=timezone.utc)


@functools.lru_cache(maxsize=256)
def iso_utc(unix_s: float) -> str:
    """`2026-11-23T18:20:05.123Z`: a record time as the JSON carries it (milliseconds, UTC).

    Cached: a record's start is also its first segment's and its children's parent's, and one
    record goes to the ledger and to the comm, so the same few numbers are written again and again."""
    return _utc(unix_s).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def utc_seconds(unix_s: float, sep: str = "T") -> str:
    """`2026-11-23T18:20:05`: the same time to the second, for people (tables, CodeCarbon's CSV)."""
    return _utc(unix_s).replace(tzinfo=None).isoformat(sep, timespec="seconds")


def time_ms(unix_s: float) -> int:
    """The whole milliseconds `iso_utc(unix_s)` shows: two record times are the same moment when
    these are equal (a time read back from JSON has lost what a time in memory has beyond them)."""
    return (_utc(unix_s) - _EPOCH) // _MS


def unix_from_iso(iso: object) -> float:
    """Unix seconds from ISO 8601 text: the inverse of `iso_utc` (also with an offset; without
    one, UTC). ValueError where it is not a time that `iso_utc` can write back."""
    if not isinstance(iso, str):
        raise ValueError(f"a time is ISO 8601 text, not {type(iso).__name__}")
    dt = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    t = dt.timestamp()
    if not EARLIEST_S <= t <= LATEST_S:
        raise ValueError(f"{iso!r} is outside years 1 to 9999 UTC")
    return t


# Time fields in memory (unix seconds) and their keys in the JSON (ISO text).
_TIME_KEYS = {"start_s": "started_at", "end_s": "ended_at"}
_SEGMENT_TIME_KEYS = {"start_s": "start", "end_s": "end"}
_PARENT_TIME_KEYS = {"start_s": "started_at"}


def _times_out(d: dict, keys: dict) -> dict:
    """A copy of `d` with its times (`keys`: name in memory -> JSON key) as ISO text; every key
    keeps its place, so the JSON reads as it always did."""
    return {keys[k] if k in keys else k: iso_utc(v) if k in keys else _plain(v) for k, v in d.items()}


def _times_in(d: dict, keys: dict) -> dict:
    """`_times_out` undone: a copy of `d` with its ISO times as unix seconds."""
    names = {v: k for k, v in keys.items()}
    return {names[k] if k in names else k: unix_from_iso(v) if k in names else v for k, v in d.items()}


def _segment_out(s: dict) -> dict:
    return _times_out(s, _SEGMENT_TIME_KEYS)


def _same(value):
    return value


def _plain(value):
    """A copy of nested dicts/lists/tuples (values are JSON scalars), as asdict would give."""
    if value is None or type(value) in _SCALARS:
        return value
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
    scope: str = "machine"  # machine: energy_j is the device's; process: energy_j is share × device
    device_energy_j: float | None = None  # what the device drew in the cell (None in older records: energy_j)
    share: float | None = None  # this kernel's part of the device energy, None where it cannot be told
    attribution: str | None = None  # how the share was found: attributed:cpu-time | attributed:sm-util |
    #                                 attributed:sole-user | none
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

    @property
    def device_j(self) -> float:
        """The device's energy in the cell, whatever the scope."""
        return self.energy_j if self.device_energy_j is None else self.device_energy_j

    def energy_words(self) -> str:
        """`0.8 J measured`, or under process scope `0.8 J = 38 % of 2.1 J measured`."""
        how = self.how()
        if self.scope == "process" and self.share is not None:
            return " ".join(filter(None, (fmt_energy(self.energy_j), f"= {self.share * 100:.0f} % of",
                                          fmt_energy(self.device_j), how)))
        return " ".join(filter(None, (fmt_energy(self.energy_j), how)))

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
    start_s: float  # unix seconds (wall clock) when the window opened: `started_at` in the JSON
    end_s: float  # when it closed: `ended_at`
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
    # Each value used, with its energy: {"start_s", "end_s", "energy_j", "emissions_g",
    # "intensity_g_per_kwh", "intensity"} (+ "node"); `start`/`end` ISO text in the JSON.
    intensity_segments: list[dict] = field(default_factory=list)
    scope: str = "machine"  # machine | process: which figure energy_j is (see the module docstring)
    scope_reason: str | None = None  # why that scope (None in records written before scope existed)
    parent: dict | None = None  # the enclosing cell's {"start_s", "cell_id", "label"} (see above); None: top level
    # Optional additions (DESIGN.md, second wave): written only when set, so v1 readers see v1.
    units: dict | None = None  # {"count": 60000, "unit": "samples"}: what the cell processed (SCI's R)
    water_l: float | None = None  # litres, estimated: on-site (WUE) plus the grid's where known
    water: dict | None = None  # how water_l was estimated (report/water.py)
    embodied_g: float | None = None  # g CO₂e of hardware manufacturing, time share (report/embodied.py)
    embodied: dict | None = None  # its sources, lifetimes and uncertainty
    schema: str = SCHEMA
    deferred_s: float | None = None  # see DEFERRAL_KEYS
    avoided_g: float | None = None
    avoided_basis: str | None = None
    # Cluster work (carbon_magic.cluster): `revision` counts the versions of this record written
    # to the ledger (0 first; readers keep the highest per cell identity), `cluster` says what the
    # cell's tasks on cluster nodes cost and whether some still run (`pending`). None otherwise,
    # and then left out of to_dict(), so records of cells without a cluster are unchanged.
    revision: int | None = None
    cluster: dict | None = None

    # The JSON's ISO texts, for code that reads a record (`%%carbon -o rec`) as v1 names it.
    @property
    def started_at(self) -> str:
        return iso_utc(self.start_s)

    @property
    def ended_at(self) -> str:
        return iso_utc(self.end_s)

    # -- serialisation -------------------------------------------------------------------
    def to_dict(self) -> dict:
        """The v1 record as a new dict (changing it leaves the record alone): the one place
        where its times become ISO text.

        Built field by field: `dataclasses.asdict` (deep copies through every level, and it ran
        twice over the components) was the largest single cost of a measured cell.
        """
        return self._dict(_plain)

    def to_json(self) -> str:
        """`json.dumps(self.to_dict())`, without copying what the encoder only reads."""
        return json.dumps(self._dict(_same))

    def _dict(self, inner) -> dict:
        """The v1 dict; `inner` copies (or not) the nested values of the fields."""
        d: dict = {}
        for name in _RECORD_FIELDS:
            value = getattr(self, name)
            if name in _TIME_KEYS:
                d[_TIME_KEYS[name]] = iso_utc(value)
            elif name == "intensity_segments":
                d[name] = [_segment_out(s) for s in value]
            elif name == "parent":
                d[name] = None if value is None else _times_out(value, _PARENT_TIME_KEYS)
            elif name == "components":
                d[name] = [{name: inner(v) for name in _COMPONENT_FIELDS
                            if (v := getattr(c, name)) is not None or name not in _OMIT_IF_NONE}
                           for c in value]
            elif value is not None or name not in _ABSENT_IF_NONE:
                d[name] = inner(value)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> CellRecord:
        """The record of a v1 (or record/2) dict: the one place where its ISO times become
        numbers. ValueError where it is not one (`record_problem` says why, for input from outside)."""
        if not isinstance(d, dict):
            raise ValueError(f"a record is an object, not {type(d).__name__}")
        if d.get("schema") not in SCHEMAS:
            raise ValueError(f"not a carbon_magic record (schema={_short(d.get('schema'))})")
        known = {f for f in cls.__dataclass_fields__}
        kw = {k: v for k, v in d.items() if k in known}
        for name, key in _TIME_KEYS.items():
            kw[name] = unix_from_iso(d.get(key))
        kw["intensity_segments"] = [_times_in(s, _SEGMENT_TIME_KEYS) for s in d.get("intensity_segments") or []]
        if d.get("parent") is not None:
            kw["parent"] = _times_in(d["parent"], _PARENT_TIME_KEYS)
        kw["components"] = [Component(**{k: v for k, v in c.items() if k in Component.__dataclass_fields__})
                            for c in d.get("components", [])]
        return cls(**kw)

    def copy(self) -> CellRecord:
        """An independent copy (its lists and dicts too), times kept to the last digit."""
        out = copy.copy(self)
        for name in self.__dataclass_fields__:
            setattr(out, name, _plain(getattr(self, name)))
        out.components = [copy.copy(c) for c in self.components]
        return out

    @classmethod
    def from_untrusted(cls, d) -> CellRecord:
        """`from_dict` for a record read from outside this kernel (notebook metadata, a ledger
        file, an export): ValueError with a one-line reason unless `record_problem(d)` is None."""
        problem = record_problem(d)
        if problem:
            raise ValueError(problem)
        return cls.from_dict(d)

    # -- views ---------------------------------------------------------------------------
    @property
    def nested(self) -> bool:
        """Measured inside another record's window (its energy is already in the parent's)."""
        return self.parent is not None

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
        return fmt_provenance(self.intensity)

    def scope_text(self) -> str:
        """`this kernel's share (auto: …)`, `whole machine (…)`; empty for records older than scope."""
        if self.scope_reason is None and self.scope == "machine":
            return ""
        word = "this kernel's share" if self.scope == "process" else "whole machine"
        return f"{word} ({self.scope_reason})" if self.scope_reason else word

    def summary(self) -> str:
        comps = " · ".join(f"{c.name} {c.energy_words()}" + c.note()
                           for c in self.components if not c.node) + _cluster_summary(self)
        pue = f" · PUE {self.pue:g}" if self.pue != 1.0 else ""
        status = "" if self.status == "ok" else f" · {self.status}"
        label = f"[{self.label}] " if self.label else ""
        scope = self.scope_text()
        pending = ""
        if isinstance(self.cluster, dict) and self.cluster.get("pending"):
            pending = "\n  cluster: tasks still running or readings not yet in; this record updates until they end"
        text = (f"⚡ {label}{self.energy_text()} ({comps}) · {fmt_mass_g(self.emissions_g)} CO₂e\n"
                f"  @ {fmt_intensity(self.intensity_g_per_kwh)} ({self.intensity_label()}) · "
                f"{fmt_duration(self.duration_s)}{pue}{status}" + (f" · {scope}" if scope else "")
                + pending + self.deferral_text())
        if self.units:
            from .report.sci import summary_line  # noqa: PLC0415 - report.sci imports this module

            text += "\n" + summary_line(self)
        return text

    def deferral_text(self) -> str:
        """`\n  deferred 3 h 10 min for a greener grid: ≈ 12 g CO₂e avoided (forecast)`, or ''."""
        if self.deferred_s is None:
            return ""
        text = f"\n  deferred {fmt_duration(self.deferred_s)} for a greener grid"
        if self.avoided_g is not None:
            word = "avoided" if self.avoided_g >= 0 else "more than starting at once"
            text += f": ≈ {fmt_mass_g(abs(self.avoided_g))} CO₂e {word} ({self.avoided_basis or 'forecast'})"
        return text

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        import html  # noqa: PLC0415 - only where a notebook shows a record as HTML

        return "<pre>" + html.escape(self.summary()) + "</pre>"


def _v1_names_init(init):
    """CellRecord's constructor also takes the v1 names `started_at=` / `ended_at=` (ISO text, as
    code written before times were numbers passes them), and ISO text where the numbers go."""

    @functools.wraps(init)
    def init_v1(self, *args, started_at=None, ended_at=None, **kw):
        if started_at is not None:
            kw["start_s"] = started_at
        if ended_at is not None:
            kw["end_s"] = ended_at
        init(self, *args, **kw)
        if isinstance(self.start_s, str):
            self.start_s = unix_from_iso(self.start_s)
        if isinstance(self.end_s, str):
            self.end_s = unix_from_iso(self.end_s)

    return init_v1


CellRecord.__init__ = _v1_names_init(CellRecord.__init__)  # type: ignore[method-assign]


_RECORD_FIELDS = tuple(CellRecord.__dataclass_fields__)
_COMPONENT_FIELDS = tuple(Component.__dataclass_fields__)


def top_level(records) -> list[CellRecord]:
    """The records that totals add up: those not nested in another (nested energy is the parent's)."""
    return [r for r in records if r.parent is None]


SUMMARY_NODES = 4  # cluster nodes named in the summary line; the rest are counted


def _cluster_summary(record: CellRecord) -> str:
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


def cell_key(record: CellRecord) -> tuple:
    """(session, start in ms): what a nested record's `parent_key` names."""
    return record.session_id, time_ms(record.start_s)


def parent_key(record: CellRecord) -> tuple | None:
    """The `cell_key` of the record `record` is nested in, or None (top level, or no usable start)."""
    start = record.parent.get("start_s") if isinstance(record.parent, dict) else None
    if isinstance(start, bool) or not isinstance(start, (int, float)):
        return None
    return record.session_id, time_ms(start)


def record_identity(record: CellRecord) -> tuple:
    """What stays the same across the revisions of one cell's record (times to the millisecond,
    as the JSON keeps them)."""
    return (record.session_id, time_ms(record.start_s), time_ms(record.end_s), record.execution_count,
            record.cell_id, record.label)


def latest_revisions(records: list[CellRecord]) -> list[CellRecord]:
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


def _scope_problem(d: dict, where: str) -> str | None:
    """Why a record's or a component's scope fields are unusable, or None (absent ones are fine)."""
    if d.get("scope") is not None and d["scope"] not in RECORD_SCOPES:
        return f"{where}.scope {_short(d['scope'])} is not one of {', '.join(RECORD_SCOPES)}"
    if d.get("device_energy_j") is not None:
        problem = quantity_problem(d["device_energy_j"])
        if problem:
            return f"{where}.device_energy_j {problem}"
    share = d.get("share")
    if share is not None and quantity_problem(share, 1.0):
        return f"{where}.share is not a number between 0 and 1 ({_short(share)})"
    return None


def _parent_problem(p) -> str | None:
    if p is None:
        return None
    if not isinstance(p, dict):
        return f"parent is not an object ({_short(p)})"
    if not isinstance(p.get("started_at"), str):
        return f"parent.started_at is missing or not text ({_short(p.get('started_at'))})"
    if _time_problem(p["started_at"]):
        return f"parent.started_at is not an ISO 8601 time ({_short(p['started_at'])})"
    for key in ("cell_id", "label"):
        if p.get(key) is not None and not isinstance(p[key], str):
            return f"parent.{key} is not text ({_short(p[key])})"
    count = p.get("execution_count")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int)):
        return f"parent.execution_count is not a whole number ({_short(count)})"
    return None


def record_problem(d) -> str | None:
    """Why `d` is not a usable v1 record, or None: the one check for records from outside.

    Types of every field the outputs read, numbers finite and within MAX_QUANTITY, a known
    status, times in ISO 8601 (the record's, its segments' and its parent's: `from_dict` reads
    them). Unknown extra keys are allowed (newer records add some).
    """
    if not isinstance(d, dict):
        return f"not an object ({type(d).__name__})"
    if d.get("schema") not in SCHEMAS:
        return f"not a carbon_magic record (schema={_short(d.get('schema'))})"
    for key in ("session_id", "started_at", "ended_at", "status"):
        if not isinstance(d.get(key), str):
            return f"{key} is missing or not text ({_short(d.get(key))})"
    if d["status"] not in STATUSES:
        return f"status {_short(d['status'])} is not one of {', '.join(STATUSES)}"
    for key in ("started_at", "ended_at"):
        if _time_problem(d[key]):
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
        for key in ("uncertainty_cause", "mig", "attribution", "node"):
            if c.get(key) is not None and not isinstance(c[key], str):
                return f"components[{i}].{key} is not text ({_short(c[key])})"
        problem = _scope_problem(c, f"components[{i}]")
        if problem:
            return problem
    problem = _scope_problem(d, "record")
    if problem:
        return problem
    if d["schema"] == SCHEMA_V2 and d.get("scope") != "process":
        return f"a {SCHEMA_V2} record needs scope 'process' (scope={_short(d.get('scope'))})"
    if d.get("scope_reason") is not None and not isinstance(d["scope_reason"], str):
        return f"scope_reason is not text ({_short(d['scope_reason'])})"
    problem = (_provenance_problem(d.get("intensity"), "intensity") or _parent_problem(d.get("parent"))
               or _deferral_problem(d) or _cluster_problem(d))
    if problem:
        return problem
    problem = additions_problem(d)
    if problem:
        return problem
    segments = d.get("intensity_segments", [])
    if not isinstance(segments, list):
        return f"intensity_segments is not a list ({_short(segments)})"
    for i, seg in enumerate(segments):
        if not isinstance(seg, dict):
            return f"intensity_segments[{i}] is not an object"
        for key in ("start", "end"):
            if _time_problem(seg.get(key)):
                return f"intensity_segments[{i}].{key} is missing or not an ISO 8601 time ({_short(seg.get(key))})"
        problem = _provenance_problem(seg.get("intensity"), f"intensity_segments[{i}].intensity")
        if problem:
            return problem
    return None


def _time_problem(text) -> bool:
    """True unless `text` is ISO 8601 text that `from_dict` can read."""
    try:
        unix_from_iso(text)
    except (ValueError, OverflowError, OSError):
        return True
    return False


def _deferral_problem(d: dict) -> str | None:
    """Why the optional deferral keys are unusable, or None (absent keys are fine: v1 records)."""
    if d.get("deferred_s") is not None:
        problem = quantity_problem(d["deferred_s"])
        if problem:
            return f"deferred_s {problem}"
    avoided = d.get("avoided_g")
    if avoided is not None:
        number = isinstance(avoided, (int, float)) and not isinstance(avoided, bool)
        if not number or quantity_problem(abs(avoided)):
            return f"avoided_g is not a finite number between -{MAX_QUANTITY:g} and {MAX_QUANTITY:g} ({_short(avoided)})"
    basis = d.get("avoided_basis")
    if basis is not None and basis not in AVOIDED_BASES:
        return f"avoided_basis {_short(basis)} is not one of {', '.join(AVOIDED_BASES)}"
    return None


UNIT_RE = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,31}\Z")


def units_problem(units) -> str | None:
    """Why `units` is not `{"count": positive number, "unit": a word}`, or None."""
    if not isinstance(units, dict):
        return f"is not an object ({_short(units)})"
    count = units.get("count")
    problem = quantity_problem(count)
    if problem or count is None or count <= 0:
        return f"count {problem or f'is not positive ({_short(count)})'}"
    unit = units.get("unit")
    if not isinstance(unit, str) or not UNIT_RE.match(unit):
        return f"unit is not a word ({_short(unit)})"
    return None


def _flat_problem(obj, where: str) -> str | None:
    """Why a provenance object (water, embodied, one embodied item) has a value that is not text,
    a finite non-negative number, a flag or null, or None."""
    if not isinstance(obj, dict):
        return f"{where} is not an object ({_short(obj)})"
    for key, value in obj.items():
        if value is None or isinstance(value, (str, bool)):
            continue
        problem = quantity_problem(value)
        if problem:
            return f"{where}.{key} {problem}"
    return None


def additions_problem(d: dict) -> str | None:
    """Why the optional additions of a record (units, water, embodied) are unusable, or None."""
    if d.get("units") is not None:
        problem = units_problem(d["units"])
        if problem:
            return f"units {problem}"
    for key in ("water_l", "embodied_g"):
        if d.get(key) is not None:
            problem = quantity_problem(d[key])
            if problem:
                return f"{key} {problem}"
    if d.get("water") is not None:
        problem = _flat_problem(d["water"], "water")
        if problem:
            return problem
    embodied = d.get("embodied")
    if embodied is not None:
        if not isinstance(embodied, dict):
            return f"embodied is not an object ({_short(embodied)})"
        problem = _flat_problem({k: v for k, v in embodied.items() if k != "items"}, "embodied")
        if problem:
            return problem
        items = embodied.get("items", [])
        if not isinstance(items, list):
            return f"embodied.items is not a list ({_short(items)})"
        for i, item in enumerate(items):
            problem = _flat_problem(item, f"embodied.items[{i}]")
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
