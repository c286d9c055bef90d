from collections import namedtuple

import pytest

from carbon_magic.sources.estimators import CpuEstimator, RamEstimator

Times = namedtuple("Times", "user nice system idle iowait guest")


class FakeProcStat:
    """System-wide CPU times as /proc/stat would report them, advanced by hand."""

    def __init__(self, cpus):
        self.cpus = cpus
        self.t = Times(0.0, 0.0, 0.0, 0.0, 0.0, 0.0)

    def run(self, seconds, busy_fraction):
        busy = seconds * self.cpus * busy_fraction
        self.t = self.t._replace(user=self.t.user + busy, guest=self.t.guest + busy / 2,
                                 idle=self.t.idle + seconds * self.cpus - busy)

    def __call__(self):
        return self.t


def test_cpu_estimate_moves_with_load():
    stat = FakeProcStat(4)
    est = CpuEstimator(stat, logical_cpus=4)
    est.read(0.0)
    stat.run(10, 0.0)
    idle = est.read(10.0)
    stat.run(10, 1.0)
    busy = est.read(20.0)
    assert idle.power_w == pytest.approx(4 * 0.74)
    assert busy.power_w == pytest.approx(4 * 3.5)  # guest time is not counted twice
    assert busy.energy_j == pytest.approx(10 * 4 * 0.74 + 10 * 4 * 3.5)
    assert est.method == "estimated"


def test_tdp_override_scales_the_model():
    stat = FakeProcStat(8)
    est = CpuEstimator(stat, logical_cpus=8, tdp_w=65.0)
    est.read(0.0)
    stat.run(1, 0.5)
    p = est.read(1.0).power_w
    assert p == pytest.approx(65 * 0.74 / 3.5 + (65 - 65 * 0.74 / 3.5) * 0.5)


def test_ram_estimate_from_installed_memory():
    ram = RamEstimator(16 * 10**9)
    ram.read(0.0)
    r = ram.read(10.0)
    assert r.power_w == pytest.approx(16 * 0.3725)
    assert r.energy_j == pytest.approx(10 * 16 * 0.3725)
