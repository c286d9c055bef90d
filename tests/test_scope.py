"""Scope: the kernel's share of shared devices, on fake /proc, powercap and NVML trees (exact numbers).

Real processes competing on this machine are in test_scope_real.py.
"""
import csv
import io
import json
from types import SimpleNamespace

import pytest
from IPython.core.error import UsageError

from carbon_magic.attribution import Attributor, ProcFS, parse_scope
from carbon_magic.attribution.scope import status_lines
from carbon_magic.config import Settings
from carbon_magic.ledger import Ledger
from carbon_magic.record import SCHEMA, SCHEMA_V2, CellRecord, record_problem
from carbon_magic.report import badge, csv_export, json_export, receipt
from carbon_magic.report.model import Report
from carbon_magic.report.table import CellTable
from carbon_magic.session import CarbonSession
from carbon_magic.sources import Discovery, discover
from carbon_magic.sources.estimators import RamEstimator
from carbon_magic.sources.nvml import discover_nvml
from carbon_magic.units import fmt_energy
from fakes import FakeGpu, FakeNvml, FakeProc

KERNEL, CHILD, OTHER = 100, 101, 200
PKG = "intel-rapl:0"


@pytest.fixture
def proc(tmp_path):
    p = FakeProc(tmp_path / "proc", cpus=2)
    p.add_process(1, 0)
    p.add_process(KERNEL, 1)
    p.add_process(OTHER, 1)
    return p


def session_with(tmp_path, clock, proc, sources, scope="auto", pid=KERNEL):
    settings = Settings.from_env({"CARBON_MAGIC_DATA_DIR": str(tmp_path), "CARBON_MAGIC_SCOPE": scope})
    return CarbonSession(settings, discovery=Discovery(sources=sources), ledger=Ledger(tmp_path / "l.db"),
                         clock=clock, wall=clock.wall, cuda_sync=lambda: [],
                         attributor=Attributor(sources, proc=ProcFS(proc.root, pid=pid, clock=clock))).start(thread=False)


def rapl(powercap):
    powercap.add_zone(PKG, "package-0")
    return [z for z in discover(powercap.root, nvml=None).sources if z.kind == "cpu"]


class Machine:
    """Steps the fake hardware: busy CPU seconds of each process, and the package's joules."""

    def __init__(self, session, clock, proc, powercap=None):
        self.s, self.clock, self.proc, self.powercap = session, clock, proc, powercap
        self.busy = 0.0
        self.cpu = {pid: 0.0 for pid in proc.procs}

    def run(self, seconds, joules=0.0, **cpu_s):
        """One sampler interval: each named process (k100=0.5) used that much CPU time."""
        for key, used in cpu_s.items():
            pid = int(key[1:])
            self.cpu[pid] = self.cpu.get(pid, 0.0) + used
            self.proc.set_cpu(pid, self.cpu[pid])
            self.busy += used
        self.proc.set_machine(self.busy)
        if self.powercap is not None:
            self.powercap.advance(PKG, joules)
        self.clock.advance(seconds)
        self.s.sampler.tick()


def test_process_scope_bills_the_kernels_part_of_the_work_and_of_the_idle_power(tmp_path, clock, proc, powercap):
    s = session_with(tmp_path, clock, proc, rapl(powercap), scope="process")
    m = Machine(s, clock, proc, powercap)
    m.run(1.0, 10.0)  # nobody busy: the package draws 10 W, its idle power
    w = s.begin()
    # 1 s, 2 CPUs: the kernel 0.5 CPU-s, another process 1.0 CPU-s; 10 W idle + 15 J of work
    m.run(1.0, 25.0, k100=0.5, k200=1.0)
    r = s.end(w)
    (c,) = r.components
    # work: 15 J × 0.5/1.5; idle: 10 J × 0.5 CPU-s / (2 CPUs × 1 s)
    assert c.energy_j == pytest.approx(15 / 3 + 10 * 0.25)
    assert c.device_energy_j == pytest.approx(25) and c.share == pytest.approx(0.3)
    assert (c.scope, c.attribution, c.method, c.status) == ("process", "attributed:cpu-time", "counter", "ok")
    assert "attribution" in c.uncertainty_cause and c.uncertainty_j >= 0.1 * c.energy_j
    assert r.scope == "process" and r.scope_reason == "set by CARBON_MAGIC_SCOPE"
    assert r.schema == SCHEMA_V2 and r.energy_j == pytest.approx(7.5)
    assert r.emissions_g == pytest.approx(7.5 / 3.6e6 * r.intensity_g_per_kwh)
    assert "7.5 J = 30 % of 25 J measured" in r.summary() and "this kernel's share" in r.summary()
    t = s.totals()  # the session's energy is the kernel's share too, so idle = session − cells stays its own
    assert t["session_energy_j"] == pytest.approx(7.5) and t["idle_energy_j"] == pytest.approx(0.0)
    assert s.cumulative_energy_j == pytest.approx(7.5)  # the live views' running total: the share as well


