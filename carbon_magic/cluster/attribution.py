"""Which cell a node's energy belongs to: pure functions over readings and task intervals.

A node's meter gives cumulative joules per sensor at instants (a `Run` per meter; a new meter
on the same node, after its worker was lost, starts a new run). Between two readings the power
is taken as constant, so the energy of any stretch is read off the interpolated cumulative
curve. The tasks that ran on the node, each tagged with its cell, split it:

- over each stretch in which the set of running tasks does not change, the node's energy is
  shared among the cells in proportion to the number of their tasks running (two tasks of cell
  A and one of cell B on one node: A gets 2/3): `share`;
- a stretch in which no measured cell's task runs is cluster idle;
- a stretch the readings do not cover is `pending_s` when it lies after the node's last reading
  (not in yet, unless the node was lost) and `gap_s` when later readings exist (a meter was
  lost and another took over): the monitor labels both.

Everything here is stateless and clock-free, so tests give exact numbers.
"""
from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field


@dataclass
class Run:
    """Readings of one meter: times (node wall clock, increasing) and cumulative J per sensor."""

    meter: str
    names: list[str]
    t: list[float] = field(default_factory=list)
    e: list[list[float]] = field(default_factory=list)  # one row per time, in `names` order

    def add(self, rows) -> int:
        """Append rows `[t, e0, e1, …]` later than the last one; returns how many were kept."""
        n = 0
        width = len(self.names)
        for row in rows:
            t = float(row[0])
            if len(row) != width + 1 or not math.isfinite(t) or (self.t and t <= self.t[-1]):
                continue
            self.t.append(t)
            self.e.append([float(v) for v in row[1:]])
            n += 1
        return n

    @property
    def start(self) -> float:
        return self.t[0] if self.t else math.inf

    @property
    def end(self) -> float:
        return self.t[-1] if self.t else -math.inf

    def at(self, x: float) -> list[float]:
        """Cumulative J per sensor at `x` (within [start, end]), linear between readings."""
        t = self.t
        i = bisect.bisect_right(t, x) - 1
        if i < 0:
            return list(self.e[0])
        if i >= len(t) - 1:
            return list(self.e[-1])
        f = (x - t[i]) / (t[i + 1] - t[i])
        a, b = self.e[i], self.e[i + 1]
        return [a[k] + (b[k] - a[k]) * f for k in range(len(a))]

    def energy(self, a: float, b: float) -> tuple[list[float], float]:
        """(J per sensor, seconds covered) over the part of [a, b] these readings cover."""
        lo, hi = max(a, self.start), min(b, self.end)
        if hi <= lo:
            return [0.0] * len(self.names), 0.0
        e0, e1 = self.at(lo), self.at(hi)
        return [max(0.0, y - x) for x, y in zip(e0, e1)], hi - lo

    def power(self, i: int) -> list[float]:
        """Mean power (W) per sensor between readings i and i+1."""
        dt = self.t[i + 1] - self.t[i]
        return [(b - a) / dt for a, b in zip(self.e[i], self.e[i + 1])]

    def split_uncertainty(self, x: float) -> list[float]:
        """What splitting the readings at `x` may misplace, per sensor (J): zero at a reading, else
        half the spread of the powers around it times the interval (the power may have changed
        anywhere inside it, which a constant-power interpolation cannot see)."""
        t = self.t
        i = bisect.bisect_right(t, x) - 1
        if i < 0 or i >= len(t) - 1 or x == t[i]:
            return [0.0] * len(self.names)
        powers = [self.power(j) for j in range(max(0, i - 1), min(len(t) - 1, i + 2))]
        dt = t[i + 1] - t[i]
        return [0.5 * (max(p[k] for p in powers) - min(p[k] for p in powers)) * dt for k in range(len(self.names))]


