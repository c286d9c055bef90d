"""How many other processes are using the CPU: a count only, never a name, a command or a user.

Each look reads every visible process's CPU time (procfs.ProcFS.own_cpu_by_process) and compares
it with the previous look; a process outside this kernel's tree that used at least BUSY_FRACTION
of one CPU in between is counted. Inside a container only the container's processes are visible;
the share of the machine's CPU time that others used (tracker.Usage) does not depend on that.
"""
from __future__ import annotations

import threading
import time

BUSY_FRACTION = 0.01
MIN_GAP_S = 0.5


class OtherConsumers:
    def __init__(self, proc, clock=time.monotonic):
        self.proc = proc
        self._clock = clock
        self._lock = threading.Lock()
        self._prev: dict | None = None
        self._prev_t = 0.0
        self.count: int | None = None  # at the latest look
        self.max_count = 0  # the most seen at one look this session
        self.looked_over_s = 0.0  # the span of the latest look

    def look(self, tree_pids) -> int | None:
        """Other busy processes since the previous look (None on the first look, the baseline)."""
        with self._lock:
            now = self._clock()
            if self._prev is not None and now - self._prev_t < MIN_GAP_S:
                return self.count
            cur = self.proc.own_cpu_by_process()
            prev, prev_t = self._prev, self._prev_t
            self._prev, self._prev_t = cur, now
            if prev is None:
                return None
            dt = now - prev_t
            threshold = BUSY_FRACTION * dt
            tree = frozenset(tree_pids)
            self.count = sum(1 for key, s in cur.items() if key[0] not in tree and s - prev.get(key, 0.0) >= threshold)
            self.max_count = max(self.max_count, self.count)
            self.looked_over_s = dt
            return self.count