def test_children_and_reaped_children_are_the_kernels(tmp_path, clock, proc, powercap):
    s = session_with(tmp_path, clock, proc, rapl(powercap), scope="process")
    m = Machine(s, clock, proc, powercap)
    m.run(1.0, 10.0)
    w = s.begin()
    proc.add_process(CHILD, KERNEL)  # a Pool worker started by the cell
    m.run(1.0, 30.0, k101=1.0, k200=1.0)  # machine saturated: 20 J of work, kernel's child half
    proc.reap(CHILD)  # joined: its second moves into the kernel's cutime, not counted twice
    m.run(1.0, 10.0)
    (c,) = s.end(w).components
    assert c.energy_j == pytest.approx(20 / 2 + 10 * 0.5)
    assert s.attributor.usage().ours_cpu_s == pytest.approx(1.0)


def test_without_task_children_files_the_tree_comes_from_parent_links(tmp_path):
    p = FakeProc(tmp_path / "proc", children_files=False)
    p.add_process(KERNEL, 1, cpu_s=2.0)
    p.add_process(CHILD, KERNEL, cpu_s=0.5)
    p.add_process(CHILD + 1, CHILD, cpu_s=0.25)
    p.add_process(OTHER, 1, cpu_s=9.0)
    times = ProcFS(p.root, pid=KERNEL).read()
    assert times.tree_s == pytest.approx(2.75) and times.pids == {KERNEL, CHILD, CHILD + 1} and times.cpus == 2


def test_a_late_parent_map_brings_the_childs_whole_time(tmp_path, clock):
    p = FakeProc(tmp_path / "proc", children_files=False)
    p.add_process(KERNEL, 1, cpu_s=1.0)
    fs = ProcFS(p.root, pid=KERNEL, clock=clock)
    assert fs.read().tree_s == pytest.approx(1.0)
    p.add_process(CHILD, KERNEL, cpu_s=0.7)
    clock.advance(0.5)
    assert fs.read().pids == {KERNEL}  # the parent map is re-read every 2 s, not every tick
    clock.advance(2.0)
    t = fs.read()
    assert t.pids == {KERNEL, CHILD} and t.tree_s == pytest.approx(1.7)


def test_every_processes_share_adds_up_to_at_most_the_machine(tmp_path, clock, proc, powercap):
    src = rapl(powercap)
    s = session_with(tmp_path, clock, proc, src, scope="process")
    other = Attributor(src, proc=ProcFS(proc.root, pid=OTHER))  # the other process's own view
    other.observe(s.sampler.first)
    s.sampler.add_listener(other.tick, period_s=0.0)
    m = Machine(s, clock, proc, powercap)
    m.run(1.0, 10.0)
    w, o = s.begin(), other.observe(s.sampler.snapshot())
    for k100, k200, joules in ((0.5, 1.0, 25.0), (1.0, 1.0, 30.0), (0.0, 0.2, 12.0), (2.0, 0.0, 30.0)):
        m.run(1.0, joules, k100=k100, k200=k200)
    r = s.end(w)
    o_end = other.observe(s.sampler.snapshot())
    ours, theirs = r.components[0].energy_j, o_end.total_j() - o.total_j()
    assert 0 < ours and 0 < theirs
    assert ours + theirs <= r.components[0].device_energy_j + 1e-9


def test_auto_keeps_the_machine_when_nobody_else_computes(tmp_path, clock, proc, powercap):
    s = session_with(tmp_path, clock, proc, rapl(powercap))
    m = Machine(s, clock, proc, powercap)
    m.run(1.0, 10.0)
    w = s.begin()
    m.run(1.0, 20.0, k100=1.0, k200=0.12)  # a browser tab beside the notebook
    r = s.end(w)
    (c,) = r.components
    assert r.scope == "machine" and r.schema == SCHEMA
    assert c.energy_j == pytest.approx(20) and c.scope == "machine"  # a laptop's numbers do not change
    assert c.share == pytest.approx((10 * 1 / 1.12 + 10 * 0.5) / 20)  # both figures kept
    assert r.scope_reason == "auto: others kept only 3 % of the CPUs busy"
    assert "· whole machine (auto: others kept only 3 % of the CPUs busy)" in r.summary()


