"""Cost of cluster measuring (issue 13): added latency per cell, network bytes per node, growth.

    python bench/bench_cluster.py           # full run (about 2 minutes on 2 cores; starts real Dask)
    python bench/bench_cluster.py --quick   # smoke run for the test suite (a few seconds)

1. Added latency per cell with 2, 8 and 32 simulated nodes: a real IPython shell with the
   extension loaded runs `%%carbon\\npass` cells, alternately with the cluster hook attached and
   off (paired). The hook is the real one (DaskEngine: a real `distributed.span` and
   `dask.annotate` per cell, the real ClusterMonitor); only the Dask client is a stand-in
   answering locally, and a feeder thread delivers, every flush (1 s), what each node's worker
   would: its real NodeMeter's readings (a fake RAPL tree per node) and task intervals of the
   running cell on every node (the worst case: every node busy with every cell). The poller's
   CPU (revising records in the background) is shown beside it.
2. Bytes per node per minute: the real NodeMeter and TaskLog messages, msgpack-encoded as Dask
   events travel, over 60 simulated seconds at the defaults (readings every 0.5 s, flush 1 s),
   for an idle node, a node running many short tasks, and one running long tasks.
3. Real Dask (full run only): a scheduler and two worker processes on this machine; `%%carbon`
   cells with the cluster attached and off, and the bytes the kernel really received.
4. Growth: per-cell cost and bytes against the node count, and on paper for 1,000 nodes.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    ensure_repo_on_path,
    fmt_ms,
    fmt_pct,
    fmt_us,
    header,
    median,
    table,
    thread_cpu_clock,
    verdict,
)

ensure_repo_on_path()

TARGET_CELL_S = 5e-3  # at 32 nodes
FLUSH_S = 1.0
INTERVAL_S = 0.5


class StandInClient:
    """What DaskEngine asks of a `distributed.Client`, answered locally (the network boundary)."""

    status = "running"

    class scheduler:  # noqa: N801 - attribute access as on a Client
        address = "tcp://stand-in:8786"

    def __init__(self):
        self.calls = 0

    def subscribe_topic(self, topic, handler):
        self.handler = handler

    def register_plugin(self, plugin, name=None):
        pass

    def unregister_worker_plugin(self, name):
        pass

    def unsubscribe_topic(self, topic):
        pass

    def run_on_scheduler(self, fn, *args):
        self.calls += 1
        return list(args[0]) if isinstance(args[0], list) else True

    def get_events(self, topic):
        return []


def fake_tree(root: Path, watts: float):
    from fakes import FakePowercap  # noqa: PLC0415

    pc = FakePowercap(root)
    pc.add_zone("intel-rapl:0", "package-0", 1_000_000)
    pc.add_zone("intel-rapl:0:0", "dram", 2_000_000, parent="intel-rapl:0")
    return pc


class Feeder:
    """N simulated nodes: each a real NodeMeter (own fake tree) and a TaskLog, flushed every
    FLUSH_S into the engine as the worker plugin's events, tasks tagged with the running cell."""

    def __init__(self, tmp: Path, n: int, engine, monitor):
        from carbon_magic.cluster.node import NodeMeter, TaskLog  # noqa: PLC0415

        self.nodes = []
        for i in range(n):
            pc = fake_tree(tmp / f"node-{i}", 40.0)
            env = {"CARBON_MAGIC_HOST_ID": f"sim-{i:04d}", "CARBON_MAGIC_POWERCAP_ROOT": str(pc.root),
                   "CUDA_VISIBLE_DEVICES": ""}
            self.nodes.append((pc, NodeMeter(INTERVAL_S, env=env), TaskLog()))
        self.engine, self.monitor = engine, monitor
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop.wait(FLUSH_S):
            now = time.time()
            for i, (pc, meter, _) in enumerate(self.nodes):
                pc.advance("intel-rapl:0", 40.0 * FLUSH_S)
                self.engine._on_event((now, {"node": meter.node, "worker": f"tcp://sim:{i}", "meter": meter.drain()}))

    def cell_started(self, key: str) -> None:
        """Every node reports a task of this cell running (as a flush during a long cell would)."""
        now = time.time()
        for i, (_, meter, _) in enumerate(self.nodes):
            self.engine._on_event((now, {"node": meter.node, "worker": f"tcp://sim:{i}",
                                         "tasks": {"run": {f"carbon_magic:{key}": [now]}}}))

    def cell_ended(self, key: str, t0: float) -> None:
        """…and then its end (the cell's tasks ended with it)."""
        now = time.time()
        for i, (_, meter, _) in enumerate(self.nodes):
            self.engine._on_event((now, {"node": meter.node, "worker": f"tcp://sim:{i}",
                                         "tasks": {"done": {f"carbon_magic:{key}": [[t0, now]]}}}))

    def close(self):
        self.stop.set()
        self.thread.join()
        for _, meter, _ in self.nodes:
            meter.close()


