"""Dask (`distributed`): a WorkerPlugin on every worker, one meter per host, a span per cell.

On the workers (`CarbonWorkerPlugin`, which needs carbon_magic installed there, as any worker
plugin's package):
- every worker logs the intervals of the tasks it runs (the plugin's `transition` hook), tagged
  with the cell span found in the task's annotations;
- one worker per host runs the node's meter: elected with a per-host `distributed.Semaphore`
  of one lease, as distributed's own plugin installer does, so a node with many workers is
  counted once. The lease is held while the worker lives; if it dies, the scheduler frees the
  lease (after `distributed.scheduler.locks.lease-timeout`) and another worker of the host,
  which tries again every ELECT_EVERY_S, takes over (the time between is a labelled gap);
- every `flush_s` each worker sends what it has (nothing when it has nothing) as one Dask event
  on the session's topic; the scheduler forwards it to the kernel's client (`subscribe_topic`).

In the kernel (`DaskEngine`): each measured cell runs inside `distributed.span("carbon_magic:<cell>")`
and `dask.annotate(carbon_magic_cell=…)` (entered at the cell's start, left at its end), so every
task it submits carries the cell (see `_cell_tag` for why both).
The scheduler is asked (`run_on_scheduler`) only whether a cell's span is done, and whether a
silent meter's worker is still there; cell edges send nothing.
"""
from __future__ import annotations

import logging
import time

import dask
import distributed
from distributed.diagnostics.plugin import WorkerPlugin

from .monitor import SPAN_PREFIX
from .node import NodeMeter, TaskLog, failed_meter, host_id

log = logging.getLogger("carbon_magic.cluster")

RUNNING_STATES = frozenset(("executing", "long-running"))
ELECT_EVERY_S = 5.0


CELL_ANNOTATION = "carbon_magic_cell"
TERMINAL_STATES = ("memory", "erred", "released", "forgotten")


def _cell_tag(annotations) -> str:
    """The cell a task belongs to ("" if none: time-window attribution).

    The scheduler moves every task of a TaskGroup (tasks of one function, e.g. `busy-…`) onto
    the span that group was first seen with ("the TaskGroup collision issue", distributed's
    spans.py), so a task submitted in one cell can carry an earlier cell's span. The cell's own
    annotation, set beside the span, is kept per task: it comes first, the span second.
    """
    if not isinstance(annotations, dict):
        return ""
    tag = annotations.get(CELL_ANNOTATION)
    if isinstance(tag, str) and tag.startswith(SPAN_PREFIX):
        return tag
    for name in (annotations.get("span") or {}).get("name", ()) or ():
        if isinstance(name, str) and name.startswith(SPAN_PREFIX):
            return name
    return ""