def test_auto_bills_the_share_when_others_use_the_machine(tmp_path, clock, proc, powercap):
    s = session_with(tmp_path, clock, proc, rapl(powercap))
    m = Machine(s, clock, proc, powercap)
    m.run(1.0, 10.0, k200=1.5)
    w = s.begin()
    m.run(1.0, 30.0, k100=0.5, k200=1.5)
    r = s.end(w)
    assert r.scope == "process" and r.scope_reason == "auto: others did 86 % of the CPU work"
    assert r.components[0].energy_j < r.components[0].device_energy_j


def test_auto_waits_for_evidence(tmp_path, clock, proc, powercap):
    s = session_with(tmp_path, clock, proc, rapl(powercap))
    m = Machine(s, clock, proc, powercap)
    w = s.begin()
    m.run(0.3, 5.0, k100=0.1, k200=0.5)
    r = s.end(w)
    assert r.scope == "machine" and "too little seen" in r.scope_reason


def test_measure_takes_a_scope_for_its_block(tmp_path, clock, proc, powercap):
    from carbon_magic import measure

    s = session_with(tmp_path, clock, proc, rapl(powercap), scope="machine")
    m = Machine(s, clock, proc, powercap)
    m.run(1.0, 10.0)
    with measure(label="train", session=s, scope="process") as block:
        m.run(1.0, 25.0, k100=0.5, k200=1.0)
    r = block.record
    assert r.scope == "process" and r.energy_j == pytest.approx(7.5) and r.scope_reason == "set by measure(scope=...)"
    with pytest.raises(ValueError, match="scope must be auto, machine or process"):
        with measure(session=s, scope="kernel"):
            pass


def test_the_estimators_are_split_by_cpu_time_too(tmp_path, clock, proc):
    ram = RamEstimator(8 * 10**9)  # 2.98 W, all idle power by its model
    s = session_with(tmp_path, clock, proc, [ram], scope="process")
    m = Machine(s, clock, proc)
    w = s.begin()
    m.run(2.0, k100=1.0, k200=2.0)
    (c,) = s.end(w).components
    assert c.energy_j == pytest.approx(ram.power_w * 2.0 * 0.25)  # 1 CPU-s of 4
    assert c.attribution == "attributed:cpu-time"


# -- GPUs ------------------------------------------------------------------------------------
def gpu_session(tmp_path, clock, proc, gpu, scope="process"):
    sources, _ = discover_nvml(FakeNvml([gpu]), env={})
    return session_with(tmp_path, clock, proc, sources, scope=scope)


@pytest.mark.parametrize("scope, reason", [("process", "set by CARBON_MAGIC_SCOPE"),
                                           ("auto", "auto: others did 25 % of gpu:0's SM work")])
def test_a_gpu_shared_with_another_process_is_split_by_sm_and_memory(tmp_path, clock, proc, scope, reason):
    gpu = FakeGpu("GPU-1", "0000:01:00.0", energy_mj=0)
    s = gpu_session(tmp_path, clock, proc, gpu, scope=scope)
    gpu.energy_mj += 50_000  # 50 W idle for 1 s, nobody on it
    clock.advance(1.0)
    s.sampler.tick()
    w = s.begin()
    gpu.run(KERNEL, 4 << 30)
    gpu.run(OTHER, 12 << 30)
    for i, (ours, theirs) in enumerate(((70, 10), (50, 30))):
        gpu.sample(KERNEL, 10_000_000 + i, ours)
        gpu.sample(OTHER, 10_000_000 + i, theirs)
    gpu.energy_mj += 250_000
    clock.advance(1.0)
    r = s.end(w)
    (c,) = r.components
    # active 200 J × SM 120/160, idle 50 J × memory 4/16 GB
    assert c.energy_j == pytest.approx(200 * 0.75 + 50 * 0.25)
    assert (c.scope, c.attribution, c.share) == ("process", "attributed:sm-util", pytest.approx(0.65))
    assert r.scope_reason == reason
    lines = "\n".join(status_lines(s))
    assert "gpu:0: 1 other process with a compute context, 25 % of its SM work" in lines


