"""Intensity series and pure arithmetic on them: merging, means over spans, the greenest window,
re-pricing energy.

A series is piecewise constant (each Interval holds from start_s to end_s). Nothing here fetches
or prints; the service fetches and `commands.py` does the talking.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass

from ..units import J_PER_KWH
from .provider import Interval

RANK = {"forecast": 0, "historical": 1, "live": 1}  # an actual beats a forecast for the same period


class Series:
    """Intervals sorted by start; immutable and replaced whole, so readers need no lock."""

    __slots__ = ("items", "starts")

    def __init__(self, items=()):
        self.items = tuple(sorted(items, key=lambda i: i.start_s))
        self.starts = [i.start_s for i in self.items]

    def __len__(self) -> int:
        return len(self.items)

    def find(self, t: float) -> Interval | None:
        i = bisect.bisect_right(self.starts, t) - 1
        if i >= 0 and t < self.items[i].end_s:
            return self.items[i]
        return None

    def last_before(self, t: float, max_gap_s: float) -> Interval | None:
        i = bisect.bisect_right(self.starts, t) - 1
        if i >= 0 and t - self.items[i].end_s <= max_gap_s:
            return self.items[i]
        return None

    def merged(self, new, keep_after_s: float, max_points: int | None = None) -> tuple[Series, list[Interval]]:
        """(the series with `new` merged in, the intervals that changed); at most max_points, newest kept."""
        by_start = {i.start_s: i for i in self.items if i.end_s > keep_after_s}
        changed = {}
        for iv in new:
            old = by_start.get(iv.start_s)
            if old is not None and RANK.get(old.value.provenance.get("kind"), 0) > \
                    RANK.get(iv.value.provenance.get("kind"), 0):
                continue  # keep the actual; a forecast for the same period does not replace it
            if old != iv:
                by_start[iv.start_s] = changed[iv.start_s] = iv
        kept = Series(by_start.values())
        if max_points is not None and len(kept) > max_points:
            kept = Series(kept.items[-max_points:])
            changed = {k: v for k, v in changed.items() if k >= kept.items[0].start_s}
        return kept, list(changed.values())


def mean_over(series, t0: float, t1: float) -> float | None:
    """Time-weighted mean g/kWh over [t0, t1], or None where the series leaves a gap."""
    if t1 <= t0:
        iv = series.find(t0)
        return iv.value.value_g_per_kwh if iv else None
    items, starts = series.items, series.starts
    i = bisect.bisect_right(starts, t0) - 1
    if i < 0:
        return None
    t, acc = t0, 0.0
    while t < t1:
        if i >= len(items) or items[i].start_s > t or items[i].end_s <= t:
            return None
        nxt = min(items[i].end_s, t1)
        acc += items[i].value.value_g_per_kwh * (nxt - t)
        t = nxt
        i += 1
    return acc / (t1 - t0)


@dataclass(frozen=True)
class Window:
    start_s: float
    mean_g_per_kwh: float
    now_mean_g_per_kwh: float | None  # starting right away, if the series covers it
    covered_until_s: float  # where the series ends


def best_window(series, now_s: float, duration_s: float, within_s: float) -> Window | None:
    """The start in [now, now + within - duration] with the lowest mean intensity over the job.

    The mean as a function of the start is piecewise linear, bending only where the start or the
    end of the job crosses an interval boundary, so those starts (and now) are the candidates.
    """
    if not series.items or duration_s <= 0:
        return None
    covered_until = max(i.end_s for i in series.items)
    latest = min(now_s + within_s, covered_until) - duration_s
    bounds = {b for i in series.items for b in (i.start_s, i.end_s)}
    candidates = {now_s} | {b for b in bounds if now_s <= b <= latest} | {
        b - duration_s for b in bounds if now_s <= b - duration_s <= latest}
    best = None
    for start in sorted(candidates):
        m = mean_over(series, start, start + duration_s)
        if m is not None and (best is None or m < best[1] - 1e-9):
            best = (start, m)
    if best is None:
        return None
    return Window(best[0], best[1], mean_over(series, now_s, now_s + duration_s), covered_until)


@dataclass(frozen=True)
class Piece:
    """Energy used over a span, as recorded: one intensity segment of a cell."""

    start_s: float
    end_s: float
    energy_j: float
    emissions_g: float
    zone: str | None


def pieces_of(records) -> list[Piece]:
    """Each record's intensity segments (or the whole record, for records without them)."""
    out = []
    for r in records:
        segs = r.intensity_segments or [{"start_s": r.start_s, "end_s": r.end_s, "energy_j": r.energy_j,
                                         "emissions_g": r.emissions_g, "intensity": r.intensity or {}}]
        for s in segs:
            out.append(Piece(s["start_s"], s["end_s"], float(s["energy_j"]), float(s["emissions_g"]),
                             (s.get("intensity") or {}).get("zone")))
    return out


def price(pieces, feed_for, shift_s: float = 0.0, strict: bool = False):
    """(grams, values used) for the pieces' energy in the zones feed_for(piece) gives, shifted in time.

    Spans the feed's series covers use its mean over the span; others use `feed.at(midpoint)`
    (cached or static), unless strict, where any uncovered span makes the answer None.
    """
    grams, used = 0.0, []
    for p in pieces:
        feed = feed_for(p)
        a, b = p.start_s + shift_s, p.end_s + shift_s
        m = mean_over(feed.series, a, b) if feed.provider is not None else None
        if m is not None:
            iv = feed.series.find(a) or feed.series.find(max(a, b - 1e-6))
            used.append(iv.value.provenance if iv else {})
        elif strict:
            return None
        else:
            v = feed.at((a + b) / 2)
            m = v.value_g_per_kwh
            used.append(v.provenance)
        grams += p.energy_j / J_PER_KWH * m
    return grams, used
