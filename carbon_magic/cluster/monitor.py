"""The kernel side of cluster measuring, whatever the engine: nodes, their readings, the task
intervals of each cell, and the records that follow them.

Threads: an engine delivers messages from its own thread (Dask's client loop) with `post`; the
monitor's poller thread asks the engine for what it must pull (Ray), takes in the posted
messages and revises the records of the cells still pending; cell edges come from the main
thread. One lock guards the state; nothing under it waits on the network.

A cell's record is first written when the cell ends, with what has arrived by then (its
`cluster.pending` true). The poller revises it (`CarbonSession.revise`: a new revision in the
ledger, the badge updates) while its tasks run or their readings are not yet in, at most every
`revise_every_s`, and once more when it settles. Cell edges never wait on the cluster.
"""
from __future__ import annotations

import bisect
import logging
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from .. import uncertainty as U  # noqa: N812 - the uncertainty model's constants, as in session.py
from ..co2 import add_segment, finish_segments, intensity_pieces
from ..record import CellRecord, Component, iso_utc
from ..units import J_PER_KWH
from .attribution import NodeSeries, attribute

log = logging.getLogger("carbon_magic.cluster")

SPAN_PREFIX = "carbon_magic:"
SPAN = "span"  # attributed by the cell's Dask span
TIME_WINDOW = "time-window"  # no cell tag (lost to graph optimisation): the cell running when it started
CREATION = "task-creation"  # Ray: the cell during which the task (or its parent) was created
UNPROBED_ROWS = 10_000  # readings held per meter until its probe arrives
END_WAIT_S = 0.002  # a cell's end waits at most this for the poller (then the poller does the work)
INGEST_AT_END = 200  # messages a cell's end takes in at most (the poller takes the rest)
LOCAL_NOTE = "this kernel's machine: its energy is in the record's own components, not counted twice"


class ClosedIntervals:
    """The finished task intervals of one node, (cell key, how, t0, t1): by cell, and sorted by
    start, so that a cell's intervals and those overlapping them are found without a scan."""

    def __init__(self):
        self.starts: list[float] = []
        self.items: list[tuple] = []
        self.by_cell: dict[str, list[tuple]] = {}
        self.longest_s = 0.0

    def add(self, key: str, how: str, t0: float, t1: float) -> None:
        item = (key, how, t0, t1)
        i = bisect.bisect_right(self.starts, t0)
        self.starts.insert(i, t0)
        self.items.insert(i, item)
        self.by_cell.setdefault(key, []).append(item)
        self.longest_s = max(self.longest_s, t1 - t0)

    def of(self, key: str) -> list[tuple]:
        return self.by_cell.get(key, [])

    def overlapping(self, lo: float, hi: float) -> list[tuple]:
        i = bisect.bisect_left(self.starts, lo - self.longest_s)
        j = bisect.bisect_left(self.starts, hi)
        return [it for it in self.items[i:j] if it[3] > lo]

    def drop(self, keys: set, before: float) -> None:
        """Forget the intervals of `keys` that ended before `before`."""
        kept = [it for it in self.items if it[0] not in keys or it[3] >= before]
        if len(kept) != len(self.items):
            self.items = kept
            self.starts = [it[2] for it in kept]
            self.by_cell = {}
            for it in kept:
                self.by_cell.setdefault(it[0], []).append(it)

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self):
        return iter(self.items)


@dataclass
class NodeState:
    name: str
    series: NodeSeries
    probe: dict = field(default_factory=dict)
    sensors: dict = field(default_factory=dict)  # name -> (kind, method)
    failed: dict = field(default_factory=dict)  # sensor -> reason, as last reported
    meter_source: str | None = None  # engine handle of the meter (worker address, actor)
    last_heard: float = -math.inf  # kernel monotonic time of the last meter message
    lost: str | None = None  # why its readings stopped (the node or its meter's worker went away)
    lost_at: float | None = None  # node wall time from which nothing is known
    closed: ClosedIntervals = field(default_factory=ClosedIntervals)
    running: dict = field(default_factory=dict)  # source -> [(key, how, t0)], as last reported
    zone_error: str | None = None
    unprobed: dict = field(default_factory=dict)  # meter -> readings that came before its probe


