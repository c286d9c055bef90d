import pytest

from carbon_magic.sampler import Sampler
from carbon_magic.sources.nvml import discover_nvml
from fakes import FakeGpu, FakeNvml

UUIDS = ["GPU-aaaa1111-0000", "GPU-bbbb2222-0000", "GPU-cccc3333-0000"]


def three_gpus():
    # NVML index order differs from PCI bus order on purpose.
    return [FakeGpu(UUIDS[0], "0000:81:00.0"), FakeGpu(UUIDS[1], "0000:01:00.0"), FakeGpu(UUIDS[2], "0000:41:00.0")]


def test_counter_in_millijoules_becomes_joules():
    gpu = FakeGpu(UUIDS[0], "0000:01:00.0", energy_mj=10_000)
    (src,), skipped = discover_nvml(FakeNvml([gpu]), env={})
    assert (src.name, src.method, src.kind) == ("gpu:0", "counter", "gpu")
    src.read(0.0)
    gpu.energy_mj += 2_500
    r = src.read(1.0)
    assert r.energy_j == pytest.approx(2.5)
    assert r.power_w == pytest.approx(50.0)  # 50,000 mW


def test_without_counter_power_is_integrated_and_marked_sampled():
    gpu = FakeGpu(UUIDS[0], "0000:01:00.0", energy_mj=None, power_mw=100_000)
    (src,), _ = discover_nvml(FakeNvml([gpu]), env={})
    assert src.method == "sampled"
    src.read(0.0)
    gpu.power_mw = 200_000
    assert src.read(2.0).energy_j == pytest.approx(300.0)  # trapezoid: (100+200)/2 W × 2 s


def test_gpu_without_energy_or_power_is_skipped():
    gpu = FakeGpu(UUIDS[0], "0000:01:00.0", energy_mj=None, power_mw=None)
    sources, (s,) = discover_nvml(FakeNvml([gpu]), env={})
    assert sources == [] and s.name == "gpu:0"


@pytest.mark.parametrize("spec, expected", [
    ("0,2", [UUIDS[1], UUIDS[0]]),  # CUDA ordinals follow PCI bus order
    ("GPU-cccc", [UUIDS[2]]),  # UUID prefix
    (f"{UUIDS[0]},1", [UUIDS[0], UUIDS[2]]),
    ("", []),
])
def test_cuda_visible_devices(spec, expected):
    sources, _ = discover_nvml(FakeNvml(three_gpus()), env={"CUDA_VISIBLE_DEVICES": spec})
    assert [s.uuid for s in sources] == expected
    assert [s.name for s in sources] == [f"gpu:{i}" for i in range(len(expected))]


def test_invalid_visible_entry_hides_the_rest():
    sources, skipped = discover_nvml(FakeNvml(three_gpus()), env={"CUDA_VISIBLE_DEVICES": "1,7,0"})
    assert [s.uuid for s in sources] == [UUIDS[2]]
    assert "'7'" in skipped[0].reason


@pytest.mark.parametrize("code, words", [(12, "not found"), (18, "versions differ"), (9, "not loaded")])
def test_init_failures_skip_with_reason(code, words):
    sources, (s,) = discover_nvml(FakeNvml([], init_error=code), env={})
    assert sources == [] and words in s.reason


def test_counter_reset_is_estimated_from_power_never_negative():
    gpu = FakeGpu(UUIDS[0], "0000:01:00.0", energy_mj=50_000)  # 50 W
    (src,), _ = discover_nvml(FakeNvml([gpu]), env={})
    src.read(0.0)
    gpu.energy_mj = 1_000  # driver reload
    r = src.read(1.0)
    # the reset interval is power × time, said to be uncertain by all of it, and counted
    assert r.energy_j == pytest.approx(50.0) and r.uncertainty_j == pytest.approx(50.0) and r.resets == 1
    gpu.energy_mj = 3_000
    assert src.read(2.0).energy_j == pytest.approx(52.0)  # re-baselined on the reset value
    assert src.resets == 1


def test_lost_gpu_is_marked_failed_and_others_keep_reading(clock):
    gpus = [FakeGpu(UUIDS[0], "0000:01:00.0"), FakeGpu(UUIDS[1], "0000:02:00.0")]
    sources, _ = discover_nvml(FakeNvml(gpus), env={})
    sampler = Sampler(sources, 0.5, clock=clock, wall=clock.wall)
    gpus[0].energy_mj += 1000
    gpus[1].energy_mj += 1000
    clock.advance(1)
    sampler.tick()
    gpus[0].lost = True
    gpus[1].energy_mj += 4000
    clock.advance(1)
    snap = sampler.tick()
    assert snap.failed == {"gpu:0"}
    assert snap.energy_j == {"gpu:0": pytest.approx(1.0), "gpu:1": pytest.approx(5.0)}
