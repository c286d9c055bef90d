"""Real engines on this machine for the cluster tests: fake powercap trees whose counters a
separate process advances at known power (the hardware boundary), and a Dask scheduler with
worker processes that each see their own tree and their own CARBON_MAGIC_HOST_ID.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from fakes import FakePowercap

REPO = Path(__file__).resolve().parent.parent

# The writer: each zone's energy_uj = base + P × (monotonic now − start), rewritten whole every
# millisecond or so (rename over the file, as sysfs reads are atomic), so a reader sees a
# counter advancing at exactly P up to the write period.
_WRITER = r"""
import json, os, sys, time
zones = json.loads(sys.argv[1])  # [[dir, watts, base_uj]]
try:  # hardware counters never lag: let the writer preempt the busy test processes where allowed
    os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
except (OSError, AttributeError):
    try:
        os.nice(-20)
    except OSError:
        pass
t0 = time.monotonic()
while True:
    dt = time.monotonic() - t0
    for d, watts, base in zones:
        tmp = os.path.join(d, ".energy_uj.tmp")
        with open(tmp, "w") as f:
            f.write("%d\n" % (base + int(watts * dt * 1e6)))
        os.replace(tmp, os.path.join(d, "energy_uj"))
    time.sleep(0.002)
"""


class PowerTrees:
    """Fake RAPL trees (a package and its DRAM) per node, advanced by one writer process."""

    def __init__(self, root: Path, nodes: dict[str, tuple[float, float]]):
        """nodes: name -> (package W, dram W)."""
        self.root = Path(root)
        self.watts = {}
        self.paths = {}
        zones = []
        for name, (pkg_w, dram_w) in nodes.items():
            fake = FakePowercap(self.root / name)
            pkg = fake.add_zone("intel-rapl:0", "package-0", 1_000_000)
            dram = fake.add_zone("intel-rapl:0:0", "dram", 2_000_000, parent="intel-rapl:0")
            zones += [[str(pkg), pkg_w, 1_000_000], [str(dram), dram_w, 2_000_000]]
            self.watts[name] = pkg_w + dram_w
            self.paths[name] = str(fake.root)
        self.proc = subprocess.Popen([sys.executable, "-c", _WRITER, json.dumps(zones)])

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)


def node_env(trees: PowerTrees, name: str, **extra) -> dict:
    env = dict(os.environ)
    for var in ("CARBON_MAGIC_ZONE", "CARBON_MAGIC_CLUSTER", "CARBON_MAGIC_DATA_DIR"):
        env.pop(var, None)
    env.update({"PYTHONPATH": str(REPO), "CARBON_MAGIC_HOST_ID": name,
                "CARBON_MAGIC_POWERCAP_ROOT": trees.paths[name], "CARBON_MAGIC_INTERVAL_S": "0.1",
                "CUDA_VISIBLE_DEVICES": "", **extra})
    return env


class DaskProcesses:
    """`dask scheduler` and one `dask worker --no-nanny` process per node (killable one by one)."""

    def __init__(self, tmp: Path, trees: PowerTrees, nodes: dict[str, dict]):
        self.file = Path(tmp) / "scheduler.json"
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        self.scheduler = subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
             "--no-dashboard", "--scheduler-file", str(self.file)], env=node_env(trees, next(iter(nodes))), **quiet)
        deadline = time.monotonic() + 30
        while not self.file.exists():
            if time.monotonic() > deadline or self.scheduler.poll() is not None:
                raise RuntimeError("the Dask scheduler did not start")
            time.sleep(0.05)
        self.workers = {}
        for name, extra in nodes.items():
            self.workers[name] = subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file", str(self.file),
                 "--nthreads", "2", "--no-nanny", "--no-dashboard", "--name", name, "--host", "127.0.0.1"],
                env=node_env(trees, name, **extra), **quiet)

    def address_of(self, client, name: str) -> str:
        for addr, w in client.scheduler_info()["workers"].items():
            if w.get("name") == name:
                return addr
        raise KeyError(name)

    def kill(self, name: str) -> None:
        self.workers[name].send_signal(signal.SIGKILL)
        self.workers[name].wait(timeout=10)

    def stop(self) -> None:
        for p in [*self.workers.values(), self.scheduler]:
            if p.poll() is None:
                p.terminate()
        for p in [*self.workers.values(), self.scheduler]:
            try:
                p.wait(timeout=3)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)


def wait_settled(record, timeout_s: float = 20.0) -> None:
    """Until the record's cluster part is no longer pending (the monitor revises it in place)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if record.cluster is not None and not record.cluster.get("pending"):
            return
        time.sleep(0.05)
    raise AssertionError(f"record still pending after {timeout_s} s: {record.cluster}")


def node_energy_j(record, node: str) -> float:
    return sum(c.energy_j for c in record.components if c.node == node)


CALL_OVERHEAD_S = 0.05  # the engine's task interval holds the function's own by its call overhead


def assert_billed(record, node: str, watts: float, interval) -> None:
    """The record bills `node` what `watts` drew over the task's own `interval` (the function's
    clock, inside the engine's task interval that is billed): within 1 % plus the call overhead."""
    known = watts * (interval[1] - interval[0])
    billed = node_energy_j(record, node)
    slack = 0.01 * known + watts * CALL_OVERHEAD_S
    assert abs(billed - known) <= slack, f"{node}: billed {billed:.3f} J, known {known:.3f} J (±{slack:.3f})"


def load_in_cluster_kernel(monkeypatch):
    """A real shell with the extension loaded, its own machine the node `kernel`, cluster parts
    flushed every 0.2 s, static intensity. The caller unloads it."""
    monkeypatch.setenv("CARBON_MAGIC_HOST_ID", "kernel")
    monkeypatch.setenv("CARBON_MAGIC_CLUSTER_FLUSH_S", "0.2")
    monkeypatch.setenv("CARBON_MAGIC_PROVIDER", "static")
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "carbon_magic")
    return ip
