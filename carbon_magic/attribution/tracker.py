"""Energy billed to this kernel's process tree, per source, kept as cumulative joules.

The sampler's snapshots give each device's cumulative energy; at every tick and cell edge the
`Attributor` takes the interval since its last look and adds this kernel's part of it:

- CPU, DRAM, RAM (the estimators too): the interval's energy E splits into idle (idle power × dt,
  see idle.py) and active (the rest). The kernel gets f × active + c × idle, with
  f = its tree's CPU time / the machine's busy CPU time (its part of the work done) and
  c = its tree's CPU time / (CPUs × dt) (its part of the machine's capacity: an idle machine's
  power is shared by those who hold its CPUs, and what nobody uses is billed to nobody).
- GPU (per board, gpu.py): sole user → the whole interval; else active × its SM-utilisation
  share (Kepler: P_active × SM%_process / ΣSM%) + idle × its share of the memory held on the
  board (the memory share also stands in for SM when no sample came in).
- An interval that cannot be split (no /proc, NVML blind to our PIDs, an unknown kind) is billed
  whole and counted, so a cell that contains one can show that component at machine scope.

Both f and c are at most 1 and the processes' trees are disjoint, so the shares of all the
processes on a machine never add up to more than its energy. Cumulative counters make any
window exact, as for the sampler: a cell is the difference of the marks taken at its edges.
"""
from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass, field

from .gpu import GpuLook, GpuProcesses
from .idle import IdleEstimate
from .procfs import ProcFS, ProcUnavailable

log = logging.getLogger("carbon_magic")

CPU_KINDS = ("cpu", "dram", "ram")


@dataclass(frozen=True)
class Usage:
    """Cumulative use of the machine seen since the session started."""

    ours_cpu_s: float = 0.0  # this kernel's tree
    busy_cpu_s: float = 0.0  # everyone (user + nice + system)
    capacity_cpu_s: float = 0.0  # CPUs × elapsed time
    elapsed_s: float = 0.0
    gpu_sm: dict = field(default_factory=dict)  # gpu name -> (Σ our smUtil, Σ every smUtil)

    def minus(self, other: Usage) -> Usage:
        names = set(self.gpu_sm) | set(other.gpu_sm)
        gpu = {n: tuple(a - b for a, b in zip(self.gpu_sm.get(n, (0.0, 0.0)), other.gpu_sm.get(n, (0.0, 0.0))))
               for n in names}
        return Usage(self.ours_cpu_s - other.ours_cpu_s, self.busy_cpu_s - other.busy_cpu_s,
                     self.capacity_cpu_s - other.capacity_cpu_s, self.elapsed_s - other.elapsed_s, gpu)


@dataclass(frozen=True)
class Mark:
    """The attribution counters at one instant (a cell edge)."""

    t: float
    wall: float
    attributed_j: dict  # source name -> cumulative J billed to this kernel
    device_j: dict  # source name -> cumulative J the device drew (as the attributor saw it)
    usage: Usage
    whole: dict  # source name -> intervals billed whole (could not be split)
    sole: dict  # source name -> intervals in which this kernel was the GPU's only user
    intervals: dict  # source name -> intervals seen
    problems: dict  # source name -> the latest reason an interval was billed whole
    cpu_problem: str | None = None

    def total_j(self) -> float:
        return sum(self.attributed_j.values())


@dataclass(frozen=True)
class Point:
    """A light history entry: enough for co2.integrate to weigh the attributed energy over time."""

    t: float
    wall: float
    attributed_total_j: float

    def total_j(self) -> float:
        return self.attributed_total_j


def known_idle_w(src) -> float | None:
    value = getattr(src, "idle_w", None)
    return float(value) if isinstance(value, (int, float)) else None


