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
from dataclasses import dataclass, field

from .sources.base import SourceFailed

log = logging.getLogger("carbon_magic")


@dataclass(frozen=True)
class Snapshot:
    t: float  # monotonic seconds
    wall: float  # unix seconds
    energy_j: dict  # source name -> cumulative J
    power_w: dict  # source name -> W or None
    failed: frozenset = frozenset()

    def total_j(self) -> float:
        return sum(self.energy_j.values())


@dataclass
class _Listener:
    fn: object
    period_s: float
    last_t: float = float("-inf")
    errors: int = 0


class Sampler:
    def __init__(self, sources, interval_s: float = 0.5, clock=time.monotonic, wall=time.time,
                 history_s: float = 3600.0, coarse_every_s: float = 60.0, coarse_history_s: float = 7 * 86400):
        self.sources = list(sources)
        self.interval_s = interval_s
        self._clock = clock
        self._wall = wall
        self._lock = threading.Lock()  # serialises source reads
        self._store_lock = threading.Lock()  # guards the deques (the thread appends, cells read)
        self.failed: dict[str, str] = {}  # name -> reason
        self._last_good: dict[str, float] = {}
        self._last_power: dict[str, float | None] = {}
        self.fine: deque[Snapshot] = deque(maxlen=max(10, int(history_s / interval_s)))
        self.coarse: deque[Snapshot] = deque(maxlen=max(10, int(coarse_history_s / coarse_every_s)))
        self._coarse_every_s = coarse_every_s
        self._listeners: list[_Listener] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.ticks = 0
        self.first = self.snapshot()

    # -- reading -------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        """Read every source now (synchronously). Thread-safe."""
        with self._lock:
            now = self._clock()
            energy, power = {}, {}
            for src in self.sources:
                if src.name in self.failed:
                    energy[src.name] = self._last_good.get(src.name, 0.0)
                    power[src.name] = None
                    continue
                try:
                    r = src.read(now)
                except (SourceFailed, OSError, ValueError) as exc:
                    self.failed[src.name] = str(exc)
                    log.warning("source %s failed: %s", src.name, exc)
                    energy[src.name] = self._last_good.get(src.name, 0.0)
                    power[src.name] = None
                    continue
                energy[src.name] = self._last_good[src.name] = r.energy_j
                power[src.name] = r.power_w
                if r.power_w is not None:
                    self._last_power[src.name] = r.power_w
            return Snapshot(now, self._wall(), energy, power, frozenset(self.failed))

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
                except Exception:  # noqa: BLE001 - a listener must never stop sampling
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
            except Exception:  # noqa: BLE001 - never let the thread die on one bad read
                log.debug("sampler tick failed", exc_info=True)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()
