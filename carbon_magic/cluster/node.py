"""What runs on a cluster node: its identity, the meter that samples its sensors, and the log of
the task intervals a worker ran. Engine-neutral: `dask.py` and `ray.py` host these in a worker
plugin and in an actor; the kernel side only ever sees the messages they produce (`drain()`).

Messages are plain msgpack-able dicts (they travel as Dask events and Ray return values):

- meter: ``{"node", "meter", "s": [[wall_s, e0_j, e1_j, …], …], "probe"?, "failed"?, "error"?}`` where
  ``s`` holds cumulative energies since the meter started, in the order of ``probe["sensors"]``;
  ``probe`` (sensors, skipped sensors with their fix, zone, interval) comes with the first message
  and again every PROBE_EVERY_S, so a kernel that missed it learns it soon.
- tasks: ``{"done": {tag: [[t0, t1], …]}, "run": {tag: [t0, …]}}``: intervals of finished tasks
  since the last drain and the start times of the tasks running now, by cell tag (``""``: the task
  carried no cell tag). Times are the node's wall clock (unix seconds).
"""
from __future__ import annotations

from typing import Any

import logging
import math
import os
import socket
import threading
import time
import uuid
from pathlib import Path

log = logging.getLogger("carbon_magic.cluster")

HOST_ID_ENV = "CARBON_MAGIC_HOST_ID"
BOOT_ID_PATH = "/proc/sys/kernel/random/boot_id"
PROBE_EVERY_S = 30.0
DEFAULT_METER_INTERVAL_S = 0.5
# Intervals of one tag that follow each other within this are sent as one (a worker thread
# running many short tasks back to back): the count of running tasks is kept exact otherwise.
CHAIN_GAP_S = 0.001
MAX_CLOSED = 100_000  # finished intervals kept between two drains (bounded memory)


def _clean(text: str, limit: int = 64) -> str:
    """A node name fit for `<node>/<sensor>`: printable, no slash, bounded."""
    out = "".join(ch if ch.isprintable() and ch not in "/\\" else "_" for ch in text.strip())
    return out[:limit] or "node"


def host_id(env=None, hostname: str | None = None, boot_id_path: str = BOOT_ID_PATH) -> str:
    """This machine's identity in a cluster: CARBON_MAGIC_HOST_ID if set, else host name plus the
    first 8 hex digits of the boot id (two containers with one host name on different machines,
    or one machine rebooted, are different nodes)."""
    env = os.environ if env is None else env
    override = (env.get(HOST_ID_ENV) or "").strip()
    if override:
        return _clean(override)
    name = hostname if hostname is not None else socket.gethostname()
    try:
        boot = Path(boot_id_path).read_text().strip().replace("-", "")[:8]
    except OSError:
        boot = ""
    return _clean(f"{name}-{boot}" if boot else (name or "host"))


class NodeMeter:
    """The sensors of one node, sampled by carbon_magic's own Sampler thread.

    Settings come from the node's environment (CARBON_MAGIC_POWERCAP_ROOT, CARBON_MAGIC_ZONE,
    CARBON_MAGIC_INTERVAL_S, …), as they would for a kernel running there. Never raises after
    construction: a source that fails is reported in `failed`, as in a kernel.
    """

    def __init__(self, interval_s: float | None = None, env=None, discovery=None, start_thread: bool = True,
                 clock=time.monotonic, wall=time.time):
        from ..config import Settings  # noqa: PLC0415 - light, but only needed where a meter runs
        from ..sampler import Sampler  # noqa: PLC0415
        from ..sources import discover  # noqa: PLC0415

        env = dict(os.environ if env is None else env)
        settings = Settings.from_env(env)
        if not (env.get("CARBON_MAGIC_INTERVAL_S") or "").strip():
            settings.interval_s = interval_s or DEFAULT_METER_INTERVAL_S
        self.node = host_id(env)
        self.meter_id = uuid.uuid4().hex[:8]
        self.zone = settings.zone
        self.warnings = list(settings.warnings)
        self.discovery = discovery or discover(settings.powercap_root, cpu_tdp_w=settings.cpu_tdp_w)
        self.sampler = Sampler(self.discovery.sources, settings.interval_s, clock=clock, wall=wall)
        self.warnings += self.sampler.warnings
        self._names = [s.name for s in self.sampler.sources]
        self._cursor_t = -math.inf
        self._probe_at = -math.inf
        self._clock, self._wall = clock, wall
        self._lock = threading.Lock()
        if start_thread:
            self.sampler.start()

    def probe(self) -> dict:
        """The probe table: sensors read, sensors skipped (with the fix), zone, interval."""
        hardware = [s for s in self.sampler.sources if s.method != "estimated"]
        return {
            "node": self.node, "meter": self.meter_id, "zone": self.zone, "interval_s": self.sampler.interval_s,
            "sensors": [{"name": s.name, "kind": s.kind, "method": s.method} for s in self.sampler.sources],
            "skipped": [k.line() for k in self.discovery.skipped],
            "unreadable": not hardware,  # only models: no hardware sensor could be read
            "warnings": list(self.warnings),
        }

    def drain(self) -> dict:
        """Samples since the last drain plus one taken now (the freshest reading), as a message."""
        with self._lock:
            now = self.sampler.snapshot()
            samples = self.sampler.window(self._cursor_t, now.t) + [now]
            self._cursor_t = now.t
            # A snapshot's wall time is read after its sensors, its monotonic time before them:
            # on a busy worker (the GIL) the first can be late by milliseconds, so the wall time
            # of each reading is its monotonic time plus the present offset between the clocks.
            offset = self._wall() - self._clock()
            msg: dict[str, Any] = {"node": self.node, "meter": self.meter_id,
                   "s": [[round(s.t + offset, 4), *(round(s.energy_j.get(n, 0.0), 4) for n in self._names)]
                         for s in samples]}
            if now.t - self._probe_at >= PROBE_EVERY_S:
                self._probe_at = now.t
                msg["probe"] = self.probe()
            if self.sampler.failed:
                msg["failed"] = dict(self.sampler.failed)
            return msg

    def close(self) -> None:
        self.sampler.stop()
        try:
            self.discovery.close()
        except Exception:
            log.debug("closing the node's sensors failed", exc_info=True)