def new_shell():
    from IPython.core.interactiveshell import InteractiveShell  # noqa: PLC0415
    from traitlets.config import Config  # noqa: PLC0415

    c = Config()
    c.HistoryManager.hist_file = ":memory:"
    return InteractiveShell.instance(config=c)


def cell_latency(tmp: Path, node_counts, n_cells: int, warmup: int, deferred=()):
    """(rows, per-node cost fit): the cluster hook attached vs off, paired, per node count."""
    from carbon_magic.cluster.dask import DaskEngine  # noqa: PLC0415
    from carbon_magic.cluster.hook import hook_of  # noqa: PLC0415
    from carbon_magic.cluster.monitor import ClusterMonitor  # noqa: PLC0415
    from carbon_magic.extension import session_for  # noqa: PLC0415

    os.environ["CARBON_MAGIC_POWERCAP_ROOT"] = str(fake_tree(tmp / "kernel", 10.0).root)
    os.environ["CARBON_MAGIC_DATA_DIR"] = str(tmp / "data")
    os.environ["CARBON_MAGIC_PROVIDER"] = "static"
    os.environ["CARBON_MAGIC_HOST_ID"] = "kernel"
    ip = new_shell()
    ip.run_line_magic("load_ext", "carbon_magic")
    session = session_for(ip)
    hook = hook_of(session)
    rows, costs = [], {}
    sink = io.StringIO()
    for n in [*node_counts, *(-k for k in deferred)]:
        defer, n = n < 0, abs(n)
        engine = DaskEngine(StandInClient(), session.session_id, FLUSH_S, INTERVAL_S)
        monitor = ClusterMonitor(session, engine, FLUSH_S, start_thread=False)
        if defer:  # as beyond compose_at_end_max_nodes: the first version is left to the poller
            monitor.compose_at_end_max_nodes = 0
        engine.attach(monitor)
        monitor.start()
        feeder = Feeder(tmp / f"n{n}", n, engine, monitor)
        time.sleep(2 * FLUSH_S)  # every node's probe and first readings are in
        cpu = thread_cpu_clock(monitor._thread)
        on, off, hook_s = [], [], []
        begin, end = hook.begin, hook.end

        def timed_begin(w, _b=begin, hook_s=hook_s, feeder=feeder):
            t = time.perf_counter()
            _b(w)
            dt = time.perf_counter() - t
            if hook.monitor is not None:
                hook_s.append(dt)
                feeder.cell_started(w.extras["cluster_key"])  # the worst case: every node busy with it

        def timed_end(w, r, _e=end, hook_s=hook_s, feeder=feeder):
            t = time.perf_counter()
            _e(w, r)
            dt = time.perf_counter() - t
            if hook.monitor is not None:
                hook_s[-1] += dt
                feeder.cell_ended(w.extras["cluster_key"], w.start.wall)

        hook.begin, hook.end = timed_begin, timed_end
        cpu0, t0 = cpu(), time.monotonic()
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            for i in range(warmup + n_cells):
                for attached, out in ((True, on), (False, off)):
                    hook.monitor, hook.mode = (monitor, "auto") if attached else (None, "off")
                    t = time.perf_counter()
                    ip.run_cell("%%carbon\npass", store_history=True)
                    if i >= warmup:
                        out.append(time.perf_counter() - t)
                    time.sleep(0.1)  # a few cells per second: readings and intervals keep arriving
                sink.seek(0)
                sink.truncate()
        poller_cpu = (cpu() - cpu0) / (time.monotonic() - t0)
        hook.begin, hook.end = begin, end
        hook.monitor, hook.mode = None, "off"
        pending = sum(1 for c in monitor.cells.values() if c.pending)
        feeder.close()
        monitor.stop(finish=False)
        paired = sorted(a - b for a, b in zip(on, off))
        added = median(on) - median(off)
        hook_cost = median(hook_s[warmup:] if len(hook_s) > warmup else hook_s)
        if not defer:
            costs[n] = hook_cost
        rows.append([f"{n}, first version left to the poller" if defer else n, len(on),
                     fmt_us(median(off)), fmt_us(median(on)), fmt_us(added), fmt_us(median(paired)),
                     fmt_us(paired[int(0.9 * (len(paired) - 1))]), fmt_us(hook_cost), fmt_pct(poller_cpu),
                     pending, verdict(added, TARGET_CELL_S) if n >= 32 else "-"])
    ip.run_line_magic("unload_ext", "carbon_magic")
    return rows, costs


