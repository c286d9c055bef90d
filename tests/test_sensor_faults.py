"""A sensor's odd moves (resets, wraps hidden in long gaps, failures, MIG, tiny cells) never give a
plausible wrong number: they are estimated and marked, or shown as failed, and the record is made."""
import csv
import io
import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

from carbon_magic.config import Settings
from carbon_magic.ledger import Ledger
from carbon_magic.magics import sensor_notes
from carbon_magic.record import CellRecord
from carbon_magic.report import formats
from carbon_magic.report.model import Report
from carbon_magic.sampler import Sampler
from carbon_magic.session import CarbonSession
from carbon_magic.sources import Discovery
from carbon_magic.sources.nvml import discover_nvml
from carbon_magic.sources.rapl import discover_rapl
from conftest import run
from fakes import FakeGpu, FakeNvml, FakePowercap

PKG = "intel-rapl:0"


def make_session(tmp_path, clock, sources, **settings):
    s = Settings.from_env({"CARBON_MAGIC_DATA_DIR": str(tmp_path), "CARBON_MAGIC_SCOPE": "machine"})
    for k, v in settings.items():
        setattr(s, k, v)
    return CarbonSession(s, discovery=Discovery(sources=sources), ledger=Ledger(tmp_path / "l.db"),
                         clock=clock, wall=clock.wall, cuda_sync=lambda: []).start(thread=False)


def cpu_zones(powercap):
    zones, skipped = discover_rapl(powercap.root)
    return [z for z in zones if z.kind == "cpu"]


def steady(session, clock, powercap, seconds, watts, step=0.5):
    """The package draws `watts` for `seconds`, the sampler ticking every `step`."""
    t = 0.0
    while t < seconds - 1e-9:
        dt = min(step, seconds - t)
        powercap.advance(PKG, watts * dt)
        clock.advance(dt)
        session.sampler.tick()
        t += dt


# -- counter resets ----------------------------------------------------------------------
def test_a_counter_reset_is_not_billed_as_a_wrap(tmp_path, clock, powercap):
    powercap.add_zone(PKG, "package-0", 200_000_000_000)  # 200 kJ into a 262 kJ range
    s = make_session(tmp_path, clock, cpu_zones(powercap))
    steady(s, clock, powercap, 2, 14.3)
    w = s.begin()
    steady(s, clock, powercap, 5, 14.3)
    powercap.set_raw(PKG, "0\n")  # module reload / resume from suspend: back to 0
    clock.advance(0.5)
    s.sampler.tick()  # 0.5 s of the cell estimated from the last power
    steady(s, clock, powercap, 4.5, 14.3)
    r = s.end(w)
    (c,) = r.components
    assert r.energy_j == pytest.approx(143, rel=0.01)  # not 62 kJ (the rest of the range) nor 175 kJ
    assert c.status == "reset"
    assert c.uncertainty_j == pytest.approx(14.3 * 0.5, rel=0.05) and "counter-reset" in c.uncertainty_cause
    assert "counter reset" in r.summary()
    assert "counter resets: 1" in sensor_notes(s.sampler.sources[0], s.sampler)  # as %carbon status shows it
    nxt = s.end(s.begin())  # the next cell starts clean
    assert nxt.components[0].status == "ok"


def test_a_forward_jump_beyond_what_the_package_can_draw_is_a_reset(tmp_path, clock, powercap):
    powercap.add_zone(PKG, "package-0", 1_000_000, max_power_w=100)  # ceiling 200 W
    s = make_session(tmp_path, clock, cpu_zones(powercap))
    steady(s, clock, powercap, 2, 50)
    w = s.begin()
    steady(s, clock, powercap, 1, 50)
    powercap.advance(PKG, 90_000)  # 90 kJ in half a second: a garbage counter value, not work
    clock.advance(0.5)
    s.sampler.tick()
    steady(s, clock, powercap, 1, 50)
    (c,) = s.end(w).components
    assert c.energy_j == pytest.approx(125, rel=0.01) and c.status == "reset"