def failed_meter(node: str, reason: str) -> dict:
    """The message of a node whose meter could not start: shown in the probe table, no samples."""
    return {"node": node, "meter": "none", "s": [], "error": " ".join(str(reason).split())[:300],
            "probe": {"node": node, "meter": "none", "sensors": [], "skipped": [], "unreadable": True,
                      "error": " ".join(str(reason).split())[:300]}}


def chain(intervals: list[tuple[float, float]], gap_s: float = CHAIN_GAP_S) -> list[list[float]]:
    """Intervals of one tag joined where one starts within `gap_s` of another's end, without
    ever joining two that overlap: the number of intervals covering any instant is unchanged
    (up to `gap_s` at the joints), and a thread's back-to-back tasks travel as one interval."""
    tracks: list[list[float]] = []
    for t0, t1 in sorted(intervals):
        best = None
        for tr in tracks:
            if tr[1] <= t0 + 1e-9 and t0 - tr[1] <= gap_s and (best is None or tr[1] > best[1]):
                best = tr
        if best is not None:
            best[1] = max(best[1], t1)
        else:
            tracks.append([t0, t1])
    return [[round(a, 4), round(b, 4)] for a, b in tracks]


class TaskLog:
    """Start and end times of the tasks one worker runs, by cell tag. Thread-safe, bounded."""

    def __init__(self, wall=time.time, max_closed: int = MAX_CLOSED):
        self._wall = wall
        self._open: dict = {}  # key -> (tag, t0)
        self._closed: dict[str, list[tuple[float, float]]] = {}
        self._count = 0
        self._max = max_closed
        self.dropped = 0  # finished intervals lost to the bound (reported, never silent)
        self._lock = threading.Lock()

    def start(self, key, tag: str, t: float | None = None) -> None:
        with self._lock:
            self._open[key] = (tag or "", self._wall() if t is None else t)

    def stop(self, key, t: float | None = None) -> None:
        with self._lock:
            item = self._open.pop(key, None)
            if item is None:
                return
            if self._count >= self._max:
                self.dropped += 1
                return
            tag, t0 = item
            self._closed.setdefault(tag, []).append((t0, self._wall() if t is None else t))
            self._count += 1

    @property
    def running(self) -> int:
        return len(self._open)

    def drain(self) -> dict:
        """``{"done": {tag: [[t0, t1], …]}, "run": {tag: [t0, …]}}`` (empty parts left out)."""
        with self._lock:
            closed, self._closed, self._count = self._closed, {}, 0
            running: dict[str, list[float]] = {}
            for tag, t0 in self._open.values():
                running.setdefault(tag, []).append(round(t0, 4))
            dropped, self.dropped = self.dropped, 0
        msg: dict = {}
        if closed:
            msg["done"] = {tag: chain(iv) for tag, iv in closed.items()}
        if running:
            msg["run"] = running
        if dropped:
            msg["dropped"] = dropped
        return msg
