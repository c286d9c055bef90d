"""Fakes at the hardware boundary only: a powercap tree on disk, a small NVML, a clock, and the
disk under SQLite (full, read-only, failing or slow)."""
from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from carbon_magic.intensity.provider import IntensityValue


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

    def add_zone(self, dirname: str, name: str, energy_uj: int = 0, max_range_uj: int | None = 262_143_328_850,
                 parent: str | None = None, max_power_w: float | None = None) -> Path:
        """max_range_uj None: no readable max_energy_range_uj; max_power_w: a constraint_0_max_power_uw file."""
        d = (self.root / parent / dirname) if parent else (self.root / dirname)
        d.mkdir(parents=True, exist_ok=True)
        (d / "name").write_text(name + "\n")
        if max_range_uj is not None:
            (d / "max_energy_range_uj").write_text(f"{max_range_uj}\n")
        if max_power_w is not None:
            (d / "constraint_0_max_power_uw").write_text(f"{int(max_power_w * 1e6)}\n")
        (d / "energy_uj").write_text(f"{energy_uj}\n")
        return d

    def set_raw(self, dirname: str, text: str, parent: str | None = None) -> None:
        """Write anything to energy_uj: a reset value, or garbage."""
        with open(self.path(dirname, parent) / "energy_uj", "w") as f:
            f.write(text)

    def path(self, dirname: str, parent: str | None = None) -> Path:
        return (self.root / parent / dirname) if parent else (self.root / dirname)

    def read(self, dirname: str, parent: str | None = None) -> int:
        return int((self.path(dirname, parent) / "energy_uj").read_text())

    def advance(self, dirname: str, joules: float, parent: str | None = None) -> None:
        d = self.path(dirname, parent)
        range_file = d / "max_energy_range_uj"
        max_range = int(range_file.read_text()) if range_file.exists() else 2**32  # the hardware still wraps
        value = (self.read(dirname, parent) + int(round(joules * 1e6))) % max_range
        # A sysfs read is one atomic snapshot: replace the file whole, so that a reader on another
        # thread never sees it half-written (truncated, empty), which sysfs never shows.
        tmp = d / "energy_uj.tmp"
        tmp.write_text(f"{value}\n")
        os.replace(tmp, d / "energy_uj")


class NVMLError(Exception):
    def __init__(self, value: int):
        super().__init__(f"NVML error {value}")
        self.value = value


class FakeGpu:
    def __init__(self, uuid: str, bus_id: str, energy_mj: int | None = 0, power_mw: int | None = 50_000,
                 migs: tuple[str, ...] = (), model: str | None = None):
        self.uuid = uuid
        self.model = model  # the product name NVML gives (nvmlDeviceGetName); None: NOT_SUPPORTED
        self.bus_id = bus_id
        self.energy_mj = energy_mj  # None: counter NOT_SUPPORTED; any other object is returned as is
        self.power_mw = power_mw  # None: power NOT_SUPPORTED
        self.lost = False
        self.raises: Exception | None = None  # raised by every energy/power call (a non-NVML error)
        self.migs = [FakeMig(u, self) for u in migs]  # MIG devices (slices) of this board


class FakeMig:
    def __init__(self, uuid: str, parent: FakeGpu):
        self.uuid = uuid
        self.parent = parent


