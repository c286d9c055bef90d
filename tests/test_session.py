import pytest

from carbon_magic.config import Settings
from carbon_magic.ledger import Ledger
from carbon_magic.session import CarbonSession
from carbon_magic.sources import Discovery, discover
from carbon_magic.sources.nvml import discover_nvml
from fakes import FakeGpu, FakeNvml, StepIntensity


def make_session(tmp_path, clock, sources, **kw):
    settings = Settings.from_env({"CARBON_MAGIC_DATA_DIR": str(tmp_path), "CARBON_MAGIC_SCOPE": "machine"})
    for k, v in kw.pop("settings", {}).items():
        setattr(settings, k, v)
    return CarbonSession(settings, discovery=Discovery(sources=sources), ledger=Ledger(tmp_path / "l.db"),
                         clock=clock, wall=clock.wall, cuda_sync=lambda: [], **kw).start(thread=False)


def rapl_session(tmp_path, clock, powercap, **kw):
    powercap.add_zone("intel-rapl:0", "package-0")
    d = discover(powercap.root, nvml=None, cpu_tdp_w=None)
    return make_session(tmp_path, clock, [s for s in d.sources if s.kind == "cpu"], **kw)


def run_cell(session, clock, powercap, seconds, watts, step=0.5):
    w = session.begin(label="cell")
    t = 0.0
    while t < seconds - 1e-9:
        dt = min(step, seconds - t)
        powercap.advance("intel-rapl:0", watts * dt)
        clock.advance(dt)
        session.sampler.tick()
        t += dt
    return session.end(w)


def test_cell_energy_from_the_counter(tmp_path, clock, powercap):
    s = rapl_session(tmp_path, clock, powercap)
    r = run_cell(s, clock, powercap, 10, 20)
    assert r.energy_j == pytest.approx(200)
    assert [(c.name, c.method) for c in r.components] == [("cpu:package-0", "counter")]
    assert r.measured and r.status == "ok"
    assert r.emissions_g == pytest.approx(200 / 3.6e6 * 458.29)
    assert s.ledger.records(s.session_id)[0].to_dict() == r.to_dict()


def test_a_cell_spanning_an_intensity_change_uses_both_values(tmp_path, clock, powercap):
    change = clock.wall() + 4.0
    s = rapl_session(tmp_path, clock, powercap, intensity=StepIntensity(change, 100.0, 500.0))
    r = run_cell(s, clock, powercap, 10, 36)  # 360 J: 144 J before the change, 216 J after
    expected = (144 * 100 + 216 * 500) / 3.6e6
    assert r.emissions_g == pytest.approx(expected)
    assert r.intensity_g_per_kwh == pytest.approx(expected / (360 / 3.6e6))
    assert [seg["intensity_g_per_kwh"] for seg in r.intensity_segments] == [100.0, 500.0]
    assert sum(seg["energy_j"] for seg in r.intensity_segments) == pytest.approx(360)
    assert r.intensity["kind"] == "historical"


def test_pue_scales_energy_and_is_recorded(tmp_path, clock, powercap):
    s = rapl_session(tmp_path, clock, powercap, settings={"pue": 1.5})
    r = run_cell(s, clock, powercap, 2, 50)
    assert r.components[0].energy_j == pytest.approx(100)
    assert r.energy_j == pytest.approx(150) and r.pue == 1.5


def test_cell_shorter_than_counter_resolution_is_not_zero(tmp_path, clock):
    gpu = FakeGpu("GPU-1", "0000:01:00.0", energy_mj=0, power_mw=300_000)
    sources, _ = discover_nvml(FakeNvml([gpu]), env={})
    s = make_session(tmp_path, clock, sources)
    clock.advance(1.0)
    s.sampler.tick()
    w = s.begin()
    clock.advance(0.03)  # the 100 ms counter did not move
    r = s.end(w)
    (c,) = r.components
    assert c.method == "sampled"
    assert c.energy_j == pytest.approx(300 * 0.03)
    assert r.emissions_g > 0


def test_gpu_lost_mid_cell_keeps_the_record(tmp_path, clock, powercap):
    powercap.add_zone("intel-rapl:0", "package-0")
    gpu = FakeGpu("GPU-1", "0000:01:00.0", energy_mj=0)
    gpus, _ = discover_nvml(FakeNvml([gpu]), env={})
    cpu = [z for z in discover(powercap.root, nvml=None).sources if z.kind == "cpu"]
    s = make_session(tmp_path, clock, gpus + cpu)
    w = s.begin()
    gpu.energy_mj += 5_000
    powercap.advance("intel-rapl:0", 10)
    clock.advance(1)
    s.sampler.tick()
    gpu.lost = True
    powercap.advance("intel-rapl:0", 10)
    clock.advance(1)
    r = s.end(w)
    comps = {c.name: c for c in r.components}
    assert comps["gpu:0"].status == "failed" and comps["gpu:0"].energy_j == pytest.approx(5)
    assert comps["cpu:package-0"].status == "ok" and comps["cpu:package-0"].energy_j == pytest.approx(20)
    assert r.energy_j == pytest.approx(25)


def test_idle_energy_between_cells(tmp_path, clock, powercap):
    s = rapl_session(tmp_path, clock, powercap)
    run_cell(s, clock, powercap, 2, 10)
    powercap.advance("intel-rapl:0", 30)  # idle between cells
    clock.advance(3)
    s.sampler.tick()
    run_cell(s, clock, powercap, 2, 10)
    t = s.totals()
    assert t["cells_energy_j"] == pytest.approx(40)
    assert t["idle_energy_j"] == pytest.approx(30)
    assert s.cumulative_energy_j == pytest.approx(70)


def test_cuda_sync_runs_before_the_end_snapshot_unless_opted_out(tmp_path, clock, powercap):
    calls = []
    powercap.add_zone("intel-rapl:0", "package-0")
    d = discover(powercap.root, nvml=None)
    s = CarbonSession(Settings.from_env({"CARBON_MAGIC_SCOPE": "machine"}),
                      discovery=Discovery([z for z in d.sources if z.kind == "cpu"]),
                      ledger=Ledger(tmp_path / "l.db"), clock=clock, wall=clock.wall,
                      cuda_sync=lambda: calls.append("sync") or powercap.advance("intel-rapl:0", 7)).start(thread=False)
    r = s.end(s.begin())
    assert calls == ["sync"] and r.energy_j == pytest.approx(7)  # work finishing in the sync is billed
    s.end(s.begin(), sync=False)
    assert calls == ["sync"]


def test_short_cell_where_the_counter_ticked_uses_power_not_the_whole_update(tmp_path, clock):
    gpu = FakeGpu("GPU-1", "0000:01:00.0", energy_mj=0, power_mw=200_000)
    sources, _ = discover_nvml(FakeNvml([gpu]), env={})
    s = make_session(tmp_path, clock, sources)
    w = s.begin()
    gpu.energy_mj += 20_000  # one 100 ms update of 200 W landed inside a 20 ms cell
    clock.advance(0.02)
    (c,) = s.end(w).components
    assert c.method == "sampled" and c.energy_j == pytest.approx(200 * 0.02)


def test_without_a_driver_pynvml_is_not_imported(monkeypatch):
    import sys

    from carbon_magic.sources import nvml

    monkeypatch.setattr(nvml, "DRIVER_PATHS", ("/nonexistent/nvidia",))
    monkeypatch.delitem(sys.modules, "pynvml", raising=False)
    sources, (s,) = nvml.discover_nvml(None, env={})
    assert sources == [] and "no NVIDIA driver" in s.reason
    assert "pynvml" not in sys.modules
