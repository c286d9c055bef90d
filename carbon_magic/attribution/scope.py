"""Which figure a record bills: the devices' energy (`machine`) or this kernel's share (`process`).

The setting is `auto`, `machine` or `process` (CARBON_MAGIC_SCOPE, `%config CarbonMagics.scope`,
`%%carbon --scope`). `auto` picks `process` when other processes used a significant share of the
devices during the session, else `machine`, so a laptop's numbers stay what the devices drew:
- CPU: others did at least AUTO_WORK_SHARE of the machine's busy CPU time AND kept at least
  AUTO_CAPACITY_SHARE of its CPUs busy (a browser and a Jupyter server idling beside a notebook
  stay far below that: they are a few % of one core);
- GPU: others did at least AUTO_WORK_SHARE of a billed GPU's SM utilisation samples;
- and at least AUTO_MIN_ELAPSED_S of the session was seen (less is no evidence either way).

Whatever the scope, every component keeps both figures: `device_energy_j` (what the device drew
in the cell), `share` (this kernel's part of it, None where it cannot be told) with `attribution`
(how it was found), and `energy_j` = the figure billed under `scope`.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from .. import uncertainty as U  # noqa: N812 - the uncertainty model's constants, as in session.py
from .tracker import CPU_KINDS, Mark, Usage

SCOPES = ("auto", "machine", "process")
AUTO_MIN_ELAPSED_S = 1.0
AUTO_WORK_SHARE = 0.2
AUTO_CAPACITY_SHARE = 0.1
AUTO_MIN_SM = 100.0  # Σ smUtil (% × samples): a few samples of real work, not one blip

CPU_TIME = "attributed:cpu-time"
SM_UTIL = "attributed:sm-util"
SOLE_USER = "attributed:sole-user"
NOT_ATTRIBUTED = "none"


def parse_scope(value, where: str = "scope") -> str:
    """`auto`, `machine` or `process` (any case, surrounding spaces and quotes ignored); else ValueError."""
    text = str(value).strip().strip("\"'").strip().lower() if value is not None else ""
    if text not in SCOPES:
        shown = "".join(c if c.isprintable() else "?" for c in str(value))[:40]
        raise ValueError(f"{where} must be auto, machine or process (not {shown!r})")
    return text


@dataclass(frozen=True)
class Decision:
    scope: str  # machine | process
    reason: str


def _pct(x: float) -> str:
    return f"{x * 100:.0f} %"


def others_text(usage: Usage) -> str:
    """`others did 46 % of the CPU work, 31 % of the CPUs busy · gpu:0: others did 40 % of its SM work`."""
    parts = []
    if usage.busy_cpu_s > 0 and usage.capacity_cpu_s > 0:
        others = max(0.0, usage.busy_cpu_s - usage.ours_cpu_s)
        parts.append(f"others did {_pct(others / usage.busy_cpu_s)} of the CPU work, "
                     f"{_pct(others / usage.capacity_cpu_s)} of the CPUs busy")
    for name, (ours, total) in sorted(usage.gpu_sm.items()):
        if total > 0:
            parts.append(f"{name}: others did {_pct((total - ours) / total)} of its SM work")
    return " · ".join(parts)


def decide(requested: str, source: str, usage: Usage, cpu_problem: str | None = None) -> Decision:
    """The scope for a record: `requested` as set (`source` says where), `auto` from `usage`.

    The reason is short (it ends the summary line): what was set, or the figure that decided.
    """
    if requested in ("machine", "process"):
        return Decision(requested, f"set by {source}")
    if cpu_problem and not any(total for _, total in usage.gpu_sm.values()):
        return Decision("machine", f"auto: {cpu_problem}")
    if usage.elapsed_s < AUTO_MIN_ELAPSED_S:
        return Decision("machine", "auto: too little seen yet to judge other use")
    for name, (ours, total) in sorted(usage.gpu_sm.items()):
        if total >= AUTO_MIN_SM and (total - ours) / total >= AUTO_WORK_SHARE:
            return Decision("process", f"auto: others did {_pct((total - ours) / total)} of {name}'s SM work")
    if usage.busy_cpu_s <= 0 or usage.capacity_cpu_s <= 0:
        return Decision("machine", "auto: no CPU use seen yet")
    others = max(0.0, usage.busy_cpu_s - usage.ours_cpu_s)
    work, busy = others / usage.busy_cpu_s, others / usage.capacity_cpu_s
    if work >= AUTO_WORK_SHARE and busy >= AUTO_CAPACITY_SHARE:
        return Decision("process", f"auto: others did {_pct(work)} of the CPU work")
    if busy < AUTO_CAPACITY_SHARE:
        return Decision("machine", f"auto: others kept only {_pct(busy)} of the CPUs busy")
    return Decision("machine", f"auto: others did only {_pct(work)} of the CPU work")


# -- components ------------------------------------------------------------------------------
def _cell_share(kind: str, name: str, cell: Usage, sole: bool) -> float:
    """A share for a cell whose device energy the attributor saw as 0 (shorter than the counter's
    update): the kernel's part of the work in the cell."""
    if kind in CPU_KINDS:
        return min(1.0, cell.ours_cpu_s / cell.busy_cpu_s) if cell.busy_cpu_s > 0 else 0.0
    if sole:
        return 1.0
    ours, total = cell.gpu_sm.get(name, (0.0, 0.0))
    return min(1.0, ours / total) if total > 0 else 0.0


