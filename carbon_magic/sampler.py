"""The one background thread per kernel that reads every source at a fixed interval.

Samples go to two bounded deques: recent samples at full resolution, and one sample per
`coarse_every_s` for the long tail, so memory is bounded however long the kernel lives while
any time window can still be integrated (cumulative energies make every subset of samples exact
for the total; only the time resolution of the intensity weighting gets coarser).
Cell edges call `snapshot()` from the main thread and get a reading of that instant.
The thread never prints: listener errors are counted and kept, not shown.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
import math
from dataclasses import dataclass, field

from .sources.base import SourceFailed

log = logging.getLogger("carbon_magic")


@dataclass(frozen=True)
class Marks:
    """Cumulative event counts of one source: comparing two snapshots tells what happened between."""

    failures: int = 0  # times the source started failing
    recoveries: int = 0  # times a failed source read again (and was re-baselined)
    resets: int = 0  # counter resets (see sources.rapl / sources.nvml)
    ambiguous: int = 0  # read gaps that may hide uncounted wraps, or backwards steps of unknown size


NO_MARKS = Marks()


@dataclass(frozen=True)
class Snapshot:
    t: float  # monotonic seconds
    wall: float  # unix seconds
    energy_j: dict  # source name -> cumulative J
    power_w: dict  # source name -> W or None
    failed: frozenset = frozenset()
    uncertainty_j: dict = field(default_factory=dict)  # source name -> cumulative J of estimated energy's uncertainty
    marks: dict = field(default_factory=dict)  # source name -> Marks

    def total_j(self) -> float:
        return sum(self.energy_j.values())


@dataclass
class Health:
    """What the sampler knows about one source's failures."""

    failures: int = 0
    recoveries: int = 0
    reason: str = ""  # the latest failure's reason
    retry_at: float = 0.0
    offset_j: float = 0.0  # added to the source's energy so a recovery does not bill the failed stretch
    offset_u_j: float = 0.0


@dataclass
class _Listener:
    fn: Callable[[Snapshot], object]
    period_s: float
    last_t: float = float("-inf")
    errors: int = 0