@dataclass
class CellState:
    key: str
    begin: float
    end: float | None = None
    record: CellRecord | None = None
    base: CellRecord | None = None  # the record without its cluster part (a copy, kept unchanged)
    revision: int = 0
    pending: bool = True
    fingerprint: tuple | None = None
    written_at: float = -math.inf
    ended_mono: float = math.inf
    node_j: dict = field(default_factory=dict)  # node -> device J attributed (for cluster idle)
    gen: int = -1  # the monitor's message count when this cell was last composed
    quiet: bool = False  # at that time: nothing of it running or missing


class ClusterMonitor:
    def __init__(self, session, engine, flush_s: float = 1.0, revise_every_s: float = 2.0,
                 clock=time.monotonic, wall=time.time, start_thread: bool = True, max_cells: int = 10_000):
        self.session = session
        self.engine = engine
        self.flush_s = flush_s
        self.revise_every_s = revise_every_s
        self._clock, self._wall = clock, wall
        self._lock = threading.RLock()
        self.inbox: deque = deque()
        self.nodes: dict[str, NodeState] = {}
        self.cells: dict[str, CellState] = {}
        self._max_cells = max_cells
        # Up to this many nodes a cell's first record already holds what has arrived (about 30 µs
        # per node); beyond, the cell ends without waiting and the poller's first revision does.
        self.compose_at_end_max_nodes = 64
        self._n = 0
        self._gen = 0  # messages taken in so far
        self.started_mono = clock()
        # The kernel's own machine as a node (a LocalCluster): its energy is already in the
        # record's own components, so it is not billed again (work that outlives the cell there
        # is not counted: the kernel's sampler measures the machine only within cells).
        from .node import host_id  # noqa: PLC0415

        self.local_node = host_id()
        self.bytes_in = 0
        self.messages_in = 0
        self.notes: list[str] = []  # one-line notices for %carbon status (bounded)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.poll_errors = 0
        self.update_listeners: list = []  # fn() after each poller round (views, e.g. the sidebar)
        if start_thread:
            self.start()

    # -- engine -> monitor (any thread) ----------------------------------------------------
    def post(self, kind: str, payload, nbytes: int = 0) -> None:
        """Queue a message for the poller: ("meter", msg) or ("tasks", (node, source, msg)) or
        ("lost", (node, source, reason))."""
        self.inbox.append((kind, payload))
        self.bytes_in += nbytes
        self.messages_in += 1

    def note(self, text: str) -> None:
        with self._lock:
            if text not in self.notes:
                self.notes.append(text)
                del self.notes[:-20]

    # -- cell edges (main thread) ----------------------------------------------------------
    def cell_begin(self, window) -> str:
        # No lock: the main thread alone adds cells (one dict store), and waiting here for the
        # poller would delay the cell.
        self._n += 1
        key = f"{self.session.session_id[:8]}-{self._n}"
        self.cells[key] = CellState(key, window.start.wall)
        if len(self.cells) > self._max_cells and self._lock.acquire(blocking=False):
            try:
                self._trim_cells()
            finally:
                self._lock.release()
        window.extras["cluster_key"] = key
        self.engine.cell_begin(key)
        return key

    def cell_end(self, window, record: CellRecord) -> None:
        key = window.extras.get("cluster_key")
        if key is None:
            return
        try:
            self.engine.cell_end(key)
        finally:
            cell = self.cells.get(key)
            if cell is not None:
                self._first_version(cell, record)

    def _first_version(self, cell: CellState, record: CellRecord) -> None:
        """The record as the cell ends: with what has arrived, if that is quick to get (few
        nodes, and the poller not holding the state); else pending, for the poller to fill in."""
        cell.base = record.copy()
        quick = (len(self.nodes) <= self.compose_at_end_max_nodes
                 and self._lock.acquire(timeout=END_WAIT_S))
        if quick:
            try:
                self._ingest(limit=INGEST_AT_END)
                revised, _ = self._compose(cell)
                record.__dict__.update(revised.__dict__)  # the first version: written by the session
            finally:
                self._lock.release()
        else:
            record.revision = 0
            record.cluster = {"engine": self.engine.name, "pending": True, "attribution": None,
                              "task_intervals": 0, "running": 0, "nodes": []}
        cell.fingerprint = _fingerprint(record)
        cell.written_at = self._clock()
        # last: from here on the poller revises this cell
        cell.end = self._wall()
        cell.ended_mono = self._clock()
        cell.record = record

    def cell_at(self, t: float) -> str | None:
        """The measured cell that was running at wall time `t` (kernel clock), else None."""
        with self._lock:
            for cell in reversed(list(self.cells.values())):
                if cell.begin <= t and (cell.end is None or t <= cell.end):
                    return cell.key
                if cell.end is not None and cell.end < t:
                    return None
        return None

    def cell_window(self, key: str) -> tuple[float, float | None] | None:
        cell = self.cells.get(key)
        return None if cell is None else (cell.begin, cell.end)

    # -- poller ----------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="carbon_magic-cluster", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(max(0.05, self.flush_s / 2)):
            self.poll()

    def poll(self) -> None:
        """One round: the engine's pulls and checks, then the pending cells. Never raises."""
        try:
            self.engine.poll(self)
        except Exception:
            self.poll_errors += 1
            log.debug("cluster engine poll failed", exc_info=True)
        try:
            self.update()
        except Exception:
            self.poll_errors += 1
            log.warning("cluster update failed", exc_info=True)
        for fn in list(self.update_listeners):
            try:
                fn()
            except Exception:
                log.debug("cluster update listener failed", exc_info=True)

    def update(self) -> None:
        """Take in posted messages and revise the pending cells' records. The lock is taken
        for one cell at a time, so a cell's end never waits for a whole round."""
        revisions = []
        while self.inbox:
            with self._lock:
                self._ingest(limit=INGEST_AT_END)
        for cell in list(self.cells.values()):
            if not cell.pending or cell.record is None:
                continue
            # The engine is asked outside the lock (it may ask the scheduler over the network).
            unchanged = cell.gen == self._gen
            if unchanged and not cell.quiet:
                continue  # nothing arrived since it was last composed, and something of it runs
            engine_says = self._engine_settled(cell) if unchanged else None
            if unchanged and not engine_says:
                continue
            with self._lock:
                cell.gen = self._gen
                revised, quiet = self._compose(cell)
                cell.quiet = quiet
            settled = quiet and (engine_says if engine_says is not None else self._engine_settled(cell))
            assert revised.cluster is not None  # _compose always sets it
            revised.cluster["pending"] = not settled
            with self._lock:
                now = self._clock()
                fp = _fingerprint(revised)
                if settled or (fp != cell.fingerprint and now - cell.written_at >= self.revise_every_s):
                    cell.pending = not settled
                    if fp == cell.fingerprint and not settled:
                        continue
                    cell.revision += 1
                    revised.revision = cell.revision
                    cell.fingerprint = _fingerprint(revised)
                    cell.written_at = now
                    revisions.append((cell.record, revised))
        with self._lock:
            self._prune()
        for record, revised in revisions:  # outside the lock: the ledger and the comm may block
            self.session.revise(record, revised)

    def stop(self, finish: bool = True) -> None:
        """Stop the poller; `finish`: write a last revision of the pending cells first (their
        readings stop here, which their records say)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if finish:
            self.poll()
            with self._lock:
                pending = [c for c in self.cells.values() if c.pending and c.record is not None]
                finals = []
                for cell in pending:
                    revised, _ = self._compose(cell, detached=True)
                    cell.pending = False
                    cell.revision += 1
                    revised.revision = cell.revision
                    finals.append((cell.record, revised))
            for record, revised in finals:
                self.session.revise(record, revised)

    # -- taking messages in ----------------------------------------------------------------
    def _ingest(self, limit: int | None = None) -> None:
        n = 0
        while self.inbox and (limit is None or n < limit):
            n += 1
            self._gen += 1
            kind, payload = self.inbox.popleft()
            try:
                if kind == "meter":
                    self._take_meter(payload)
                elif kind == "tasks":
                    self._take_tasks(*payload)
                elif kind == "lost":
                    self._take_lost(*payload)
            except Exception:
                log.debug("cluster message dropped: %r", payload, exc_info=True)

    def node(self, name: str) -> NodeState:
        n = self.nodes.get(name)
        if n is None:
            n = self.nodes[name] = NodeState(name, NodeSeries(name))
        return n

    def _take_meter(self, msg: dict, source: str | None = None) -> None:
        node = self.node(str(msg["node"]))
        probe = msg.get("probe")
        if isinstance(probe, dict):
            node.probe = probe
            node.sensors = {s["name"]: (s.get("kind", "other"), s.get("method", "estimated"))
                            for s in probe.get("sensors", []) if isinstance(s, dict) and "name" in s}
            self._check_zone(node)
        src = msg.get("source") or source
        if src is not None:
            node.meter_source = src
        node.last_heard = self._clock()
        node.failed = dict(msg.get("failed") or {})
        meter = str(msg.get("meter"))
        rows = list(msg.get("s") or [])
        if node.probe.get("meter") != meter:
            if rows:  # readings of a meter whose probe (the sensor names) has not arrived yet: kept
                held = node.unprobed.setdefault(meter, [])
                held += rows
                del held[:-UNPROBED_ROWS]
            return
        rows = node.unprobed.pop(meter, []) + rows
        node.unprobed.clear()
        if rows:
            names = [s["name"] for s in node.probe.get("sensors", [])]
            if node.lost:
                self.note(f"{node.name}: readings again after a gap ({node.lost})")
            node.lost = None
            node.lost_at = None
            node.series.add(meter, names, rows)

    def _check_zone(self, node: NodeState) -> None:
        zone = node.probe.get("zone")
        node.zone_error = None
        if zone:
            try:
                self.session.intensity_for(zone).prefetch(self._wall())
            except ValueError as exc:
                node.zone_error = f"zone {zone!r} not usable ({exc}); priced at the kernel's zone"
            except Exception:
                log.debug("prefetch for %s failed", zone, exc_info=True)

    def _take_tasks(self, node_name: str, source: str, msg: dict) -> None:
        """`msg`: {"done": {tag: [[t0, t1], …]}, "run": {tag: [t0, …]}} (Dask: tags from spans) or
        {"done_keys": [(key, how, t0, t1)], "run_keys": [(key, how, t0)]} (keys already resolved)."""
        node = self.node(node_name)
        for tag, ivs in (msg.get("done") or {}).items():
            for t0, t1 in ivs:
                key, how = self._resolve(tag, t0)
                if key is not None:
                    node.closed.add(key, how, float(t0), float(t1))
        for key, how, t0, t1 in msg.get("done_keys") or []:
            node.closed.add(key, how, float(t0), float(t1))
        running = []
        for tag, starts in (msg.get("run") or {}).items():
            for t0 in starts:
                key, how = self._resolve(tag, t0)
                if key is not None:
                    running.append((key, how, float(t0)))
        running += [tuple(item) for item in msg.get("run_keys") or []]
        if running:
            node.running[source] = running
        else:
            node.running.pop(source, None)

    def _resolve(self, tag: str, t0: float) -> tuple[str | None, str]:
        if tag and tag.startswith(SPAN_PREFIX):
            key = tag[len(SPAN_PREFIX):]
            return (key if key in self.cells else None), SPAN
        return self.cell_at(float(t0)), TIME_WINDOW

    def _take_lost(self, node_name: str, source: str | None, reason: str) -> None:
        """A meter (or a worker that reported tasks) went away: its readings stop here, and
        its running tasks end at the moment the loss was seen."""
        node = self.node(node_name)
        now = self._wall()
        for key, how, t0 in node.running.pop(source, []) if source is not None else []:
            node.closed.add(key, how, t0, max(t0, now))
        if source is None or source == node.meter_source:
            node.lost = reason
            node.lost_at = node.series.horizon
            node.meter_source = None
            self.note(f"{node.name}: {reason}")

    # -- composing a cell's record ---------------------------------------------------------
    @staticmethod
    def _intervals(node: NodeState, lo: float, hi: float):
        """(cell key, how), t0, t1 of the node's intervals that overlap [lo, hi] (running: t1 None)."""
        for key, how, t0, t1 in node.closed.overlapping(lo, hi):
            yield (key, how), t0, t1
        for items in node.running.values():
            for key, how, t0 in items:
                if t0 < hi:
                    yield (key, how), t0, None

    def _compose(self, cell: CellState, detached: bool = False) -> tuple[CellRecord, bool]:
        """The cell's record with its cluster part as known now, and whether nothing of it is
        known to be running or missing (then the engine is asked whether it is settled)."""
        assert cell.base is not None  # set when the cell ended, before it is composed
        rec = cell.base.copy()
        pue = rec.pue
        comps: list[Component] = []
        nodes_out = []
        segments: list[dict] = []
        cluster_j = 0.0
        cluster_g = 0.0
        time_window_j = 0.0
        tasks = running = 0
        quiet = True
        hows = set()
        for node in self.nodes.values():
            mine = node.closed.of(cell.key)
            mine_running = [iv for items in node.running.values() for iv in items if iv[0] == cell.key]
            if not mine and not mine_running:
                continue
            tasks += len(mine) + len(mine_running)
            running += len(mine_running)
            hows |= {iv[1] for iv in mine} | {iv[1] for iv in mine_running}
            if node.name == self.local_node:
                nodes_out.append({"node": node.name, "energy_j": 0.0, "emissions_g": 0.0, "status": "local",
                                  "note": LOCAL_NOTE})
                continue
            horizon = node.series.horizon
            until = max(horizon, max((iv[2] for iv in mine_running), default=-math.inf))
            if node.lost and mine_running:
                until = max(until, self._wall())
            lo = min([iv[2] for iv in mine] + [iv[2] for iv in mine_running])
            hi = max([iv[3] for iv in mine] + ([until] if mine_running else []))
            relevant = list(self._intervals(node, lo, hi))
            shares, _ = attribute(node.series, relevant, until,
                                  keys={(cell.key, SPAN), (cell.key, TIME_WINDOW), (cell.key, CREATION)})
            node_comps, node_out, node_segments = self._node_part(cell, node, shares, pue, detached)
            comps += node_comps
            nodes_out.append(node_out)
            segments += node_segments
            cluster_j += node_out["energy_j"]
            cluster_g += node_out["emissions_g"]
            time_window_j += node_out.get("time_window_j", 0.0)
            cell.node_j[node.name] = node_out["energy_j"]
            if mine_running or node_out["status"] == "pending":
                quiet = False
        pending = not detached
        rec.components = rec.components + comps
        local_j = rec.energy_j
        rec.energy_j = local_j + cluster_j * pue
        rec.emissions_g = rec.emissions_g + cluster_g
        rec.intensity_segments = rec.intensity_segments + segments
        if rec.energy_j > 0:
            rec.intensity_g_per_kwh = rec.emissions_g / (rec.energy_j / J_PER_KWH)
        if rec.intensity_segments:
            main = max(rec.intensity_segments, key=lambda s: s.get("energy_j", 0.0))
            rec.intensity = dict(main.get("intensity") or rec.intensity)
        attribution = "+".join(h for h in (SPAN, CREATION, TIME_WINDOW) if h in hows) or None
        rec.cluster = {"engine": self.engine.name, "pending": pending, "attribution": attribution,
                       "task_intervals": tasks, "running": running, "nodes": nodes_out}
        if time_window_j:
            rec.cluster["time_window_j"] = time_window_j
        if detached and not quiet:
            rec.cluster["detached"] = True
        rec.revision = cell.revision
        return rec, quiet

    def _node_part(self, cell: CellState, node: NodeState, shares: dict, pue: float, detached: bool):
        energy: dict[str, float] = {}
        unc: dict[str, float] = {}
        busy = gap = pend = tw_j = 0.0
        pieces = []
        for (_key, how), s in shares.items():
            for name, v in s.energy_j.items():
                energy[name] = energy.get(name, 0.0) + v
            for name, v in s.uncertainty_j.items():
                unc[name] = unc.get(name, 0.0) + v
            busy += s.busy_s
            pieces += s.pieces
            if how == TIME_WINDOW:
                tw_j += s.total_j
            gap += s.gap_s
            pend += s.pending_s
        lost = node.lost is not None or detached
        if lost:
            gap, pend = gap + pend, 0.0
        comps = []
        total_j = sum(energy.values())
        last_w = self._last_power_w(node)
        for name in sorted(set(energy) | set(node.sensors), key=lambda n: list(node.sensors).index(n)
                           if n in node.sensors else 1e9):
            kind, method = node.sensors.get(name, ("other", "estimated"))
            e = energy.get(name, 0.0)
            terms = []
            if method == "estimated":
                terms.append(("model", U.MODEL_FRACTION * e))
            if unc.get(name):
                terms.append(("interpolation", unc[name]))
            failed = gap > 0 or name in node.failed
            if gap > 0:
                terms.append(("node-lost", last_w.get(name, 0.0) * gap))
            kept = [(c, u) for c, u in terms if u > 0]
            comps.append(Component(f"{node.name}/{name}", kind, method, e, "failed" if failed else "ok",
                                   uncertainty_j=sum(u for _, u in kept),
                                   uncertainty_cause="+".join(c for c, _ in kept), node=node.name))
        at = self._intensity_at(node)
        emissions_g, segments = _price(pieces, pue, at, node.name)
        status = "gap" if gap > 0 else ("pending" if pend > 0 else "ok")
        out = {"node": node.name, "energy_j": total_j, "emissions_g": emissions_g, "busy_s": busy,
               "zone": node.probe.get("zone") if not node.zone_error else None, "status": status}
        if gap > 0:
            since = iso_utc(node.lost_at) if node.lost_at and math.isfinite(node.lost_at) else "the cell's start"
            out["gap_s"] = gap
            out["gap"] = (f"no readings from {node.name} for {gap:.3g} s of this cell's tasks (after {since}: "
                          f"{node.lost or 'readings missing'}); that energy is not counted")
        if tw_j:
            out["time_window_j"] = tw_j
        if node.probe.get("unreadable"):
            out["sensors"] = "unreadable: estimates only"
        return comps, out, segments

    def _last_power_w(self, node: NodeState) -> dict[str, float]:
        for run in reversed(node.series.runs):
            if len(run.t) > 1:
                return dict(zip(run.names, run.power(len(run.t) - 2)))
        return {}

    def _intensity_at(self, node: NodeState):
        zone = node.probe.get("zone")
        if zone and not node.zone_error:
            try:
                return self.session.intensity_for(zone).at
            except ValueError:
                pass
        return self.session.intensity.at

    def _engine_settled(self, cell: CellState) -> bool:
        if self._clock() - cell.ended_mono < 2 * self.flush_s:
            return False  # intervals of tasks that ended with the cell may still be on their way
        for node in self.nodes.values():
            if node.lost is None and node.meter_source is not None and node.last_heard < cell.ended_mono:
                return False  # a live meter has not reported since the cell ended
        try:
            return bool(self.engine.settled(cell.key))
        except Exception:
            log.debug("engine settle check failed", exc_info=True)
            return False

    # -- bookkeeping -----------------------------------------------------------------------
    def _trim_cells(self) -> None:
        while len(self.cells) > self._max_cells:
            oldest = next(iter(self.cells))
            if self.cells[oldest].pending and self.cells[oldest].record is not None:
                break
            del self.cells[oldest]

    def _prune(self) -> None:
        """Forget intervals and readings no pending cell can need (bounded memory)."""
        pending = [c for c in self.cells.values() if c.pending]
        keep_from = min((c.begin for c in pending), default=self._wall()) - 60.0
        settled = {c.key for c in self.cells.values() if not c.pending}
        for node in self.nodes.values():
            if len(node.closed) > 1000:
                node.closed.drop(settled, keep_from)
            node.series.prune_before(keep_from - 3600.0)

    # -- views -----------------------------------------------------------------------------
    def idle_j(self) -> dict[str, float]:
        """Device J of each node not attributed to any measured cell (cluster idle), so far."""
        with self._lock:
            out = {}
            for node in self.nodes.values():
                if node.name == self.local_node:
                    continue
                total = sum(node.series.total().values())
                cells = sum(c.node_j.get(node.name, 0.0) for c in self.cells.values())
                out[node.name] = max(0.0, total - cells)
            return out

    def awaiting_probe(self) -> bool:
        """Some meter's readings came without its probe (a message lost before subscribing)."""
        return any(n.unprobed for n in self.nodes.values())

    def probe_tables(self) -> list[dict]:
        with self._lock:
            out = []
            for node in self.nodes.values():
                out.append({"node": node.name, "probe": dict(node.probe), "failed": dict(node.failed),
                            "local": node.name == self.local_node,
                            "lost": node.lost, "zone_error": node.zone_error,
                            "heard_s_ago": (self._clock() - node.last_heard) if math.isfinite(node.last_heard)
                            else None})
            return out


def _price(pieces, pue: float, intensity_at, node: str) -> tuple[float, list[dict]]:
    """Grams CO₂e of the node's attributed energy (× PUE), priced at the node's intensity over
    time, and the intensity segments (merged by value) for the record."""
    grams = 0.0
    segs: list[dict] = []
    for t0, t1, e in pieces:
        e = e * pue
        span = t1 - t0
        for p0, p1, iv in intensity_pieces(t0, t1, intensity_at):
            part = e * ((p1 - p0) / span if span > 0 else 1.0)
            g = part / J_PER_KWH * iv.value_g_per_kwh
            grams += g
            add_segment(segs, p0, p1, part, g, iv)
    return grams, finish_segments(segs, node=node)


def _fingerprint(rec: CellRecord) -> tuple:
    c = rec.cluster or {}
    return (tuple((x.name, round(x.energy_j, 3), x.status) for x in rec.components if x.node),
            bool(c.get("pending")), c.get("running"), c.get("task_intervals"),
            tuple((n.get("node"), n.get("status")) for n in c.get("nodes", [])))