@dataclass
class NodeSeries:
    """All the readings of one node, run after run."""

    node: str
    runs: list[Run] = field(default_factory=list)

    def add(self, meter: str, names: list[str], rows) -> int:
        last = self.runs[-1] if self.runs else None
        if last is None or last.meter != meter or last.names != list(names):
            last = Run(meter, list(names))
            self.runs.append(last)
        return last.add(rows)

    @property
    def start(self) -> float:
        return min((r.start for r in self.runs if r.t), default=math.inf)

    @property
    def horizon(self) -> float:
        """The latest instant the readings reach."""
        return max((r.end for r in self.runs if r.t), default=-math.inf)

    def energy(self, a: float, b: float) -> tuple[dict[str, float], float]:
        """(J by sensor name, seconds covered) over [a, b]."""
        out: dict[str, float] = {}
        covered = 0.0
        for r in self.runs:
            if r.end <= a or r.start >= b:
                continue
            values, c = r.energy(a, b)
            covered += c
            for name, v in zip(r.names, values):
                out[name] = out.get(name, 0.0) + v
        return out, covered

    def split_uncertainty(self, x: float) -> dict[str, float]:
        for r in self.runs:
            if r.start <= x <= r.end:
                return dict(zip(r.names, r.split_uncertainty(x)))
        return {}

    def total(self) -> dict[str, float]:
        """J by sensor over all readings."""
        out: dict[str, float] = {}
        for r in self.runs:
            if len(r.t) > 1:
                for name, a, b in zip(r.names, r.e[0], r.e[-1]):
                    out[name] = out.get(name, 0.0) + max(0.0, b - a)
        return out

    def prune_before(self, t: float) -> None:
        """Forget readings before `t` (one is kept before it, so `t` can still be interpolated)."""
        for r in self.runs:
            i = bisect.bisect_right(r.t, t) - 1
            if i > 0:
                del r.t[:i]
                del r.e[:i]
        self.runs = [r for r in self.runs if r.t and (r.end >= t or r is self.runs[-1])]


@dataclass
class Share:
    """One cell's part of one node."""

    energy_j: dict[str, float] = field(default_factory=dict)  # by sensor name
    uncertainty_j: dict[str, float] = field(default_factory=dict)  # interpolation at split points
    busy_s: float = 0.0  # time with at least one of the cell's tasks running
    gap_s: float = 0.0  # of busy_s, time without readings before the node's last one: a gap
    pending_s: float = 0.0  # of busy_s, time after the node's last reading: not in yet
    shared_s: float = 0.0  # of busy_s, time shared with other cells' tasks
    pieces: list[tuple[float, float, float]] = field(default_factory=list)  # (t0, t1, J) for pricing

    @property
    def total_j(self) -> float:
        return sum(self.energy_j.values())


def attribute(series: NodeSeries, intervals, until: float, keys=None) -> tuple[dict, float]:
    """Split `series` among cells by `intervals`, an iterable of (cell key, t0, t1 or None).

    A running interval (t1 None) counts up to `until`. Returns ({key: Share}, idle_j), idle_j
    being the covered energy within the intervals' overall span in which no interval ran.
    `keys`: only these cells' shares are computed in detail (the others still count for the
    split).
    """
    events: list[tuple[float, int, object]] = []
    for key, t0, t1 in intervals:
        t1 = until if t1 is None else t1
        if t1 <= t0:
            continue
        events.append((t0, 1, key))
        events.append((t1, -1, key))
    events.sort(key=lambda ev: (ev[0], ev[1]))
    shares: dict = {}
    idle_j = 0.0
    active: dict = {}
    n_active = 0
    prev = None
    edges: dict = {}  # split uncertainty by instant: each edge closes one stretch and opens the next
    for t, delta, key in events:
        if prev is not None and t > prev:
            if n_active:
                _split(series, prev, t, active, n_active, shares, keys, edges)
            else:
                e, _ = series.energy(prev, t)
                idle_j += sum(e.values())
        active[key] = active.get(key, 0) + delta
        if active[key] <= 0:
            del active[key]
        n_active += delta
        prev = t
    return shares, idle_j


def _split(series: NodeSeries, a: float, b: float, active: dict, n_active: int, shares: dict, keys,
           edges: dict) -> None:
    if keys is not None and not any(key in keys for key in active):
        return
    energy, covered = series.energy(a, b)
    horizon = series.horizon
    total = sum(energy.values())
    for t in (a, b):
        if t not in edges:
            edges[t] = series.split_uncertainty(t)
    ua, ub = edges[a], edges[b]
    for key, n in active.items():
        if keys is not None and key not in keys:
            continue
        f = n / n_active
        s = shares.get(key)
        if s is None:
            s = shares[key] = Share()
        for name, v in energy.items():
            s.energy_j[name] = s.energy_j.get(name, 0.0) + v * f
        for name in set(ua) | set(ub):
            s.uncertainty_j[name] = s.uncertainty_j.get(name, 0.0) + f * (ua.get(name, 0.0) + ub.get(name, 0.0))
        s.busy_s += b - a
        before = max(0.0, max(0.0, min(b, horizon) - a) - covered)
        s.gap_s += before
        s.pending_s += max(0.0, (b - a) - covered - before)
        if f < 1.0:
            s.shared_s += b - a
        if total > 0:
            s.pieces.append((a, b, total * f))