def test_a_gpu_used_only_by_this_kernel_is_all_its_own(tmp_path, clock, proc):
    gpu = FakeGpu("GPU-1", "0000:01:00.0", energy_mj=0)
    s = gpu_session(tmp_path, clock, proc, gpu)
    gpu.run(KERNEL, 2 << 30)  # no utilisation sample at all: no guessing needed
    w = s.begin()
    gpu.energy_mj += 120_000
    clock.advance(1.0)
    (c,) = s.end(w).components
    assert (c.energy_j, c.share, c.attribution) == (pytest.approx(120), 1.0, "attributed:sole-user")
    assert "attribution" not in c.uncertainty_cause


def test_a_gpu_nobody_here_uses_costs_this_kernel_nothing(tmp_path, clock, proc):
    gpu = FakeGpu("GPU-1", "0000:01:00.0", energy_mj=0)
    s = gpu_session(tmp_path, clock, proc, gpu)
    gpu.run(OTHER, 8 << 30)
    gpu.sample(OTHER, 5_000_000, 90)
    w = s.begin()
    gpu.energy_mj += 300_000
    clock.advance(1.0)
    (c,) = s.end(w).components
    assert c.energy_j == 0 and c.device_energy_j == pytest.approx(300)


def test_nvml_pids_from_another_namespace_fall_back_to_the_machine(tmp_path, clock, proc):
    gpu = FakeGpu("GPU-1", "0000:01:00.0", energy_mj=0)
    s = gpu_session(tmp_path, clock, proc, gpu)
    gpu.run(734_512, 8 << 30)  # a host PID: no such process in this container's /proc
    w = s.begin()
    gpu.energy_mj += 300_000
    clock.advance(1.0)
    r = s.end(w)
    (c,) = r.components
    assert c.scope == "machine" and c.energy_j == pytest.approx(300) and c.share is None
    assert r.scope == "machine" and "gpu:0 billed whole: NVML cannot see this kernel's processes" in r.scope_reason
    assert r.schema == SCHEMA


def test_holding_the_device_while_nvml_lists_none_of_ours_falls_back(tmp_path, clock, proc):
    gpu = FakeGpu("GPU-1", "0000:01:00.0", energy_mj=0)
    proc.open_fd(KERNEL, 7, "/dev/nvidia0")  # the kernel has a CUDA context, NVML shows no PID of ours
    s = gpu_session(tmp_path, clock, proc, gpu)
    w = s.begin()
    gpu.energy_mj += 100_000
    clock.advance(1.0)
    (c,) = s.end(w).components
    assert c.scope == "machine" and c.energy_j == pytest.approx(100)
    assert any("NVML cannot see" in line for line in status_lines(s))


def test_mig_without_process_utilisation_is_billed_whole_with_the_reason(tmp_path, clock, proc, powercap):
    gpu = FakeGpu("GPU-1", "0000:01:00.0", energy_mj=0)
    gpu.process_util_error = 3  # NOT_SUPPORTED
    gpu.run(KERNEL, 1 << 30)
    gpu.run(OTHER, 1 << 30)
    sources, _ = discover_nvml(FakeNvml([gpu]), env={})
    s = session_with(tmp_path, clock, proc, sources + rapl(powercap), scope="process")
    m = Machine(s, clock, proc, powercap)
    w = s.begin()
    gpu.energy_mj += 100_000
    m.run(1.0, 20.0, k100=1.0, k200=1.0)
    r = s.end(w)
    comps = {c.name: c for c in r.components}
    assert comps["gpu:0"].scope == "machine" and comps["gpu:0"].energy_j == pytest.approx(100)
    assert comps["cpu:package-0"].scope == "process"
    assert r.scope == "process" and "gpu:0 billed whole: per-process utilisation is not supported" in r.scope_reason


