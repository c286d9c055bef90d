"""Ray: one meter actor per alive node, and the tasks' own events.

- Meters: an actor per alive node (`num_cpus=0`, pinned with NodeAffinitySchedulingStrategy,
  soft=False), running carbon_magic's sampler there; one per host (two raylets of one machine
  share one meter: the others are killed). The kernel pulls them every flush (`drain`). New
  nodes get a meter when they appear; an actor that dies is a lost node (a labelled gap).
- Tasks: a task belongs to the cell during which the kernel created it (its creation time),
  and a task created by another task belongs to its parent's cell (`parent_task_id`), however
  late. Run intervals are the RUNNING → FINISHED/FAILED times on the node that ran it. Read with
  Ray's state API (`ray.util.state.list_tasks`, which needs the dashboard: `ray[default]`), else
  with the same task events straight from the GCS (what `ray.timeline()` reads).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import ray

from .monitor import CREATION
from .node import NodeMeter, failed_meter, host_id

log = logging.getLogger("carbon_magic.cluster")

# Ray's TaskStatus numbers (common.proto) and names (state API)
_RUNNING, _FINISHED, _FAILED = 8, 11, 12
_DRIVER_TASK = 3  # TaskType
_DONE_NAMES = ("FINISHED", "FAILED")
NODES_EVERY_S = 10.0
TASK_EVENT_DELAY_S = 1.0  # RAY_task_events_report_interval_ms: task events reach the GCS this late


class _Meter:
    """The actor body: a NodeMeter on the node the actor was pinned to."""

    def __init__(self, interval_s: float):
        self.node = host_id()
        try:
            self.meter = NodeMeter(interval_s)
            self.error = None
        except Exception as exc:  # noqa: BLE001 - the kernel is told through drain()
            self.meter, self.error = None, f"{type(exc).__name__}: {exc}"

    def host(self) -> str:
        return self.node

    def drain(self) -> dict:
        if self.meter is None:
            return failed_meter(self.node, f"sensors could not be read: {self.error}")
        return self.meter.drain()

    def close(self) -> None:
        if self.meter is not None:
            self.meter.close()


NodeMeterActor = ray.remote(num_cpus=0, max_restarts=0)(_Meter)


@dataclass
class TaskRow:
    task_id: str
    parent_id: str
    actor_id: str
    node_id: str
    created_s: float | None
    start_s: float | None
    end_s: float | None
    done: bool
    is_driver: bool = False


def rows_from_state_api(tasks) -> list[TaskRow]:
    """TaskRows from `ray.util.state.list_tasks(detail=True)` (dicts or TaskState objects)."""
    out = []
    for t in tasks:
        g = t.get if isinstance(t, dict) else (lambda k, d=None, t=t: getattr(t, k, d))
        ms = lambda v: None if v in (None, 0) else float(v) / 1000.0  # noqa: E731
        out.append(TaskRow(str(g("task_id") or ""), str(g("parent_task_id") or ""), str(g("actor_id") or ""),
                           str(g("node_id") or ""), ms(g("creation_time_ms")), ms(g("start_time_ms")),
                           ms(g("end_time_ms")), str(g("state") or "") in _DONE_NAMES,
                           str(g("type") or "") == "DRIVER_TASK"))
    return out


def rows_from_gcs(events) -> list[TaskRow]:
    """TaskRows from the GCS task events (`gcs_pb2.TaskEvents`), one per task (last attempt)."""
    by_task: dict[str, TaskRow] = {}
    for e in events:
        ts = {int(k): v / 1e9 for k, v in e.state_updates.state_ts_ns.items()}
        info = e.task_info
        row = TaskRow(e.task_id.hex(), info.parent_task_id.hex(), info.actor_id.hex(),
                      e.state_updates.node_id.hex() or info.node_id.hex(), min(ts.values()) if ts else None,
                      ts.get(_RUNNING), ts.get(_FINISHED) or ts.get(_FAILED),
                      _FINISHED in ts or _FAILED in ts, info.type == _DRIVER_TASK)
        by_task[row.task_id] = row
    return list(by_task.values())


def assign_cells(rows: list[TaskRow], driver_task_id: str, cell_at, known: dict) -> dict[str, str]:
    """task id -> cell key: tasks the kernel created during a cell belong to it; their children
    (and theirs) to the same cell. `known` carries earlier assignments (parents may have aged
    out of the events)."""
    out = dict(known)
    by_id = {r.task_id: r for r in rows}
    drivers = {driver_task_id} | {r.task_id for r in rows if r.is_driver}
    for r in rows:
        if r.task_id in out or r.is_driver:
            continue
        if r.parent_id in drivers and r.created_s is not None:
            key = cell_at(r.created_s)
            if key is not None:
                out[r.task_id] = key
    changed = True
    while changed:  # children, grandchildren, …
        changed = False
        for r in rows:
            if r.task_id not in out and r.parent_id in out:
                out[r.task_id] = out[r.parent_id]
                changed = True
    return {k: v for k, v in out.items() if k in by_id or k in known}


class RayEngine:
    name = "ray"

    def __init__(self, session_id: str, flush_s: float = 1.0, interval_s: float = 0.5, clock=time.monotonic):
        ctx = ray.get_runtime_context()
        self.job_id = ctx.get_job_id()
        # The driver's own task (the kernel): get_task_id() answers only in workers; Ray builds
        # it from the job id (TaskID.for_driver_task), and the DRIVER_TASK rows confirm it.
        self.driver_task_id = "f" * 40 + self.job_id
        self.flush_s = flush_s
        self.interval_s = interval_s
        self._clock = clock
        self.monitor = None
        self.meters: dict[str, tuple] = {}  # ray node id -> (actor, host name)
        self.hosts: dict[str, str] = {}  # ray node id -> host name (nodes sharing a meter too)
        self._nodes_at = -float("inf")
        self._cells: dict[str, str] = {}  # task id -> cell key
        self._reported_done: set = set()
        self._running_by_cell: dict[str, int] = {}
        self._done_since: dict[str, float] = {}
        self._tasks_at = -float("inf")
        self._use_state_api = True
        self.task_source = "not read yet"

    def describe(self) -> str:
        return f"Ray job {self.job_id}"

    def alive(self) -> bool:
        return ray.is_initialized()

    # -- meters ----------------------------------------------------------------------------
    def attach(self, monitor) -> None:
        self.monitor = monitor
        self._refresh_nodes()

    def _refresh_nodes(self) -> None:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy  # noqa: PLC0415

        self._nodes_at = self._clock()
        alive = {n["NodeID"] for n in ray.nodes() if n.get("Alive")}
        new = {}
        for node_id in alive - set(self.meters) - set(self.hosts):
            strategy = NodeAffinitySchedulingStrategy(node_id, soft=False)
            new[node_id] = NodeMeterActor.options(scheduling_strategy=strategy).remote(self.interval_s)
        if new:
            hosts = ray.get([a.host.remote() for a in new.values()], timeout=60)
            taken = {h for _, h in self.meters.values()}
            for (node_id, actor), host in zip(new.items(), hosts):
                self.hosts[node_id] = host
                if host in taken:  # another raylet of this machine already has its meter
                    ray.kill(actor)
                else:
                    taken.add(host)
                    self.meters[node_id] = (actor, host)
        for node_id in set(self.meters) - alive:
            _, host = self.meters.pop(node_id)
            self.monitor.post("lost", (host, node_id, f"Ray node {node_id[:8]} is dead"))

    def detach(self) -> None:
        for actor, _ in self.meters.values():
            try:
                ray.kill(actor)
            except Exception:
                log.debug("killing a meter actor failed", exc_info=True)
        self.meters.clear()

    # -- cell edges: nothing to tag; creation times are read back ----------------------------
    def cell_begin(self, key: str) -> None:
        pass

    def cell_end(self, key: str) -> None:
        pass

    # -- poller ----------------------------------------------------------------------------
    def poll(self, monitor) -> None:
        if not self.alive():
            return
        if self._clock() - self._nodes_at >= NODES_EVERY_S:
            self._refresh_nodes()
        refs = {actor.drain.remote(): (node_id, host) for node_id, (actor, host) in self.meters.items()}
        if refs:
            ready, _ = ray.wait(list(refs), num_returns=len(refs), timeout=max(1.0, 2 * self.flush_s))
            for ref in ready:
                node_id, host = refs[ref]
                try:
                    msg = ray.get(ref)
                except ray.exceptions.RayActorError as exc:
                    self.meters.pop(node_id, None)
                    monitor.post("lost", (host, node_id, f"meter actor on {host} died ({type(exc).__name__})"))
                    continue
                monitor.post("meter", {**msg, "source": node_id}, _size(msg))
        if any(c.pending for c in monitor.cells.values()):
            self._poll_tasks(monitor)

    def _task_rows(self) -> list[TaskRow]:
        if self._use_state_api:
            try:
                from ray.util.state import list_tasks  # noqa: PLC0415

                tasks = list_tasks(filters=[("job_id", "=", self.job_id)], detail=True, limit=100_000,
                                   raise_on_missing_output=False)
                self.task_source = "Ray state API"
                return rows_from_state_api(tasks)
            except Exception:
                self._use_state_api = False
                log.debug("Ray state API unavailable; reading task events from the GCS", exc_info=True)
        from ray._private.state import state  # noqa: PLC0415

        self.task_source = "Ray GCS task events"
        return rows_from_gcs(e for e in state._get_all_task_events() if e.job_id.hex() == self.job_id)

    def _poll_tasks(self, monitor) -> None:
        rows = self._task_rows()
        self._tasks_at = self._clock()
        meters = {a._actor_id.hex() for a, _ in self.meters.values()}
        rows = [r for r in rows if r.actor_id not in meters]
        self._cells = assign_cells(rows, self.driver_task_id, monitor.cell_at, self._cells)
        by_node: dict[str, dict] = {}
        running_by_cell: dict[str, int] = {}
        for r in rows:
            key = self._cells.get(r.task_id)
            if key is None:
                continue
            if not r.done:
                running_by_cell[key] = running_by_cell.get(key, 0) + 1
            if r.start_s is None or not r.node_id:
                continue
            host = self.hosts.get(r.node_id)
            if host is None:
                host = f"ray-{r.node_id[:8]}"
                monitor.post("lost", (host, None, "no carbon_magic meter on this Ray node"))
            part = by_node.setdefault(host, {"done_keys": [], "run_keys": []})
            if r.done and r.end_s is not None:
                if r.task_id not in self._reported_done:
                    self._reported_done.add(r.task_id)
                    part["done_keys"].append((key, CREATION, r.start_s, r.end_s))
            elif not r.done:
                part["run_keys"].append((key, CREATION, r.start_s))
        for host in set(by_node) | {h for _, h in self.meters.values()}:
            monitor.post("tasks", (host, "ray-tasks", by_node.get(host, {"done_keys": [], "run_keys": []})))
        self._running_by_cell = running_by_cell

    def settled(self, key: str) -> bool:
        """No task of the cell unfinished in the latest task events, for long enough that the
        events of its last tasks (reported about every second) are in."""
        if self._running_by_cell.get(key):
            self._done_since.pop(key, None)
            return False
        first = self._done_since.setdefault(key, self._clock())
        return self._clock() - first >= max(1.5 * self.flush_s, 2 * TASK_EVENT_DELAY_S)


def _size(msg) -> int:
    try:
        import msgpack  # noqa: PLC0415 - a dependency of ray

        return len(msgpack.packb(msg, use_bin_type=True))
    except Exception:  # noqa: BLE001
        return 0