class FakeNvml:
    """The few pynvml calls we use, with NVML's error codes."""

    NVMLError = NVMLError

    def __init__(self, gpus: list[FakeGpu], init_error: int | None = None, mig_by_uuid: bool = True):
        self.gpus = gpus
        self.init_error = init_error
        self.mig_by_uuid = mig_by_uuid  # False: bindings that cannot look up a MIG device by its UUID
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

    def nvmlDeviceGetHandleByUUID(self, uuid):
        for g in self.gpus:
            if g.uuid == uuid:
                return g
            for m in g.migs:
                if m.uuid == uuid and self.mig_by_uuid:
                    return m
        raise NVMLError(6)  # NOT_FOUND

    def nvmlDeviceGetDeviceHandleFromMigDeviceHandle(self, h):
        if not isinstance(h, FakeMig):
            raise NVMLError(2)  # INVALID_ARGUMENT
        return h.parent

    def nvmlDeviceGetMaxMigDeviceCount(self, h):
        return len(h.migs)

    def nvmlDeviceGetMigDeviceHandleByIndex(self, h, i):
        if i >= len(h.migs):
            raise NVMLError(6)
        return h.migs[i]

    def _check(self, h):
        if h.raises is not None:
            raise h.raises
        if h.lost:
            raise NVMLError(15)  # GPU_IS_LOST

    def nvmlDeviceGetTotalEnergyConsumption(self, h):
        self._check(h)
        if h.energy_mj is None:
            raise NVMLError(3)  # NOT_SUPPORTED
        return h.energy_mj

    def nvmlDeviceGetName(self, h):
        if h.model is None:
            raise NVMLError(3)
        return h.model.encode()

    def nvmlDeviceGetPowerUsage(self, h):
        self._check(h)
        if h.power_mw is None:
            raise NVMLError(3)
        return h.power_mw


class StepIntensity:
    """A grid whose intensity steps from `before` to `after` at `change_at_wall` (unix seconds): an
    `IntensitySource` injected into a session instead of the intensity service and its network."""

    def __init__(self, change_at_wall: float, before: float = 400.0, after: float = 250.0, zone: str = "XX",
                 provider: str = "test", kind: str = "historical"):
        self.change_at, self.before, self.after = change_at_wall, before, after
        self._zone, self._provider, self._kind = zone, provider, kind

    @property
    def zone(self) -> str:
        return self._zone

    def at(self, wall_s: float) -> IntensityValue:
        value = self.before if wall_s < self.change_at else self.after
        return IntensityValue(value, {"provider": self._provider, "zone": self._zone, "kind": self._kind,
                                      "fetched_at": None})

    def prefetch(self, wall_s: float) -> None:
        pass

    def notices(self) -> list[str]:
        return []

    def set_zone(self, zone) -> None:
        pass

    def close(self) -> None:
        pass


class FaultyDisk:
    """The disk under the ledger's SQLite: give `connect` to `Ledger(connect=...)`.

    `fault` "full", "readonly" or "io" makes every write fail as SQLite reports it when the
    operating system says ENOSPC, EROFS or EIO; "cantopen" makes opening fail. `delay_s` makes
    every call that slow (a network home directory). Reads and everything else are real SQLite.
    """

    ERRORS = {"full": (13, "database or disk is full"), "readonly": (8, "attempt to write a readonly database"),
              "io": (10, "disk I/O error"), "cantopen": (14, "unable to open database file")}
    WRITES = ("INSERT", "UPDATE", "DELETE", "CREATE", "COMMIT", "BEGIN IMMEDIATE", "BEGIN EXCLUSIVE")

    def __init__(self, fault: str | None = None, delay_s: float = 0.0):
        self.fault, self.delay_s = fault, delay_s

    def error(self) -> sqlite3.OperationalError:
        code, text = self.ERRORS[self.fault]
        exc = sqlite3.OperationalError(text)
        exc.sqlite_errorcode = code  # as sqlite3 sets it (Python 3.11+)
        return exc

    def connect(self, *args, **kwargs):
        time.sleep(self.delay_s)
        if self.fault == "cantopen":
            raise self.error()
        return _DiskConnection(sqlite3.connect(*args, **kwargs), self)


class _DiskConnection:
    def __init__(self, db, disk: FaultyDisk):
        self._db, self._disk = db, disk

    def _check(self, sql: str) -> None:
        time.sleep(self._disk.delay_s)
        if self._disk.fault and (sql.lstrip().upper().startswith(FaultyDisk.WRITES) or
                                 (sql.lstrip().upper().startswith("PRAGMA") and "=" in sql)):
            raise self._disk.error()

    def execute(self, sql, *args):
        self._check(sql)
        return self._db.execute(sql, *args)

    def executemany(self, sql, rows):
        self._check(sql)
        return self._db.executemany(sql, rows)

    @property
    def in_transaction(self) -> bool:
        return self._db.in_transaction

    def close(self) -> None:
        self._db.close()