# -- settings -------------------------------------------------------------------------------
def test_scope_settings_and_their_errors(shell, caplog):
    from carbon_magic.extension import session_for

    assert Settings.from_env({"CARBON_MAGIC_SCOPE": "Process"}).scope == "process"
    bad = Settings.from_env({"CARBON_MAGIC_SCOPE": "mine"})
    assert bad.scope == "auto" and "CARBON_MAGIC_SCOPE='mine' is not one of auto, machine, process" in bad.warnings[0]
    assert parse_scope(" 'machine' ") == "machine"
    s = session_for(shell)
    try:
        shell.run_line_magic("config", "CarbonMagics.scope = 'process'")
        assert (s.settings.scope, s.settings.scope_source) == ("process", "%config CarbonMagics.scope")
        shell.run_line_magic("config", "CarbonMagics.scope = 'everything'")  # %config shows the one line
        assert "CarbonMagics.scope must be auto, machine or process (not 'everything')" in caplog.text
        assert s.settings.scope == "process"
        with pytest.raises(UsageError, match="--scope must be auto, machine or process"):
            shell.run_cell_magic("carbon", "--scope most", "1")
        shell.run_line_magic("config", "CarbonMagics.scope = 'machine'")
        shell.run_cell("%%carbon -s process -q -o rec\nx = 1")
        assert shell.user_ns["rec"].scope_reason.startswith("set by %%carbon --scope")
    finally:
        shell.run_line_magic("config", "CarbonMagics.scope = None")  # the shell's config outlives this test


# -- the record and its readers ---------------------------------------------------------------
def process_record(tmp_path, clock, proc, powercap):
    s = session_with(tmp_path, clock, proc, rapl(powercap), scope="process")
    m = Machine(s, clock, proc, powercap)
    m.run(1.0, 10.0)
    w = s.begin(label="train")
    m.run(1.0, 25.0, k100=0.5, k200=1.0)
    return s, s.end(w)


def test_v2_records_round_trip_and_v1_records_still_read(tmp_path, clock, proc, powercap):
    s, r = process_record(tmp_path, clock, proc, powercap)
    d = json.loads(json.dumps(r.to_dict()))
    assert record_problem(d) is None and CellRecord.from_untrusted(d) == r
    assert s.ledger.records(s.session_id)[0] == r
    old = {k: v for k, v in d.items() if k not in ("scope", "scope_reason")}
    old["schema"] = SCHEMA
    old["components"] = [{k: v for k, v in c.items() if k in ("name", "kind", "method", "energy_j")}
                         for c in d["components"]]
    v1 = CellRecord.from_untrusted(old)
    assert v1.scope == "machine" and v1.components[0].device_j == v1.components[0].energy_j
    assert "whole machine" not in v1.summary() and "share" not in v1.summary()


@pytest.mark.parametrize("change, problem", [
    ({"scope": "everything"}, "record.scope 'everything' is not one of machine, process"),
    ({"scope": "machine"}, "needs scope 'process'"),
    ({"scope_reason": 3}, "scope_reason is not text"),
    ({"components": [{"name": "cpu", "kind": "cpu", "method": "counter", "energy_j": 1.0, "share": 1.5}]},
     "components[0].share is not a number between 0 and 1"),
    ({"components": [{"name": "cpu", "kind": "cpu", "method": "counter", "energy_j": 1.0,
                      "device_energy_j": float("nan")}]}, "components[0].device_energy_j is not a finite"),
    ({"components": [{"name": "cpu", "kind": "cpu", "method": "counter", "energy_j": 1.0, "attribution": 7}]},
     "components[0].attribution is not text"),
])
def test_forged_scope_fields_are_refused_with_the_reason(tmp_path, clock, proc, powercap, change, problem):
    _, r = process_record(tmp_path, clock, proc, powercap)
    d = {**r.to_dict(), **change}
    assert problem in record_problem(d)
    with pytest.raises(ValueError, match="scope|share|attribution|device_energy"):
        CellRecord.from_untrusted(d)