class Attributor:
    """Advanced by `tick(snapshot)` (the sampler thread) and `observe(snapshot)` (cell edges)."""

    def __init__(self, sources, proc: ProcFS | None = None, gpu_probes: dict | None = None,
                 history: int = 7200):
        self.sources = list(sources)
        self.proc = proc or ProcFS()
        self._lock = threading.Lock()
        self._idle = {s.name: IdleEstimate(known_idle_w(s)) for s in self.sources}
        self._gpus: dict = dict(gpu_probes or {})
        for s in self.sources:
            if s.kind == "gpu" and s.name not in self._gpus:
                self._gpus[s.name] = self._gpu_probe(s)
        names = [s.name for s in self.sources]
        self._att = dict.fromkeys(names, 0.0)
        self._dev = dict.fromkeys(names, 0.0)
        self._whole = dict.fromkeys(names, 0)
        self._sole = dict.fromkeys(names, 0)
        self._intervals = dict.fromkeys(names, 0)
        self._problems: dict[str, str] = {}
        self._ours = self._busy = self._capacity = self._elapsed = 0.0
        self._gpu_sm = {n: [0.0, 0.0] for n in self._gpus}
        self.cpu_problem: str | None = None
        self.pids: frozenset = frozenset([self.proc.pid])
        self.cpus = 1
        self.gpu_looks: dict[str, GpuLook] = {}
        self._last = None  # the last Snapshot taken into account
        self._last_cpu = None
        self.history: deque[Point] = deque(maxlen=history)

    def _gpu_probe(self, src):
        device = getattr(src, "nvml_device", None)
        if device is None:
            return "this GPU source cannot be asked about its processes"
        try:
            nvml, handle = device
            return GpuProcesses(nvml, handle, self.proc)
        except Exception as exc:  # noqa: BLE001 - any NVML oddity: that GPU is billed whole, with the reason
            return f"NVML per-process queries failed ({type(exc).__name__}: {exc})"

    # -- advancing -----------------------------------------------------------------------
    def tick(self, snap) -> None:
        """Sampler listener: take the interval up to `snap` into account."""
        with self._lock:
            self._advance(snap, fresh=False)

    def observe(self, snap) -> Mark:
        """Cell edge: take the interval up to `snap` into account and return the counters."""
        with self._lock:
            self._advance(snap)
            return self._mark(snap)

    def _read_cpu(self, fresh: bool = True):
        try:
            cpu = self.proc.read(fresh)
        except ProcUnavailable as exc:
            self.cpu_problem = f"per-process CPU time unavailable: {exc}"
            return None
        except Exception as exc:  # noqa: BLE001 - /proc oddities must not stop the sampler
            self.cpu_problem = f"per-process CPU time unavailable: {type(exc).__name__}: {exc}"
            return None
        self.cpu_problem = None
        self.pids = cpu.pids
        self.cpus = cpu.cpus
        return cpu

    def _advance(self, snap, fresh: bool = True) -> None:
        last = self._last
        if last is not None and snap.t <= last.t:
            return  # an older snapshot (the sampler thread raced a cell edge): nothing new
        cpu = self._read_cpu(fresh)
        if last is None:
            self._last, self._last_cpu = snap, cpu
            self.history.append(Point(snap.t, snap.wall, 0.0))
            return
        dt = snap.t - last.t
        shares = self._cpu_shares(cpu, dt)
        self._elapsed += dt
        for src in self.sources:
            n = src.name
            d_j = max(0.0, snap.energy_j.get(n, 0.0) - last.energy_j.get(n, 0.0))
            self._dev[n] += d_j
            self._intervals[n] += 1
            try:
                part = self._split(src, d_j, dt, shares)
            except Exception as exc:  # noqa: BLE001 - one odd source is billed whole, the rest go on
                part = f"{type(exc).__name__}: {exc}"
            if isinstance(part, str):
                self._whole[n] += 1
                self._problems[n] = part
                part = d_j
            self._att[n] += part
        self._last, self._last_cpu = snap, cpu
        self.history.append(Point(snap.t, snap.wall, sum(self._att.values())))

    def _cpu_shares(self, cpu, dt: float):
        """(f, c, machine utilisation) for the interval, or None when the CPU time is unknown."""
        prev = self._last_cpu
        if cpu is None or prev is None or dt <= 0:
            return None
        d_tree = max(0.0, cpu.tree_s - prev.tree_s)
        d_busy = max(0.0, cpu.busy_s - prev.busy_s, d_tree)  # tick counting can put ours above all
        capacity = cpu.cpus * dt
        self._ours += d_tree
        self._busy += d_busy
        self._capacity += capacity
        f = d_tree / d_busy if d_busy > 0 else 0.0
        return f, min(1.0, d_tree / capacity), min(1.0, d_busy / capacity)

    def _split(self, src, d_j: float, dt: float, shares):
        """This kernel's joules of one interval, or a reason (str) why the interval is billed whole."""
        n, kind = src.name, src.kind
        if kind in CPU_KINDS:
            if shares is None:
                return self.cpu_problem or "per-process CPU time unavailable"
            f, c, util = shares
            idle = self._idle[n]
            idle.add(d_j, dt, util)
            idle_j = min(d_j, idle.value_w(d_j / dt) * dt)
            return f * (d_j - idle_j) + c * idle_j
        if kind == "gpu":
            probe = self._gpus.get(n)
            look = probe.look(self.pids) if isinstance(probe, GpuProcesses) else GpuLook(problem=str(probe))
            self.gpu_looks[n] = look
            if look.problem:
                return look.problem
            if look.sole:
                self._sole[n] += 1
                return d_j
            sm = self._gpu_sm.setdefault(n, [0.0, 0.0])
            sm[0] += look.sm_ours
            sm[1] += look.sm_total
            mem_share = look.mem_ours / look.mem_total if look.mem_total > 0 else None
            active_share = look.sm_ours / look.sm_total if look.sm_total > 0 else (mem_share or 0.0)
            idle_share = active_share if mem_share is None else mem_share
            idle = self._idle[n]
            idle.add(d_j, dt)
            idle_j = min(d_j, idle.value_w(d_j / dt) * dt)
            return active_share * (d_j - idle_j) + idle_share * idle_j
        return f"no per-process attribution for {kind} sources"

    # -- reading -------------------------------------------------------------------------
    def _mark(self, snap) -> Mark:
        return Mark(snap.t, snap.wall, dict(self._att), dict(self._dev), self._usage(), dict(self._whole),
                    dict(self._sole), dict(self._intervals), dict(self._problems), self.cpu_problem)

    def _usage(self) -> Usage:
        return Usage(self._ours, self._busy, self._capacity, self._elapsed,
                     {n: (v[0], v[1]) for n, v in self._gpu_sm.items()})

    def total_j(self) -> float:
        """Joules billed to this kernel since the session started, every source (as far as seen)."""
        with self._lock:
            return sum(self._att.values())

    def usage(self) -> Usage:
        """Cumulative use since the session started (for the auto scope and `%carbon status`)."""
        with self._lock:
            return self._usage()

    def idle_w(self, name: str) -> tuple[float | None, str]:
        est = self._idle.get(name)
        if est is None or (est.known_w is None and est.min_w is None):
            return None, ""
        return est.value_w(est.min_w or 0.0), est.how()

    def points(self, t0: float, t1: float) -> list[Point] | None:
        """History points strictly inside (t0, t1), or None when the history no longer reaches t0."""
        with self._lock:
            if not self.history or self.history[0].t > t0:
                return None
            out = []
            for p in reversed(self.history):  # newest first: a short cell costs a few steps
                if p.t <= t0:
                    break
                if p.t < t1:
                    out.append(p)
            out.reverse()
            return out