def _attribution_u(kind: str, method: str, attributed_j: float, device_j: float, cell: Usage) -> float:
    """Uncertainty of the split itself (J, see uncertainty.py)."""
    if method == SOLE_USER:
        return 0.0
    if kind in CPU_KINDS:
        # CPU time moves in clock ticks: ±QUANTUM_S of the cell's busy time, on the device energy.
        quantum = min(1.0, U.CPU_TIME_QUANTUM_S / cell.busy_cpu_s) if cell.busy_cpu_s > 0 else 1.0
        return U.CPU_TIME_FRACTION * attributed_j + quantum * device_j
    return U.SM_UTIL_FRACTION * attributed_j


def attribute(components: list, start: Mark, end: Mark, decision: Decision) -> tuple[list, str, str]:
    """The components with both figures filled in, and the record's (scope, reason).

    A component whose share cannot be told for this cell (an interval billed whole) is billed
    whole even under process scope, and the reason says so; if that leaves no component billed
    by share, the record is machine scope.
    """
    cell = end.usage.minus(start.usage)
    out, notes = [], []
    for c in components:
        n = c.name
        device = c.energy_j
        whole_intervals = end.whole.get(n, 0) - start.whole.get(n, 0)
        if n not in end.attributed_j or whole_intervals:
            problem = end.problems.get(n) or "not attributable"
            out.append(replace(c, scope="machine", device_energy_j=device, share=None, attribution=NOT_ATTRIBUTED))
            if decision.scope == "process":
                notes.append(f"{n} billed whole: {problem}")
            continue
        intervals = end.intervals.get(n, 0) - start.intervals.get(n, 0)
        sole = intervals > 0 and end.sole.get(n, 0) - start.sole.get(n, 0) == intervals
        d_dev = end.device_j.get(n, 0.0) - start.device_j.get(n, 0.0)
        d_att = end.attributed_j.get(n, 0.0) - start.attributed_j.get(n, 0.0)
        share = min(1.0, max(0.0, d_att / d_dev)) if d_dev > 0 else _cell_share(c.kind, n, cell, sole)
        method = CPU_TIME if c.kind in CPU_KINDS else (SOLE_USER if sole else SM_UTIL)
        if decision.scope != "process":
            out.append(replace(c, scope="machine", device_energy_j=device, share=share, attribution=method))
            continue
        billed = share * device
        u_split = _attribution_u(c.kind, method, billed, device, cell)
        causes = [x for x in (c.uncertainty_cause, "attribution" if u_split > 0 else "") if x]
        out.append(replace(c, energy_j=billed, scope="process", device_energy_j=device, share=share,
                           attribution=method, uncertainty_j=share * (c.uncertainty_j or 0.0) + u_split,
                           uncertainty_cause="+".join(causes)))
    scope, reason = decision.scope, decision.reason
    if scope == "process" and out and all(c.scope == "machine" for c in out):
        scope = "machine"
    if notes:
        reason += "; " + "; ".join(notes)
    return out, scope, reason


# -- %carbon status -------------------------------------------------------------------------
def status_lines(session) -> list[str]:
    """The scope that applies now and why, and the other consumers seen (counts and shares only)."""
    from ..units import fmt_power  # noqa: PLC0415

    s = session.settings
    d = session.decide_scope()
    word = "this kernel's share" if d.scope == "process" else "what the devices drew"
    lines = [f"  scope: {d.scope}, {word} ({d.reason}); setting {s.scope} ({s.scope_source})"]
    att = session.attributor
    usage = att.usage()
    parts = []
    if att.cpu_problem:
        parts.append(f"CPU: {att.cpu_problem}")
    else:
        count = session.consumers.look(att.pids)
        if count is None:
            parts.append("CPU: counting other processes (ask again in a moment)")
        else:
            parts.append(f"CPU: {count} other process{'es' if count != 1 else ''} busy over the last "
                         f"{session.consumers.looked_over_s:.3g} s (up to {session.consumers.max_count} at once)")
        seen = others_text(Usage(usage.ours_cpu_s, usage.busy_cpu_s, usage.capacity_cpu_s, usage.elapsed_s))
        if seen:
            parts[-1] += f"; since the session started {seen}"
    for name, look in sorted(att.gpu_looks.items()):
        if look.problem:
            parts.append(f"{name}: billed whole, {look.problem}")
            continue
        ours, total = usage.gpu_sm.get(name, (0.0, 0.0))
        share = f", {_pct((total - ours) / total)} of its SM work since the session started" if total > 0 else ""
        parts.append(f"{name}: {look.others} other process{'es' if look.others != 1 else ''} with a compute "
                     f"context{' (this kernel is its only user)' if look.sole else ''}{share}")
    lines.append("  other consumers: " + " · ".join(parts))
    idle = []
    for src in session.sampler.sources:
        w, how = att.idle_w(src.name)
        if w is not None:
            idle.append(f"{src.name} {fmt_power(w)} ({how})")
    if idle:
        lines.append("  idle power used for the split: " + ", ".join(idle))
    return lines