def test_exports_and_the_table_show_the_scope(tmp_path, clock, proc, powercap):
    s, r = process_record(tmp_path, clock, proc, powercap)
    report = Report.from_session(s)
    (cols,) = list(csv.DictReader(io.StringIO(csv_export.render(report))))
    # The scope's columns close our own, before the carbon-aware ones; CodeCarbon's 38 stay first.
    scope_columns = ["scope_reason", "device_energy_kwh", "cpu_share", "gpu_share", "ram_share", "attribution"]
    assert list(csv_export.EXTRA_COLUMNS[-6:]) == list(csv_export.SCOPE_COLUMNS) == scope_columns
    assert list(csv_export.COLUMNS) == [*csv_export.CODECARBON_COLUMNS, *csv_export.EXTRA_COLUMNS,
                                        *csv_export.DEFERRAL_COLUMNS]
    assert list(cols) == list(csv_export.COLUMNS)
    assert cols["tracking_mode"] == "process" and cols["scope_reason"] == "set by CARBON_MAGIC_SCOPE"
    assert float(cols["cpu_share"]) == pytest.approx(0.3) and cols["gpu_share"] == ""
    assert float(cols["device_energy_kwh"]) == pytest.approx(25 / 3.6e6)
    assert float(cols["energy_consumed"]) == pytest.approx(7.5 / 3.6e6)
    assert cols["attribution"] == "attributed:cpu-time"
    table = CellTable(report)
    assert table.rows()[0][-1] == "measured · process 30 %"
    assert "scope: process (this kernel's share)" in table.caption()
    assert "process 30 %" in table.text() and "process 30 %" in table.html()
    md = receipt.markdown(report)
    assert "| scope | process (this kernel's share) |" in md and "Process scope: a cell's energy" in md
    assert "share of shared devices" in badge.render(report)  # in the title (the apostrophe escaped)
    (exported,) = json.loads(json_export.render(report))["records"]
    assert exported["scope"] == "process" and exported["components"][0]["device_energy_j"] == pytest.approx(25)


@pytest.mark.parametrize("scope, reason", [
    ("process", "set by CARBON_MAGIC_SCOPE; cpu:package-0 billed whole: per-process CPU time unavailable: "
                "cannot read"),
    ("auto", "auto: per-process CPU time unavailable: cannot read"),
])
def test_without_proc_the_machine_is_billed_with_the_reason(tmp_path, clock, powercap, scope, reason):
    no_proc = SimpleNamespace(root=tmp_path / "no-proc")  # a platform without /proc (macOS, Windows)
    s = session_with(tmp_path, clock, no_proc, rapl(powercap), scope=scope)
    w = s.begin()
    powercap.advance(PKG, 20.0)
    clock.advance(2.0)
    r = s.end(w)
    assert r.scope == "machine" and r.components[0].energy_j == pytest.approx(20)
    assert r.scope_reason.startswith(reason) and r.components[0].share is None
    assert "per-process CPU time unavailable" in "\n".join(status_lines(s))


# -- with the rest of the record: nesting, totals, status, disclosure ----------------------------
def test_totals_follow_the_latest_cells_scope_and_add_top_level_cells_only(tmp_path, clock, proc, powercap):
    s = session_with(tmp_path, clock, proc, rapl(powercap), scope="process")
    m = Machine(s, clock, proc, powercap)
    m.run(1.0, 10.0)  # nobody busy: the machine drew 10 J, the kernel held no CPU
    w = s.begin(label="cell")
    inner = s.begin(label="epoch")  # measure() inside the cell
    m.run(1.0, 25.0, k100=0.5, k200=1.0)
    epoch = s.end(inner)
    m.run(1.0, 25.0, k100=0.5, k200=1.0)
    cell = s.end(w)
    assert epoch.parent["label"] == "cell" and (epoch.scope, cell.scope) == ("process", "process")
    t = s.totals()
    assert (t["cells"], t["nested"], t["scope"]) == (1, 1, "process")
    assert t["cells_energy_j"] == pytest.approx(cell.energy_j)  # the epoch is in its cell, counted once
    # Session and idle are the kernel's share too: far below the 60 J the package drew.
    assert t["session_energy_j"] == pytest.approx(max(cell.energy_j, s._running_j["process"]))
    assert t["session_energy_j"] < 60 and s._running_j["machine"] == pytest.approx(60)
    assert t["idle_energy_j"] == pytest.approx(t["session_energy_j"] - t["cells_energy_j"])
    assert s.cumulative_energy_j == pytest.approx(s._running_j["process"])  # the live views' running total
    # A cell billed whole makes the totals the machine's again.
    w = s.begin(scope="machine")
    m.run(1.0, 20.0, k100=0.5, k200=1.0)
    whole = s.end(w)
    t = s.totals()
    assert whole.scope == "machine" and t["scope"] == "machine" and t["cells"] == 2
    assert t["session_energy_j"] == pytest.approx(80) and t["cells_energy_j"] == pytest.approx(cell.energy_j + 20)
    assert s.session_energy_j() == t["session_energy_j"] == s.cumulative_energy_j


