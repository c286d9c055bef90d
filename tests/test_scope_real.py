"""Scope with real processes on this machine: real /proc, real psutil-free CPU accounting, real competitors.

The competitor is a busy process that is not the kernel's (started through a shell that exits, so it
is reparented out of this process's tree). Loads are short (about a second of CPU) and the
assertions are about shares with wide margins: the suite runs on a loaded 2-core CI box beside
other processes, so exact numbers are left to the fake-/proc tests (test_scope.py) and the benchmark.
"""
import multiprocessing
import os
import signal
import subprocess
import sys
import time

import pytest

from carbon_magic.attribution import ProcFS
from carbon_magic.config import Settings
from carbon_magic.ledger import Ledger
from carbon_magic.session import CarbonSession
from carbon_magic.sources import Discovery, discover
from fakes import LoadCounter

pytestmark = [pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="per-process attribution reads Linux /proc"),
              pytest.mark.slow]  # real competing processes, a second or more each

MARKER = "carbon_magic_test_spinner_4417"
SPIN = f"""
import sys, time  # {MARKER}
end, deadline = float(sys.argv[1]), time.monotonic() + 15
while time.process_time() < end and time.monotonic() < deadline:
    pass
"""


def spin(cpu_s: float) -> float:
    """Burn `cpu_s` of this process's CPU time (however long the box makes it take); return it."""
    t0 = time.process_time()
    while time.process_time() - t0 < cpu_s:
        pass
    return time.process_time() - t0


def foreign_spinner(cpu_s: float) -> int:
    """Start a busy process that is not this one's descendant (its shell parent exits at once)."""
    out = subprocess.run(["/bin/sh", "-c", '"$0" -c "$1" "$2" </dev/null >/dev/null 2>&1 & echo $!',
                          sys.executable, SPIN, str(cpu_s)], capture_output=True, text=True, timeout=10, check=True)
    return int(out.stdout.strip())


def stop(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest.fixture
def competitor():
    pid = foreign_spinner(2.5)
    yield pid
    stop(pid)


def rapl_session(tmp_path, powercap, scope, interval_s=0.1):
    """A session on a package drawing 20 W + 10 W per busy CPU of this machine's real load."""
    zone = powercap.add_zone("intel-rapl:0", "package-0", 0)
    counter = LoadCounter(zone / "energy_uj", idle_w=20.0, w_per_cpu=10.0)
    sources = [z for z in discover(powercap.root, nvml=None, rapl_opener=counter).sources if z.kind == "cpu"]
    settings = Settings(scope=scope, interval_s=interval_s, data_dir=tmp_path, cuda_sync=False)
    return CarbonSession(settings, discovery=Discovery(sources=sources), ledger=Ledger(tmp_path / "l.db")).start()


def test_a_pool_started_by_the_cell_is_the_cells():
    proc = ProcFS()
    before = proc.read()
    with multiprocessing.get_context("fork").Pool(1) as pool:
        child_s = pool.apply(spin, (0.4,))
        during = proc.read()
        assert len(during.pids) >= 2  # the worker is in the tree while it lives
    after = proc.read()  # joined and reaped: its time is in this process's cutime now
    assert child_s >= 0.4
    assert after.tree_s - before.tree_s >= child_s - 0.05
    assert after.pids == {os.getpid()}


def test_a_busy_process_that_is_not_the_kernels_stays_out_of_its_tree(competitor):
    proc = ProcFS()
    time.sleep(0.2)
    assert proc.exists(competitor) and competitor not in proc.read().pids
    assert proc.process_cpu_s(competitor) > 0


def test_the_kernel_asleep_beside_a_busy_process_is_billed_little(tmp_path, powercap, competitor):
    s = rapl_session(tmp_path, powercap, "process")
    try:
        time.sleep(0.5)
        w = s.begin()
        time.sleep(1.0)  # the kernel waits; the competitor computes
        r = s.end(w)
    finally:
        s.close()
    (c,) = r.components
    assert c.device_energy_j > 20 * 0.9  # the package drew at least its idle power
    assert c.share < 0.15 and c.energy_j < 0.15 * c.device_energy_j
    assert r.scope == "process" and r.schema == "carbon_magic.record/2"


def test_the_kernel_computing_beside_a_busy_process_gets_about_its_own_cpu_time(tmp_path, powercap, competitor):
    s = rapl_session(tmp_path, powercap, "process")
    try:
        time.sleep(1.0)  # the sampler learns the package's power
        t0 = time.process_time()
        w = s.begin()
        spin(0.5)
        r = s.end(w)
        ours_s = time.process_time() - t0  # every thread of this process: the work and the sampler
    finally:
        s.close()
    (c,) = r.components
    cpus = os.cpu_count() or 1
    expected = 10.0 * ours_s + 20.0 * ours_s / cpus  # the rule: work by CPU time, idle by the CPUs held
    assert 0.05 < c.share < 0.95
    assert 0.6 * expected < c.energy_j < 1.4 * expected, (c.energy_j, expected, c.device_energy_j)


def test_auto_turns_to_the_kernels_share_when_another_process_computes(env, monkeypatch, competitor):
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    monkeypatch.setenv("CARBON_MAGIC_SCOPE", "auto")
    monkeypatch.setenv("CARBON_MAGIC_INTERVAL_S", "0.2")
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "carbon_magic")
    try:
        time.sleep(1.3)  # more than a second seen, the competitor busy all along
        ip.run_cell("%%carbon -q -o rec\nsum(range(10**5))")
        rec = ip.user_ns["rec"]
        with capture_output() as cap:
            ip.run_line_magic("carbon", "status")
    finally:
        ip.run_line_magic("unload_ext", "carbon_magic")
    assert rec.scope == "process" and rec.scope_reason.startswith("auto: others did ")
    assert "this kernel's share (auto: others did" in rec.summary()
    status = cap.stdout
    assert "scope: process, this kernel's share (auto: others did" in status
    (line,) = [ln for ln in status.splitlines() if "other consumers:" in ln]
    count = int(line.split("CPU: ")[1].split(" other process")[0])
    assert count >= 1 and "of the CPU work" in line
    assert str(competitor) not in status and MARKER not in status and "python" not in line  # counts, no names