class CarbonWorkerPlugin(WorkerPlugin):
    idempotent = False

    def __init__(self, topic: str, flush_s: float = 1.0, interval_s: float = 0.5):
        self.topic = topic
        self.name = topic
        self.flush_s = flush_s
        self.interval_s = interval_s

    # -- lifecycle (worker event loop) -----------------------------------------------------
    async def setup(self, worker) -> None:
        from tornado.ioloop import PeriodicCallback  # noqa: PLC0415

        self.worker = worker
        self.node = host_id()
        self.tasks = TaskLog()
        self.meter: NodeMeter | None = None
        self._sem = None
        self._elect_at = 0.0
        self._error_sent = False
        try:
            from distributed.semaphore import Semaphore  # noqa: PLC0415

            self._sem = await Semaphore(max_leases=1, name=f"{self.topic}/{self.node}",
                                        scheduler_rpc=worker.scheduler, loop=worker.loop)
            await self._elect()
        except Exception as exc:  # noqa: BLE001 - the worker goes on; the kernel is told
            self._send({"meter": failed_meter(self.node, f"no meter elected ({type(exc).__name__}: {exc})")})
        self._pc = PeriodicCallback(self._flush, self.flush_s * 1000)
        self._pc.start()
        self._flush()

    async def _elect(self) -> None:
        self._elect_at = time.monotonic()
        if self.meter is not None or self._sem is None:
            return
        if await self._sem.acquire(timeout=0):
            try:
                self.meter = NodeMeter(self.interval_s)
            except Exception as exc:  # noqa: BLE001 - keep the lease: another worker would fail alike
                if not self._error_sent:
                    self._error_sent = True
                    self._send({"meter": failed_meter(self.node, f"sensors could not be read: {exc}")})

    async def teardown(self, worker) -> None:
        pc = getattr(self, "_pc", None)
        if pc is not None:
            pc.stop()
        self._flush(bye=True)
        if self.meter is not None:
            self.meter.close()
            self.meter = None
        if self._sem is not None:
            try:
                if self._sem._leases:
                    await self._sem.release()
                await self._sem.close()
            except Exception:
                log.debug("semaphore release failed", exc_info=True)

    # -- tasks -----------------------------------------------------------------------------
    def transition(self, key, start, finish, **kwargs) -> None:
        if finish in RUNNING_STATES and start not in RUNNING_STATES:
            ts = self.worker.state.tasks.get(key)
            self.tasks.start(key, _cell_tag(getattr(ts, "annotations", None)))
        elif start in RUNNING_STATES and finish not in RUNNING_STATES:
            self.tasks.stop(key)

    # -- sending ---------------------------------------------------------------------------
    def _flush(self, bye: bool = False) -> None:
        try:
            msg: dict = {}
            tasks = self.tasks.drain()
            if tasks or bye:
                msg["tasks"] = tasks
            if self.meter is not None:
                msg["meter"] = self.meter.drain()
            elif self._sem is not None and not bye and time.monotonic() - self._elect_at >= ELECT_EVERY_S:
                self.worker.loop.add_callback(self._elect)
            if bye:
                msg["bye"] = True
            if msg:
                self._send(msg)
        except Exception:
            log.debug("carbon_magic flush failed", exc_info=True)

    def _send(self, msg: dict) -> None:
        msg["node"] = self.node
        msg["worker"] = self.worker.address
        self.worker.log_event(self.topic, msg)


