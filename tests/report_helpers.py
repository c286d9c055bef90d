"""Real CarbonSessions for report tests: fake hardware (powercap, NVML, psutil), fake clock.

Cells are run through the session's own begin()/end(), so the records are built by the real
record builder; only the hardware and the clock are fakes.
"""
from __future__ import annotations

from collections import namedtuple

from carbon_magic.config import Settings
from carbon_magic.ledger import Ledger
from carbon_magic.session import CarbonSession
from carbon_magic.sources import discover

from fakes import FakeGpu, FakeNvml

_Mem = namedtuple("_Mem", "total")
_Times = namedtuple("_Times", "user system idle")


class FakePsutil:
    """The two psutil calls discovery makes, fixed: 8 GB of RAM (estimated at 0.3725 W/GB)."""

    def cpu_times(self):
        return _Times(1.0, 1.0, 8.0)

    def cpu_count(self):
        return 4

    def virtual_memory(self):
        return _Mem(8_000_000_000)


class Bench:
    """A session on fake hardware: RAPL package (measured), RAM estimated, optionally one GPU."""

    def __init__(self, tmp_path, clock, powercap, gpu: bool = False, pue: float = 1.0, zone: str | None = None,
                 gpu_model: str | None = None, **settings_kw):
        powercap.add_zone("intel-rapl:0", "package-0", 0)
        self.clock, self.powercap = clock, powercap
        self.gpu = FakeGpu("GPU-0000", "0000:01:00.0", energy_mj=0, model=gpu_model) if gpu else None
        nvml = FakeNvml([self.gpu]) if gpu else None
        settings = Settings(zone=zone, pue=pue, data_dir=tmp_path / "data", powercap_root=str(powercap.root),
                            **{"scope": "machine", **settings_kw})
        disc = discover(str(powercap.root), nvml=nvml, env={}, psutil_module=FakePsutil())
        self.session = CarbonSession(settings, disc, Ledger.in_dir(tmp_path / "data"), clock=clock,
                                     wall=clock.wall).start(thread=False)

    def cell(self, seconds: float, cpu_j: float, gpu_j: float = 0.0, label=None, count=None,
             code="x = 1", status="ok", units=None):
        if self.gpu is not None:  # the board's power sensor agrees with its counter
            self.gpu.power_mw = int(round(gpu_j / seconds * 1000))
        w = self.session.begin(label=label, execution_count=count, code_head=code, units=units)
        for _ in range(2):  # two halves, with a sampler tick between
            self.clock.advance(seconds / 2)
            self.powercap.advance("intel-rapl:0", cpu_j / 2)
            if self.gpu is not None:
                self.gpu.energy_mj += int(round(gpu_j / 2 * 1000))
            self.session.sampler.tick()
        return self.session.end(w, status, sync=False)

    def idle(self, seconds: float, cpu_j: float):
        if self.gpu is not None:
            self.gpu.power_mw = 0
        self.clock.advance(seconds)
        self.powercap.advance("intel-rapl:0", cpu_j)
        self.session.sampler.tick()

    def close(self):
        self.session.close()
