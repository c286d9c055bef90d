"""The clocks a wait or a pause runs on: injected, so tests and demonstrations never really wait.

A clock has ``now()`` (unix seconds), ``wait(event, timeout_s)`` (True as soon as the event is set,
False when the time is up) and ``tick_s`` (how often a waiting loop looks up, in the clock's own
seconds). Waiting on an Event with short timeouts keeps Ctrl-C / the kernel's interrupt working.
"""
from __future__ import annotations

import time


class RealClock:
    tick_s = 0.5

    def now(self) -> float:
        return time.time()

    def wait(self, event, timeout_s: float) -> bool:
        return event.wait(max(0.0, timeout_s))


class ReplayClock:
    """Time from `start_s` running `speed` times faster than the wall: a recorded forecast replayed
    (speed 3600: one forecast hour per second), for workshops and demonstrations."""

    def __init__(self, start_s: float, speed: float = 3600.0, monotonic=time.monotonic):
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.start_s, self.speed = float(start_s), float(speed)
        self._monotonic = monotonic
        self._m0 = monotonic()
        self.tick_s = 0.25 * self.speed

    def now(self) -> float:
        return self.start_s + (self._monotonic() - self._m0) * self.speed

    def wait(self, event, timeout_s: float) -> bool:
        return event.wait(max(0.0, timeout_s) / self.speed)