def bytes_per_node(seconds: float = 60.0):
    """Simulated time: a NodeMeter ticking every INTERVAL_S and drained every FLUSH_S, a TaskLog."""
    import msgpack  # noqa: PLC0415
    from fakes import FakeClock  # noqa: PLC0415

    from carbon_magic.cluster.node import NodeMeter, TaskLog  # noqa: PLC0415

    scenarios = {
        "idle node (readings only)": None,
        "busy: 2 threads × 20 tasks/s of 50 ms, back to back": (2, 0.05),
        "busy: 2 threads × 1 task/s of 1 s": (2, 1.0),
        "busy: 16 threads × 100 tasks/s of 10 ms (one cell)": (16, 0.01),
    }
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        pc = fake_tree(Path(tmp) / "t", 40.0)
        for name, load in scenarios.items():
            clock = FakeClock()
            meter = NodeMeter(INTERVAL_S, env={"CARBON_MAGIC_HOST_ID": "gpu-node-0017",
                                               "CARBON_MAGIC_POWERCAP_ROOT": str(pc.root),
                                               "CUDA_VISIBLE_DEVICES": ""},
                              start_thread=False, clock=clock, wall=clock.wall)
            log = TaskLog(wall=clock.wall)
            total, msgs, k = 0, 0, 0
            steps = int(round(seconds / INTERVAL_S))
            for step in range(1, steps + 1):
                if load:
                    threads, dur = load
                    t_start = clock.wall()
                    per_thread = max(1, int(round(INTERVAL_S / dur)))
                    for _th in range(threads):
                        for j in range(per_thread):
                            k += 1
                            a = t_start + j * dur
                            log.start(k, "carbon_magic:3f2a1b4c-17", a)
                            log.stop(k, a + dur)
                clock.advance(INTERVAL_S)
                pc.advance("intel-rapl:0", 40.0 * INTERVAL_S)
                meter.sampler.tick()
                if step % int(round(FLUSH_S / INTERVAL_S)) == 0:
                    msg = {"node": meter.node, "worker": "tcp://10.1.2.3:40123", "meter": meter.drain()}
                    tasks = log.drain()
                    if tasks:
                        msg["tasks"] = tasks
                    total += len(msgpack.packb(msg, use_bin_type=True))
                    msgs += 1
            meter.close()
            per_min = total / seconds * 60
            rows.append([name, msgs, f"{total / msgs:,.0f} B", f"{per_min / 1e3:,.1f} kB",
                         f"{per_min * 1000 / 1e6:,.1f} MB"])
    return rows