class Sampler:
    def __init__(self, sources, interval_s: float = 0.5, clock=time.monotonic, wall=time.time,
                 history_s: float = 3600.0, coarse_every_s: float = 60.0, coarse_history_s: float = 7 * 86400,
                 retry_s: float = 5.0):
        self.sources = list(sources)
        self.warnings: list[str] = []
        self.interval_s = self._safe_interval(interval_s)
        self.retry_s = retry_s  # a failed source is tried again this often, and re-baselined if it reads
        self._clock = clock
        self._wall = wall
        self._lock = threading.Lock()  # serialises source reads
        self._store_lock = threading.Lock()  # guards the deques (the thread appends, cells read)
        self.failed: dict[str, str] = {}  # name -> reason, for the sources failing now
        self.health: dict[str, Health] = {s.name: Health() for s in self.sources}
        self._last_good: dict[str, float] = {}
        self._last_u: dict[str, float] = {}
        self._last_marks: dict[str, tuple[int, int]] = {}
        self._last_power: dict[str, float | None] = {}
        self._power_now: dict[str, float | None] = {}
        self._prev_u: dict = {}
        self._prev_marks_key: dict | None = None
        self._prev_marks: dict = {}
        self.fine: deque[Snapshot] = deque(maxlen=max(10, int(history_s / self.interval_s)))
        self.coarse: deque[Snapshot] = deque(maxlen=max(10, int(coarse_history_s / coarse_every_s)))
        self._coarse_every_s = coarse_every_s
        self._listeners: list[_Listener] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.ticks = 0
        self.first = self.snapshot()

    # -- reading -------------------------------------------------------------------------
    def _safe_interval(self, interval_s: float) -> float:
        """The interval, shortened (with one warning) where a counter could wrap twice between reads."""
        gaps = [(g, s.name) for s in self.sources if (g := getattr(s, "safe_gap_s", None))]
        if not gaps:
            return interval_s
        gap, name = min(gaps)
        if interval_s <= gap / 2:
            return interval_s
        safe = max(0.01, gap / 2)
        self.warnings.append(
            f"carbon_magic: a sampler interval of {interval_s:g} s is too long for {name} (its counter can wrap "
            f"every {gap:.3g} s at full power); using {safe:.3g} s")
        return safe

    def snapshot(self) -> Snapshot:
        """Read every source now (synchronously). Thread-safe; never raises for a source's fault.

        Any exception from a source (a lost GPU, a garbage read, a binding returning the wrong
        type) marks that source failed with its reason; the other sources are read as usual. A
        failed source keeps its last good energy, is tried again every `retry_s`, and when it reads
        again it is re-baselined: the failed stretch is not billed to anyone.
        """
        with self._lock:
            now = self._clock()
            energy, power, uncertainty, marks = {}, {}, {}, {}
            for src in self.sources:
                name = src.name
                h = self.health.setdefault(name, Health())
                if name not in self.failed or now >= h.retry_at:
                    self._read_one(src, h, now)
                energy[name] = self._last_good.get(name, 0.0)
                uncertainty[name] = self._last_u.get(name, 0.0)
                power[name] = None if name in self.failed else self._power_now.get(name)
                resets, ambiguous = self._last_marks.get(name, (0, 0))
                marks[name] = (h.failures, h.recoveries, resets, ambiguous)
            # Mostly unchanged from one tick to the next: share the previous dicts (bounded memory).
            if uncertainty == self._prev_u:
                uncertainty = self._prev_u
            if marks != self._prev_marks_key:
                self._prev_marks_key = marks
                self._prev_marks = {k: Marks(*v) for k, v in marks.items()}
            self._prev_u = uncertainty
            return Snapshot(now, self._wall(), energy, power, frozenset(self.failed), uncertainty,
                            self._prev_marks)

    def _read_one(self, src, h: Health, now: float) -> None:
        name = src.name
        try:
            r = src.read(now)
            e, u = float(r.energy_j), float(r.uncertainty_j)
            if not (math.isfinite(e) and math.isfinite(u)):
                raise ValueError(f"non-finite energy {r.energy_j!r}")
            p = None if r.power_w is None else float(r.power_w)
            if p is not None and not (math.isfinite(p) and p >= 0):
                p = None
            counts = (int(r.resets), int(r.ambiguous))
        except Exception as exc:  # noqa: BLE001 - whatever a sensor does, the others and the record go on
            reason = str(exc) if isinstance(exc, SourceFailed) else f"{type(exc).__name__}: {exc}"
            if name not in self.failed:
                h.failures += 1
                log.warning("source %s failed: %s", name, reason)
            self.failed[name] = h.reason = " ".join(reason.split())[:300]  # one line, bounded
            h.retry_at = now + self.retry_s
            return
        if name in self.failed:  # recovered: continue from the last good value
            del self.failed[name]
            h.recoveries += 1
            h.offset_j = self._last_good.get(name, 0.0) - e
            h.offset_u_j = self._last_u.get(name, 0.0) - u
            log.warning("source %s reads again; re-baselined", name)
        self._last_good[name] = e + h.offset_j
        self._last_u[name] = u + h.offset_u_j
        self._last_marks[name] = counts
        self._power_now[name] = p
        if p is not None:
            self._last_power[name] = p

    def last_power_w(self, name: str) -> float | None:
        return self._last_power.get(name)

    def tick(self) -> Snapshot:
        """One sampler step: read, store, notify listeners. Called by the thread, or by tests."""
        snap = self.snapshot()
        with self._store_lock:
            self.fine.append(snap)
            if not self.coarse or snap.t - self.coarse[-1].t >= self._coarse_every_s:
                self.coarse.append(snap)
        self.ticks += 1
        for lst in list(self._listeners):
            if snap.t - lst.last_t >= lst.period_s:
                lst.last_t = snap.t
                try:
                    lst.fn(snap)
                except Exception:  # a listener must never stop sampling
                    lst.errors += 1
                    log.debug("listener %r failed", lst.fn, exc_info=True)
        return snap

    def window(self, t0: float, t1: float) -> list[Snapshot]:
        """Stored samples strictly inside (t0, t1): coarse ones before the fine history, then fine.

        Walks back from the newest sample, so a short cell costs a few steps however long the
        history is.
        """
        with self._store_lock:
            fine = []
            for s in reversed(self.fine):
                if s.t <= t0:
                    break
                if s.t < t1:
                    fine.append(s)
            fine.reverse()
            fine_start = self.fine[0].t if self.fine else float("inf")
            coarse = []
            if t0 < fine_start:
                for s in reversed(self.coarse):
                    if s.t <= t0:
                        break
                    if s.t < min(t1, fine_start):
                        coarse.append(s)
                coarse.reverse()
        return coarse + fine

    # -- listeners -----------------------------------------------------------------------
    def add_listener(self, fn, period_s: float = 1.0) -> None:
        self._listeners.append(_Listener(fn, period_s))

    def remove_listener(self, fn) -> None:
        self._listeners = [lst for lst in self._listeners if lst.fn is not fn]

    # -- thread --------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="carbon_magic-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.tick()
            except Exception:  # never let the thread die on one bad read
                log.debug("sampler tick failed", exc_info=True)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()