# -- wraps hidden in one long gap ---------------------------------------------------------
def test_several_wraps_in_one_gap_are_estimated_and_marked(tmp_path, clock, powercap):
    powercap.add_zone(PKG, "package-0", 0, max_range_uj=1_000_000_000)  # a 1 kJ counter: safe gap 1 s
    s = make_session(tmp_path, clock, cpu_zones(powercap))
    steady(s, clock, powercap, 2, 200)
    w = s.begin()
    steady(s, clock, powercap, 1, 200)
    powercap.advance(PKG, 200 * 12)  # 12 s with the interpreter blocked: 2.4 wraps, no read
    clock.advance(12)
    steady(s, clock, powercap, 1, 200)
    r = s.end(w)
    (c,) = r.components
    truth = 200 * 14
    assert c.energy_j == pytest.approx(truth, rel=0.01)  # two whole wraps restored from the power
    assert c.status == "ambiguous"
    assert abs(c.energy_j - truth) <= c.uncertainty_j and c.uncertainty_j == pytest.approx(1000, rel=0.01)
    assert "±" in r.summary() and "hide counter wraps" in r.summary()


def test_an_interval_too_long_for_a_counter_is_shortened_with_one_warning(clock, powercap):
    powercap.add_zone(PKG, "package-0", 0, max_range_uj=1_000_000_000, max_power_w=250)  # 1 kJ / 500 W = 2 s
    sampler = Sampler(cpu_zones(powercap), 2.0, clock=clock, wall=clock.wall)
    assert sampler.interval_s == pytest.approx(1.0)
    (msg,) = sampler.warnings
    assert "cpu:package-0" in msg and "1 s" in msg


def test_a_long_interval_is_shortened_in_the_session_and_said(tmp_path, clock, powercap):
    powercap.add_zone(PKG, "package-0", 0, max_range_uj=1_000_000_000)
    s = make_session(tmp_path, clock, cpu_zones(powercap), interval_s=5.0)
    assert s.settings.interval_s == pytest.approx(0.5) and s.describe()["interval_s"] == pytest.approx(0.5)
    assert any("too long" in n for n in s.drain_notices())


def test_a_counter_without_max_energy_range_is_estimated_across_a_wrap(tmp_path, clock, powercap):
    powercap.add_zone(PKG, "package-0", 2**32 - 70_000_000, max_range_uj=None)
    s = make_session(tmp_path, clock, cpu_zones(powercap))
    steady(s, clock, powercap, 2, 20)
    w = s.begin()
    steady(s, clock, powercap, 3, 20)  # wraps at the hardware's 2**32 µJ, a range we cannot read
    r = s.end(w)
    (c,) = r.components
    assert powercap.read(PKG) <= 30_000_000  # it did wrap
    assert c.status == "ambiguous" and c.energy_j == pytest.approx(60, rel=0.05)
    assert c.uncertainty_j > 0


# -- a failing sensor is shown, the others are kept, the record is made -------------------
def rapl_and_gpu(tmp_path, clock, powercap, retry_s=5.0):
    powercap.add_zone(PKG, "package-0")
    gpu = FakeGpu("GPU-1", "0000:01:00.0", energy_mj=0, power_mw=100_000)
    gpus, _ = discover_nvml(FakeNvml([gpu]), env={})
    s = make_session(tmp_path, clock, gpus + cpu_zones(powercap))
    s.sampler.retry_s = retry_s
    return s, gpu


def cell(s, clock, powercap, gpu, seconds=2.0, cpu_w=10.0, gpu_w=100.0):
    w = s.begin()
    for _ in range(int(seconds / 0.5)):
        try:
            powercap.advance(PKG, cpu_w * 0.5)
        except ValueError:  # the fault left garbage in the file
            pass
        if isinstance(gpu.energy_mj, int):
            gpu.energy_mj += int(gpu_w * 500)
        clock.advance(0.5)
        s.sampler.tick()
    return s.end(w)


class Boom(RuntimeError):
    pass


