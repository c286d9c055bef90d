"""Fakes at the hardware boundary only: a powercap tree on disk, a small NVML, a clock."""
from __future__ import annotations

from pathlib import Path


class FakeClock:
    """Monotonic and wall time that tests step by hand."""

    def __init__(self, t: float = 1000.0, wall: float = 1_790_000_000.0):
        self.t = t
        self.wall0 = wall - t

    def __call__(self) -> float:
        return self.t

    def wall(self) -> float:
        return self.wall0 + self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


class FakePowercap:
    """A powercap tree in a temp dir whose counters tests advance (wraps included)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def add_zone(self, dirname: str, name: str, energy_uj: int = 0, max_range_uj: int = 262_143_328_850,
                 parent: str | None = None) -> Path:
        d = (self.root / parent / dirname) if parent else (self.root / dirname)
        d.mkdir(parents=True, exist_ok=True)
        (d / "name").write_text(name + "\n")
        (d / "max_energy_range_uj").write_text(f"{max_range_uj}\n")
        (d / "energy_uj").write_text(f"{energy_uj}\n")
        return d

    def path(self, dirname: str, parent: str | None = None) -> Path:
        return (self.root / parent / dirname) if parent else (self.root / dirname)

    def read(self, dirname: str, parent: str | None = None) -> int:
        return int((self.path(dirname, parent) / "energy_uj").read_text())

    def advance(self, dirname: str, joules: float, parent: str | None = None) -> None:
        d = self.path(dirname, parent)
        max_range = int((d / "max_energy_range_uj").read_text())
        value = (self.read(dirname, parent) + int(round(joules * 1e6))) % max_range
        with open(d / "energy_uj", "w") as f:  # in place, as sysfs does
            f.write(f"{value}\n")


class NVMLError(Exception):
    def __init__(self, value: int):
        super().__init__(f"NVML error {value}")
        self.value = value


class FakeGpu:
    def __init__(self, uuid: str, bus_id: str, energy_mj: int | None = 0, power_mw: int | None = 50_000):
        self.uuid = uuid
        self.bus_id = bus_id
        self.energy_mj = energy_mj  # None: counter NOT_SUPPORTED
        self.power_mw = power_mw  # None: power NOT_SUPPORTED
        self.lost = False


class FakeNvml:
    """The few pynvml calls we use, with NVML's error codes."""

    NVMLError = NVMLError

    def __init__(self, gpus: list[FakeGpu], init_error: int | None = None):
        self.gpus = gpus
        self.init_error = init_error
        self.init_calls = 0
        self.shutdown_calls = 0

    def nvmlInit(self):
        if self.init_error is not None:
            raise NVMLError(self.init_error)
        self.init_calls += 1

    def nvmlShutdown(self):
        self.shutdown_calls += 1

    def nvmlDeviceGetCount(self):
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, i):
        return self.gpus[i]

    def nvmlDeviceGetUUID(self, h):
        return h.uuid

    def nvmlDeviceGetPciInfo(self, h):
        class Pci:
            busId = h.bus_id.encode()
        return Pci()

    def _check(self, h):
        if h.lost:
            raise NVMLError(15)  # GPU_IS_LOST

    def nvmlDeviceGetTotalEnergyConsumption(self, h):
        self._check(h)
        if h.energy_mj is None:
            raise NVMLError(3)  # NOT_SUPPORTED
        return h.energy_mj

    def nvmlDeviceGetPowerUsage(self, h):
        self._check(h)
        if h.power_mw is None:
            raise NVMLError(3)
        return h.power_mw
