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
"""
from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone

from .units import fmt_duration, fmt_energy, fmt_mass_g

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
    scope: str = "machine"  # machine: energy_j is the device's; process: energy_j is share × device
    device_energy_j: float | None = None  # what the device drew in the cell (None in older records: energy_j)
    share: float | None = None  # this kernel's part of the device energy, None where it cannot be told
    attribution: str | None = None  # how the share was found: attributed:cpu-time | attributed:sm-util |
    #                                 attributed:sole-user | none

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
    scope: str = "machine"  # machine | process: which figure energy_j is (see the module docstring)
    scope_reason: str | None = None  # why that scope (None in records written before scope existed)
    schema: str = SCHEMA

    # -- serialisation -------------------------------------------------------------------
    def to_dict(self) -> dict:
        """The v1 record as a new dict (changing it leaves the record alone).

        Built field by field: `dataclasses.asdict` (deep copies through every level, and it ran
        twice over the components) was the largest single cost of a measured cell.
        """
        d = {name: _plain(getattr(self, name)) for name in self.__dataclass_fields__}
        d["components"] = [{name: _plain(getattr(c, name)) for name in Component.__dataclass_fields__}
                           for c in self.components]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "CellRecord":
        if not isinstance(d, dict):
            raise ValueError(f"a record is an object, not {type(d).__name__}")
        if d.get("schema") not in SCHEMAS:
            raise ValueError(f"not a carbon_magic record (schema={_short(d.get('schema'))})")
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

    def scope_text(self) -> str:
        """`this kernel's share (auto: …)`, `whole machine (…)`; empty for records older than scope."""
        if self.scope_reason is None and self.scope == "machine":
            return ""
        word = "this kernel's share" if self.scope == "process" else "whole machine"
        return f"{word} ({self.scope_reason})" if self.scope_reason else word

    def summary(self) -> str:
        comps = " · ".join(f"{c.name} {c.energy_words()}" + c.note() for c in self.components)
        pue = f" · PUE {self.pue:g}" if self.pue != 1.0 else ""
        status = "" if self.status == "ok" else f" · {self.status}"
        label = f"[{self.label}] " if self.label else ""
        scope = self.scope_text()
        return (f"⚡ {label}{self.energy_text()} ({comps}) · {fmt_mass_g(self.emissions_g)} CO₂e\n"
                f"  @ {self.intensity_g_per_kwh:.0f} g/kWh ({self.intensity_label()}) · "
                f"{fmt_duration(self.duration_s)}{pue}{status}" + (f" · {scope}" if scope else ""))

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        return "<pre>" + html.escape(self.summary()) + "</pre>"


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


def record_problem(d) -> str | None:
    """Why `d` is not a usable v1 record, or None: the one check for records from outside.

    Types of every field the outputs read, numbers finite and within MAX_QUANTITY, a known
    status, times in ISO 8601. Unknown extra keys are allowed (newer records add some).
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
        for key in ("uncertainty_cause", "mig", "attribution"):
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
    problem = _provenance_problem(d.get("intensity"), "intensity")
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