FAULTS = {
    "rapl garbage": lambda gpu, powercap: powercap.set_raw(PKG, "\x00garbage\n"),
    "rapl negative": lambda gpu, powercap: powercap.set_raw(PKG, "-5\n"),
    "gpu lost": lambda gpu, powercap: setattr(gpu, "lost", True),
    "nvml returns a str": lambda gpu, powercap: setattr(gpu, "energy_mj", "N/A"),
    "nvml returns None": lambda gpu, powercap: setattr(gpu, "energy_mj", [None]),
    "nvml power a str": lambda gpu, powercap: setattr(gpu, "power_mw", "12 W"),
    "nvml raises a non-NVML error": lambda gpu, powercap: setattr(gpu, "raises", Boom("driver went away")),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_a_failing_sensor_stays_in_every_record_as_failed(tmp_path, clock, powercap, fault):
    s, gpu = rapl_and_gpu(tmp_path, clock, powercap, retry_s=1000)
    first = cell(s, clock, powercap, gpu)
    FAULTS[fault](gpu, powercap)
    broken = "cpu:package-0" if fault.startswith("rapl") else "gpu:0"
    healthy = "gpu:0" if broken == "cpu:package-0" else "cpu:package-0"
    later = [cell(s, clock, powercap, gpu) for _ in range(3)]
    assert len(s.records) == 4 and len(s.ledger.records(s.session_id)) == 4
    assert {c.status for c in first.components} == {"ok"}
    for r in later:
        comps = {c.name: c for c in r.components}
        assert set(comps) == {"gpu:0", "cpu:package-0"}
        assert comps[broken].status == "failed"
        assert comps[healthy].status == "ok"
        assert comps[healthy].energy_j == pytest.approx(20 if healthy.startswith("cpu") else 200, rel=0.01)
        assert "sensor failed" in r.summary() and not r.measured  # a failed counter is not "measured"
    assert broken in s.sampler.failed and s.sampler.failed[broken]


def test_a_transient_garbage_read_recovers_and_is_rebaselined(tmp_path, clock, powercap):
    s, gpu = rapl_and_gpu(tmp_path, clock, powercap, retry_s=3.0)
    cell(s, clock, powercap, gpu)
    powercap.set_raw(PKG, "garbage\n")
    failed = cell(s, clock, powercap, gpu)  # fails at its first tick, 1.5 s of the cell lost
    assert {c.name: c.status for c in failed.components}["cpu:package-0"] == "failed"
    powercap.set_raw(PKG, "500000000\n")  # readable again, at an unrelated value
    recovering = cell(s, clock, powercap, gpu)  # the retry falls inside this cell
    assert {c.name: c.status for c in recovering.components}["cpu:package-0"] == "failed"
    ok = cell(s, clock, powercap, gpu)
    comps = {c.name: c for c in ok.components}
    assert comps["cpu:package-0"].status == "ok" and comps["cpu:package-0"].energy_j == pytest.approx(20)
    assert not s.sampler.failed
    assert s.sampler.health["cpu:package-0"].recoveries == 1


def test_status_and_summaries_show_the_failed_sensor_in_a_real_shell(shell, powercap):
    from carbon_magic.extension import session_for
    from IPython.utils.capture import capture_output

    run(shell, "%%carbon -q\nx = 1")
    powercap.set_raw(PKG, "not a number\n")
    with capture_output() as cap:
        for _ in range(3):
            run(shell, "%%carbon\nx = 2")
    session = session_for(shell)
    assert len(session.records) == 4
    for r in session.records[1:]:
        assert {c.name: c.status for c in r.components}["cpu:package-0"] == "failed"
    assert cap.stdout.count("sensor failed") == 3
    with capture_output() as cap:
        shell.run_line_magic("carbon", "status")
    line = next(ln for ln in cap.stdout.splitlines() if "cpu:package-0" in ln)
    assert "FAILED" in line and "not a number" in line


# -- MIG -------------------------------------------------------------------------------------
BOARD = "GPU-5fd8a1e2-0000-1111-2222-333344445555"
OTHER = "GPU-0aaa0000-0000-1111-2222-333344445555"
SLICE = "MIG-7c1d3e55-aaaa-bbbb-cccc-ddddeeeeffff"


@pytest.mark.parametrize("entry", [f"MIG-{BOARD}/1/0", SLICE, SLICE[:16]])
@pytest.mark.parametrize("by_uuid", [True, False])
def test_a_mig_slice_is_billed_as_its_parent_board_and_says_so(tmp_path, clock, entry, by_uuid):
    gpus = [FakeGpu(OTHER, "0000:01:00.0"), FakeGpu(BOARD, "0000:41:00.0", power_mw=200_000, migs=(SLICE,))]
    sources, skipped = discover_nvml(FakeNvml(gpus, mig_by_uuid=by_uuid), env={"CUDA_VISIBLE_DEVICES": entry})
    (src,) = sources
    assert src.uuid == BOARD and src.mig == entry and skipped == []
    s = make_session(tmp_path, clock, sources)
    w = s.begin()
    gpus[1].energy_mj += 400_000
    clock.advance(2)
    r = s.end(w)
    (c,) = r.components
    assert c.energy_j == pytest.approx(400) and c.mig == entry
    assert "whole board, MIG slice" in r.summary()
    assert CellRecord.from_dict(json.loads(json.dumps(r.to_dict()))).components[0].mig == entry


def test_two_slices_of_one_board_bill_the_board_once():
    gpus = [FakeGpu(BOARD, "0000:41:00.0", migs=(SLICE, "MIG-99999999-aaaa-bbbb-cccc-ddddeeeeffff"))]
    spec = f"{SLICE},MIG-99999999-aaaa-bbbb-cccc-ddddeeeeffff"
    sources, _ = discover_nvml(FakeNvml(gpus), env={"CUDA_VISIBLE_DEVICES": spec})
    assert [s.uuid for s in sources] == [BOARD]


def test_an_unknown_mig_slice_hides_the_rest_like_cuda():
    gpus = [FakeGpu(BOARD, "0000:41:00.0", migs=(SLICE,))]
    sources, (s,) = discover_nvml(FakeNvml(gpus), env={"CUDA_VISIBLE_DEVICES": "MIG-00000000-nope,0"})
    assert sources == [] and "MIG-00000000-nope" in s.reason


# -- powercap roots ---------------------------------------------------------------------------
def real_tree(sys_root):
    """/sys/devices/virtual/powercap with control-type dirs, and /sys/class/powercap of symlinks to it."""
    devices = sys_root / "devices" / "virtual" / "powercap"
    rapl = FakePowercap(devices / "intel-rapl")
    (rapl.root / "enabled").write_text("1\n")
    rapl.add_zone("intel-rapl:0", "package-0", 5_000_000)
    rapl.add_zone("intel-rapl:0:0", "core", 1, parent="intel-rapl:0")
    rapl.add_zone("intel-rapl:0:2", "dram", 7, parent="intel-rapl:0")
    rapl.add_zone("intel-rapl:1", "psys", 9)
    mmio = FakePowercap(devices / "intel-rapl-mmio")
    mmio.add_zone("intel-rapl-mmio:0", "package-0", 123)
    cls = sys_root / "class" / "powercap"
    cls.mkdir(parents=True)
    for target in [devices / "intel-rapl", devices / "intel-rapl-mmio", devices / "intel-rapl" / "intel-rapl:0",
                   devices / "intel-rapl" / "intel-rapl:0" / "intel-rapl:0:0",
                   devices / "intel-rapl" / "intel-rapl:0" / "intel-rapl:0:2", devices / "intel-rapl" / "intel-rapl:1",
                   devices / "intel-rapl-mmio" / "intel-rapl-mmio:0"]:
        os.symlink(os.path.relpath(target, cls), cls / target.name)
    return devices, cls


@pytest.mark.parametrize("which", ["devices", "class", "control type", "zone mount"])
def test_zones_are_found_from_any_powercap_level(tmp_path, which):
    devices, cls = real_tree(tmp_path / "sys")
    root = {"devices": devices, "class": cls, "control type": devices / "intel-rapl",
            "zone mount": devices / "intel-rapl" / "intel-rapl:0"}[which]
    zones, skipped = discover_rapl(root)
    assert sorted(z.name for z in zones) == ["cpu:package-0", "dram:package-0"]
    assert skipped == []
    assert all("mmio" not in str(z.path) for z in zones)


# -- short cells and uncertainty ---------------------------------------------------------------
def test_a_thousand_pass_cells_never_read_zero(shell, powercap):
    import threading

    from carbon_magic.extension import session_for

    session = session_for(shell)
    stop = threading.Event()

    def package():  # a 5 W package whose counter moves in 10 ms steps, as time passes
        last = time.monotonic()
        while not stop.wait(0.01):
            now = time.monotonic()
            powercap.advance(PKG, 5.0 * (now - last))
            last = now

    writer = threading.Thread(target=package, daemon=True)
    writer.start()
    try:
        time.sleep(0.3)
        session.sampler.snapshot()  # the package's power is known before the cells
        shell.run_line_magic("carbon", "auto on")
        before = len(session.records)
        for _ in range(1000):
            shell.run_cell("pass", store_history=False)
        shell.run_line_magic("carbon", "auto off")
    finally:
        stop.set()
        writer.join()
    records = session.records[before:before + 1000]
    assert len(records) == 1000
    comps = [r.components[0] for r in records]
    assert [(i, c, r.duration_s) for i, (c, r) in enumerate(zip(comps, records)) if c.energy_j <= 0] == []
    assert not [c for c in comps if c.method == "counter" and c.energy_j == 0]
    assert all(c.status == "ok" for c in comps)


def nvml_session(tmp_path, clock, **gpu):
    g = FakeGpu("GPU-1", "0000:01:00.0", **gpu)
    sources, _ = discover_nvml(FakeNvml([g]), env={})
    return make_session(tmp_path, clock, sources), g


def test_nvml_counter_staleness_is_an_uncertainty_shown_with_plus_minus(tmp_path, clock):
    s, g = nvml_session(tmp_path, clock, energy_mj=0, power_mw=300_000)
    w = s.begin()
    g.energy_mj += 45_000  # 300 W × 150 ms
    clock.advance(0.15)
    r = s.end(w)
    (c,) = r.components
    assert c.method == "counter" and c.energy_j == pytest.approx(45)
    assert c.uncertainty_j == pytest.approx(15) and c.uncertainty_cause == "counter-resolution"  # ±33 %
    assert "45 J ± 15 J" in r.summary()
    d = r.to_dict()["components"][0]
    assert d["uncertainty_j"] == pytest.approx(15) and d["status"] == "ok"
    # a long cell: the same per-edge error is small, and no ± is shown
    w = s.begin()
    g.energy_mj += 3_000_000
    clock.advance(10)
    r = s.end(w)
    assert r.components[0].uncertainty_j == pytest.approx(15) and "±" not in r.summary()


def test_uncertainty_is_kept_in_json_and_csv_exports(tmp_path, clock):
    s, g = nvml_session(tmp_path, clock, energy_mj=0, power_mw=300_000)
    w = s.begin()
    g.energy_mj += 45_000
    clock.advance(0.15)
    s.end(w)
    report = Report.from_session(s)
    doc = json.loads(formats.render(report, ".json"))
    assert json.dumps(doc).count('"uncertainty_j"') >= 1
    rows = list(csv.DictReader(io.StringIO(formats.render(report, ".csv"))))
    assert float(rows[0]["energy_uncertainty_kwh"]) == pytest.approx(15 / 3.6e6)
    assert rows[0]["sensor_status"] == "ok"
    assert list(rows[0])[:2] == ["timestamp", "project_name"]


def test_polled_power_is_sampled_never_measured(tmp_path, clock):
    s, g = nvml_session(tmp_path, clock, energy_mj=None, power_mw=100_000)  # pre-Volta: no counter
    w = s.begin()
    for p in (250_000, 100_000, 250_000, 100_000):
        g.power_mw = p
        clock.advance(0.5)
        s.sampler.tick()
    r = s.end(w)
    (c,) = r.components
    assert c.method == "sampled" and not c.measured and not r.measured
    assert "sampled" in r.summary() and "measured" not in r.summary()
    assert c.uncertainty_cause == "sampling" and c.uncertainty_j >= 0.5 * 150 * 2  # spread of 150 W over 2 s
    # steady polled power still carries the aliasing floor: bursts locked to the interval show no spread
    w = s.begin()
    for _ in range(4):
        clock.advance(0.5)
        s.sampler.tick()
    (c,) = s.end(w).components
    assert c.uncertainty_j == pytest.approx(0.35 * c.energy_j)
    assert "±" in r.summary()
    row = next(csv.DictReader(io.StringIO(formats.render(Report.from_session(s), ".csv"))))
    assert row["measured"] == "sampled"


def test_records_written_before_uncertainty_existed_still_read():
    old = {"schema": "carbon_magic.record/1", "session_id": "s", "started_at": "2026-01-01T00:00:00.000Z",
           "ended_at": "2026-01-01T00:00:01.000Z", "duration_s": 1.0, "status": "ok", "energy_j": 5.0,
           "components": [{"name": "cpu", "kind": "cpu", "method": "estimated", "energy_j": 5.0}],
           "intensity_g_per_kwh": 400.0, "intensity": {}, "emissions_g": 0.0005}
    r = CellRecord.from_dict(old)
    c = r.components[0]
    assert (c.status, c.uncertainty_j, c.uncertainty_cause, c.mig) == ("ok", 0.0, "", None)
    assert r.uncertainty_j == 0 and "±" not in r.summary()


# -- the interpreter blocked for seconds by C code holding the GIL -------------------------------
WRITER = textwrap.dedent("""
    import os, sys, time
    path, truth, watts, rng = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
    t0 = time.monotonic()
    while True:
        total = int(watts * (time.monotonic() - t0) * 1e6)
        for name, value in ((path, total % rng), (truth, total)):
            with open(name + ".tmp", "w") as f:
                f.write(f"{value}\\n")
            os.replace(name + ".tmp", name)
        time.sleep(0.005)
""")


def test_a_cell_holding_the_gil_for_seconds_is_right_or_marked(tmp_path, powercap):
    import ctypes

    rng = 200_000_000  # a 200 J counter; ceiling 2 × 100 W: one wrap per second at most, safe gap 1 s
    zone = powercap.add_zone(PKG, "package-0", 0, max_range_uj=rng, max_power_w=100)
    truth = tmp_path / "truth_uj"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(zone / "energy_uj"), str(truth), "100", str(rng)])
    try:
        deadline = time.monotonic() + 10
        while not truth.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        settings = Settings.from_env({"CARBON_MAGIC_DATA_DIR": str(tmp_path), "CARBON_MAGIC_SCOPE": "machine"})
        s = CarbonSession(settings, discovery=Discovery(sources=cpu_zones(powercap)),
                          ledger=Ledger(tmp_path / "l.db"), cuda_sync=lambda: []).start()
        try:
            assert s.sampler.interval_s <= 0.5
            time.sleep(1.5)  # the sampler learns the power
            t0 = int(truth.read_text())
            w = s.begin()
            ctypes.PyDLL(None).usleep(5_000_000)  # C code holding the GIL: no Python thread runs
            r = s.end(w)
            t1 = int(truth.read_text())
        finally:
            s.close()
    finally:
        writer.kill()
        writer.wait()
    (c,) = r.components
    real_j = (t1 - t0) / 1e6
    assert real_j > 2 * rng / 1e6  # the gap did hold more than one wrap
    assert c.status == "ambiguous" and "hide counter wraps" in r.summary()
    assert abs(c.energy_j - real_j) <= c.uncertainty_j + 5