def test_a_block_nested_in_a_cell_bills_what_its_cell_bills_unless_it_names_its_own(tmp_path, clock, proc,
                                                                                     powercap):
    s = session_with(tmp_path, clock, proc, rapl(powercap), scope="machine")
    m = Machine(s, clock, proc, powercap)
    m.run(1.0, 10.0)
    w = s.begin(label="cell", scope="process")  # %%carbon --scope process
    inherits = s.begin(label="epoch", units={"count": 10, "unit": "rows"})
    own = s.begin(label="whole", scope="machine", scope_source="measure(scope=...)")
    m.run(1.0, 25.0, k100=0.5, k200=1.0)
    own, inherits, cell = s.end(own), s.end(inherits), s.end(w)
    assert cell.scope == "process" and inherits.scope == "process" and own.scope == "machine"
    assert inherits.scope_reason == "set by %%carbon --scope, the enclosing cell's"
    assert own.scope_reason == "set by measure(scope=...)"
    assert inherits.energy_j == pytest.approx(cell.energy_j) and own.energy_j == pytest.approx(25)
    # Every optional key together: a v2 record with a parent, units, deferral and estimates round-trips.
    inherits.deferred_s, inherits.avoided_g, inherits.avoided_basis = 60.0, 0.5, "forecast"
    d = json.loads(json.dumps(inherits.to_dict()))
    assert d["schema"] == SCHEMA_V2 and d["parent"]["label"] == "cell" and d["units"]["count"] == 10
    assert record_problem(d) is None and CellRecord.from_untrusted(d).to_dict() == d
    for change, problem in (({"parent": "cell"}, "parent is not an object"),
                            ({"deferred_s": -1}, "deferred_s"), ({"scope": "machine"}, "needs scope 'process'"),
                            ({"units": {"count": 0, "unit": "rows"}}, "units")):
        assert problem in record_problem({**d, **change})


def test_optional_keys_are_written_only_when_set(tmp_path, clock, proc, powercap):
    _, r = process_record(tmp_path, clock, proc, powercap)
    old = {k: v for k, v in r.to_dict().items() if k not in ("scope", "scope_reason", "water_l", "water",
                                                               "embodied_g", "embodied")}
    old["schema"] = SCHEMA
    back = CellRecord.from_untrusted(old).to_dict()
    assert "scope_reason" not in back and "units" not in back and "deferred_s" not in back
    assert back["scope"] == "machine"  # a record older than scope billed the devices whole


def test_status_says_the_scope_then_the_totals_in_it(tmp_path, clock, proc, powercap):
    from IPython.core.interactiveshell import InteractiveShell

    from carbon_magic.magics import CarbonMagics

    s, r = process_record(tmp_path, clock, proc, powercap)
    text = CarbonMagics(InteractiveShell.instance(), s).status_text()
    lines = text.splitlines()
    scope = next(i for i, ln in enumerate(lines) if ln.startswith("  scope: process"))
    totals = lines.index("  totals (this kernel's share: process scope):")
    assert scope < totals
    (cells,) = [ln for ln in lines[totals:] if ln.split()[:1] == ["cells"]]
    assert fmt_energy(r.energy_j) in cells


def test_embodied_carbon_under_process_scope_is_the_kernels_share_of_the_hardware(tmp_path, clock, proc, powercap):
    from carbon_magic.report import embodied, model_card

    s, r = process_record(tmp_path, clock, proc, powercap)
    whole, _ = embodied.estimate([], r.duration_s, "server")
    assert r.embodied["allocation"] == "time-share x resource-share"
    (host,) = r.embodied["items"]
    assert host["resource_share"] == pytest.approx(0.3) and r.embodied_g == pytest.approx(whole * 0.3)
    assert "time share × this kernel's share of" in embodied.describe(r)
    card = model_card.render(Report.from_session(s))
    assert "report this kernel's share of them (process scope)" in card
    assert f"the devices drew {fmt_energy(25)} in all" in card


def test_measure_in_a_kernel_cell_takes_the_cells_scope(shell):
    shell.run_cell("%%carbon --scope process -q -o outer\nimport carbon_magic\n"
                   "with carbon_magic.measure(label='inner') as m:\n    x = sum(range(1000))\ninner = m.record")
    outer, inner = shell.user_ns["outer"], shell.user_ns["inner"]
    assert inner.parent["start_s"] == outer.start_s  # measured on the loaded session, inside the cell
    assert inner.scope_reason.startswith("set by %%carbon --scope, the enclosing cell's")
    assert inner.scope == outer.scope