def real_dask(tmp: Path, n_cells: int):
    """A scheduler and 2 worker processes: per-cell latency attached vs off, real bytes received."""
    import distributed  # noqa: PLC0415
    from cluster_helpers import DaskProcesses, PowerTrees  # noqa: PLC0415

    from carbon_magic.cluster.hook import hook_of  # noqa: PLC0415
    from carbon_magic.extension import session_for  # noqa: PLC0415

    trees = PowerTrees(tmp / "trees", {"node-a": (40.0, 4.0), "node-b": (80.0, 8.0)})
    procs = DaskProcesses(tmp, trees, {"node-a": {"CARBON_MAGIC_INTERVAL_S": ""},
                                       "node-b": {"CARBON_MAGIC_INTERVAL_S": ""}})
    client = distributed.Client(scheduler_file=str(procs.file), set_as_default=True)
    try:
        client.wait_for_workers(2, timeout=60)
        ip = new_shell()
        ip.run_line_magic("load_ext", "carbon_magic")
        ip.user_ns["client"] = client
        hook = hook_of(session_for(ip))
        sink = io.StringIO()
        on, off = [], []
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            ip.run_line_magic("carbon", "cluster on dask")
            monitor = hook.monitor
            time.sleep(3)
            t0, b0 = time.monotonic(), monitor.bytes_in
            for i in range(n_cells + 5):
                for attached, out in ((True, on), (False, off)):
                    hook.monitor, hook.mode = (monitor, "auto") if attached else (None, "off")
                    t = time.perf_counter()
                    ip.run_cell("%%carbon\npass", store_history=True)
                    if i >= 5:
                        out.append(time.perf_counter() - t)
                    time.sleep(0.05)
                sink.seek(0)
                sink.truncate()
            hook.monitor, hook.mode = monitor, "auto"
            ip.run_cell("%%carbon\nclient.submit(sum, [1, 2]).result()")
            time.sleep(max(0.0, 20 - (time.monotonic() - t0)))
            minutes = (time.monotonic() - t0) / 60
            per_node = (monitor.bytes_in - b0) / len(monitor.nodes) / minutes
            ip.run_line_magic("unload_ext", "carbon_magic")
        paired = sorted(a - b for a, b in zip(on, off))
        return [[2, len(on), fmt_us(median(off)), fmt_us(median(on)), fmt_us(median(on) - median(off)),
                 fmt_us(median(paired)), f"{per_node / 1e3:,.1f} kB"]]
    finally:
        client.close()
        procs.stop()
        trees.stop()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a smoke run: few cells, no real Dask")
    args = p.parse_args(argv)
    print(header("carbon_magic cluster measuring cost"))
    counts = (2, 8) if args.quick else (2, 8, 32)
    n_cells, warmup = (10, 3) if args.quick else (100, 10)
    with tempfile.TemporaryDirectory() as tmp:
        rows, costs = cell_latency(Path(tmp), counts, n_cells, warmup, deferred=() if args.quick else (32,))
    print(table(["simulated nodes", "cells", "%%carbon, cluster off (median)", "attached (median)",
                 "added (diff. of medians)", "added (median of pairs)", "added (p90 of pairs)",
                 "cluster hook itself (median)", "poller CPU", "cells still pending", "≤ 5 ms at 32 nodes"],
                rows, "Added latency per cell (every node busy with every cell)"))
    print(table(["node", "messages / min", "mean message", "per node per minute", "1,000 nodes per minute"],
                bytes_per_node(20.0 if args.quick else 60.0),
                "Network bytes per node (readings every 0.5 s, flush 1 s; msgpack, as Dask events)"))
    if not args.quick:
        with tempfile.TemporaryDirectory() as tmp:
            real = real_dask(Path(tmp), 60)
        print(table(["nodes", "cells", "cluster off (median)", "attached (median)", "added (diff. of medians)",
                     "added (median of pairs)", "received per node per minute"], real,
                    "Real Dask: scheduler and 2 worker processes on this machine"))
    ns = sorted(costs)
    if len(ns) >= 2:
        slope = (costs[ns[-1]] - costs[ns[0]]) / (ns[-1] - ns[0])
        base = costs[ns[0]] - slope * ns[0]
        cap = 64  # ClusterMonitor.compose_at_end_max_nodes
        print(table(["nodes", "cluster hook per cell (measured, or projected from the 2 and largest counts)"],
                    [[n, fmt_us(costs[n])] for n in ns]
                    + [[cap, f"{fmt_ms(base + slope * cap)} (projected: {fmt_us(base)} + {fmt_us(slope)} per node)"],
                       [1000, f"beyond {cap} nodes the first version is left to the poller: the cell's cost is "
                              "that of the row 'first version left to the poller'"]],
                    "Growth with the node count"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