class DaskEngine:
    name = "dask"

    def __init__(self, client, session_id: str, flush_s: float = 1.0, interval_s: float = 0.5,
                 clock=time.monotonic):
        self.client = client
        self.topic = f"carbon_magic-{session_id[:8]}"
        self.flush_s = flush_s
        self.interval_s = interval_s
        self._clock = clock
        self.monitor = None
        self._open: dict = {}  # cell key -> the span context manager
        self._span_ids: dict[str, str] = {}
        self._done_since: dict[str, float] = {}
        self._heard: dict[str, tuple[str, float]] = {}  # worker -> (node, last heard)
        self._checked_at: dict[str, float] = {}
        self._replayed_at = -float("inf")

    def describe(self) -> str:
        return f"Dask {getattr(self.client, 'scheduler', None) and self.client.scheduler.address}"

    def alive(self) -> bool:
        return getattr(self.client, "status", "closed") == "running"

    # -- attach / detach -------------------------------------------------------------------
    def attach(self, monitor) -> None:
        self.monitor = monitor
        self.client.subscribe_topic(self.topic, self._on_event)
        plugin = CarbonWorkerPlugin(self.topic, self.flush_s, self.interval_s)
        self.client.register_plugin(plugin, name=self.topic)

    def detach(self) -> None:
        for key in list(self._open):
            self.cell_end(key)
        if not self.alive():
            return
        try:
            self.client.unregister_worker_plugin(self.topic)
        except Exception:
            log.debug("unregistering the worker plugin failed", exc_info=True)
        try:
            self.client.unsubscribe_topic(self.topic)
        except Exception:
            log.debug("unsubscribing failed", exc_info=True)

    # -- messages (the client's event loop thread) -----------------------------------------
    def _on_event(self, event) -> None:
        _, msg = event
        if not isinstance(msg, dict) or self.monitor is None:
            return
        nbytes = _size(msg)
        node, worker = str(msg.get("node")), str(msg.get("worker"))
        self._heard[worker] = (node, self._clock())
        meter = msg.get("meter")
        if isinstance(meter, dict):
            self.monitor.post("meter", {**meter, "source": worker}, nbytes)
            nbytes = 0
        if isinstance(msg.get("tasks"), dict):
            self.monitor.post("tasks", (node, worker, msg["tasks"]), nbytes)
            nbytes = 0
        if msg.get("bye"):
            self._heard.pop(worker, None)
            self.monitor.post("lost", (node, worker, f"worker {worker} closed"), nbytes)

    # -- cell edges (main thread) ----------------------------------------------------------
    def cell_begin(self, key: str) -> None:
        tag = SPAN_PREFIX + key
        span = distributed.span(tag)
        self._span_ids[key] = span.__enter__()
        ann = dask.annotate(**{CELL_ANNOTATION: tag})
        try:
            ann.__enter__()
        except BaseException:
            span.__exit__(None, None, None)
            raise
        self._open[key] = (span, ann)

    def cell_end(self, key: str) -> None:
        cms = self._open.pop(key, None)
        if cms is not None:
            span, ann = cms
            try:
                ann.__exit__(None, None, None)
            finally:
                span.__exit__(None, None, None)

    # -- poller ----------------------------------------------------------------------------
    def poll(self, monitor) -> None:
        """Ask the scheduler about workers that went silent while they held a meter or tasks, and
        for the probes of meters whose first message came before the kernel subscribed."""
        now = self._clock()
        if monitor.awaiting_probe() and now - self._replayed_at >= 2 * self.flush_s and self.alive():
            self._replayed_at = now
            self._replay_probes(monitor)
        silent_after = max(3.0, 3 * self.flush_s)
        suspects = []
        for node in list(monitor.nodes.values()):
            for src in [node.meter_source, *node.running]:
                if src is None:
                    continue
                heard = self._heard.get(src, (node.name, -float("inf")))[1]
                if now - heard >= silent_after and now - self._checked_at.get(src, -float("inf")) >= silent_after:
                    suspects.append((node.name, src))
        if not suspects or not self.alive():
            return
        addrs = sorted({src for _, src in suspects})
        for a in addrs:
            self._checked_at[a] = now
        present = set(self.client.run_on_scheduler(_scheduler_side()["present"], addrs))
        for node, src in suspects:
            if src not in present:
                monitor.post("lost", (node, src, f"worker {src} left the cluster"))

    def _replay_probes(self, monitor) -> None:
        """The scheduler keeps recent events: take the probes from them (only the probes, so no
        reading or task interval is counted twice)."""
        for _, msg in self.client.get_events(self.topic):
            meter = msg.get("meter") if isinstance(msg, dict) else None
            if isinstance(meter, dict) and isinstance(meter.get("probe"), dict):
                monitor.post("meter", {"node": meter.get("node"), "meter": meter.get("meter"),
                                       "probe": meter["probe"], "source": msg.get("worker")})

    def settled(self, key: str) -> bool:
        """True once the scheduler has said, for 1.5 flush intervals (so the intervals of the last
        tasks have arrived), that no task of the cell is waiting or running: its span is done (or
        never had tasks) and no task carrying its annotation is in a non-terminal state."""
        if key not in self._span_ids or not self.alive():
            return True
        done = self.client.run_on_scheduler(_scheduler_side()["cell_done"], SPAN_PREFIX + key,
                                            self._span_ids[key], TERMINAL_STATES)
        if not done:
            self._done_since.pop(key, None)
            return False
        first = self._done_since.setdefault(key, self._clock())
        if self._clock() - first >= 1.5 * self.flush_s:
            self._span_ids.pop(key, None)
            self._done_since.pop(key, None)
            return True
        return False


def _size(msg) -> int:
    """Bytes of `msg` as msgpack (how it travels)."""
    try:
        import msgpack  # noqa: PLC0415 - a dependency of distributed

        return len(msgpack.packb(msg, use_bin_type=True))
    except Exception:  # noqa: BLE001
        return 0


def _scheduler_side() -> dict:
    """Functions run on the scheduler. Nested, so that cloudpickle sends them by value: the
    scheduler need not have carbon_magic installed."""
    def present(addrs, dask_scheduler=None):
        return [a for a in addrs if a in dask_scheduler.workers]

    def cell_done(tag, span_id, terminal, dask_scheduler=None):
        ext = dask_scheduler.extensions.get("spans")
        span = ext.spans.get(span_id) if ext is not None else None
        if span is not None and not span.done:
            return False
        for ts in dask_scheduler.tasks.values():
            ann = ts.annotations
            if ann and ann.get("carbon_magic_cell") == tag and ts.state not in terminal:
                return False
        return True

    return {"present": present, "cell_done": cell_done}
