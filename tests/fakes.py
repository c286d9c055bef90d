"""Fakes at the hardware boundary only: a powercap tree and a /proc tree on disk, a small NVML, a clock,
and the disk under SQLite (full, read-only, failing or slow)."""
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


class FakeProc:
    """A /proc tree in a temp dir: /proc/stat, /proc/<pid>/stat, task/<pid>/children, fd links.

    CPU times are given in seconds and written in clock ticks (100 per second), as Linux does.
    `children_files=False` leaves out task/*/children (kernels without CONFIG_PROC_CHILDREN).
    """

    TICKS = 100

    def __init__(self, root: Path, cpus: int = 2, children_files: bool = True):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.cpus = cpus
        self.children_files = children_files
        self.procs: dict[int, dict] = {}
        self.set_machine(0.0)

    def set_machine(self, busy_s: float, idle_s: float = 0.0) -> None:
        """Total busy CPU time of the machine (all CPUs), as user time in /proc/stat."""
        b, i = int(round(busy_s * self.TICKS)), int(round(idle_s * self.TICKS))
        lines = [f"cpu  {b} 0 0 {i} 0 0 0 0 0 0"]
        lines += [f"cpu{k} {b // self.cpus} 0 0 {i // self.cpus} 0 0 0 0 0 0" for k in range(self.cpus)]
        self._write(self.root / "stat", "\n".join(lines + ["intr 0", "ctxt 0", ""]))

    def add_process(self, pid: int, ppid: int, cpu_s: float = 0.0, children_cpu_s: float = 0.0,
                    start: int = 1000) -> None:
        self.procs[pid] = {"ppid": ppid, "cpu": cpu_s, "ccpu": children_cpu_s, "start": start}
        (self.root / str(pid) / "task" / str(pid)).mkdir(parents=True, exist_ok=True)
        (self.root / str(pid) / "fd").mkdir(exist_ok=True)
        self._write_stat(pid)
        self._write_children()

    def set_cpu(self, pid: int, cpu_s: float, children_cpu_s: float | None = None) -> None:
        self.procs[pid]["cpu"] = cpu_s
        if children_cpu_s is not None:
            self.procs[pid]["ccpu"] = children_cpu_s
        self._write_stat(pid)

    def reap(self, pid: int) -> None:
        """The process exits and its parent waits for it: its time moves into the parent's cutime."""
        p = self.procs.pop(pid)
        parent = self.procs.get(p["ppid"])
        if parent is not None:
            parent["ccpu"] += p["cpu"] + p["ccpu"]
            self._write_stat(p["ppid"])
        import shutil

        shutil.rmtree(self.root / str(pid))
        self._write_children()

    def open_fd(self, pid: int, fd: int, target: str) -> None:
        os.symlink(target, self.root / str(pid) / "fd" / str(fd))

    def _write_stat(self, pid: int) -> None:
        p = self.procs[pid]
        fields = ["S", p["ppid"], pid, pid, 0, -1, 4194304, 0, 0, 0, 0, int(round(p["cpu"] * self.TICKS)), 0,
                  int(round(p["ccpu"] * self.TICKS)), 0, 20, 0, 1, 0, p["start"], 0, 0]
        self._write(self.root / str(pid) / "stat", f"{pid} (py (kernel)) " + " ".join(map(str, fields)) + "\n")

    def _write_children(self) -> None:
        if not self.children_files:
            return
        for pid in self.procs:
            kids = [str(k) for k, v in self.procs.items() if v["ppid"] == pid]
            self._write(self.root / str(pid) / "task" / str(pid) / "children", " ".join(kids) + (" " if kids else ""))

    @staticmethod
    def _write(path: Path, text: str) -> None:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text)
        os.replace(tmp, path)


class LoadCounter:
    """A RAPL package whose counter follows this machine's real load (a fake counter for real processes).

    An `opener` for RaplZone (`discover(..., rapl_opener=LoadCounter(...))`): reading the zone's
    `energy_uj` returns the energy a package drawing `idle_w` + `w_per_cpu` × busy CPUs has used
    since the counter was made, the busy CPU time (user + nice + system, as attribution.procfs
    reads it) taken from /proc/stat at the moment of the read, so nothing lags behind the load.
    Every other path opens as usual.
    """

    def __init__(self, energy_file, idle_w: float = 20.0, w_per_cpu: float = 10.0, proc_stat: str = "/proc/stat"):
        import time

        self._now = time.monotonic
        self.energy_file = os.path.realpath(energy_file)
        self.idle_w, self.w_per_cpu, self.proc_stat = idle_w, w_per_cpu, proc_stat
        self.tick_s = 1.0 / (os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100)
        self._t0, self._busy0 = self._now(), self.busy_s()

    def busy_s(self) -> float:
        with open(self.proc_stat) as f:
            v = f.readline().split()[1:4]
        return sum(int(x) for x in v) * self.tick_s

    def energy_j(self) -> float:
        return self.idle_w * (self._now() - self._t0) + self.w_per_cpu * (self.busy_s() - self._busy0)

    def __call__(self, path, mode="r", *args, **kwargs):
        if os.path.realpath(path) == self.energy_file:
            import io

            return io.BytesIO(f"{int(self.energy_j() * 1e6)}\n".encode())
        return open(path, mode, *args, **kwargs)


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
        self.processes: list[FakeProcessInfo] = []  # compute processes (nvmlDeviceGetComputeRunningProcesses)
        self.samples: list[FakeUtilSample] = []  # per-process utilisation samples, oldest first
        self.process_util_error: int | None = None  # e.g. 3 NOT_SUPPORTED (MIG, pre-Maxwell)
        self.minor = 0  # /dev/nvidia<minor>

    def run(self, pid: int, used_bytes: int | None) -> None:
        """A process opens a compute context holding `used_bytes` of memory (None: not available)."""
        self.processes.append(FakeProcessInfo(pid, used_bytes))

    def sample(self, pid: int, time_us: int, sm: int, mem: int = 0) -> None:
        """The driver records a utilisation sample of `pid` (as nvmlProcessUtilizationSample_t)."""
        self.samples.append(FakeUtilSample(pid, time_us, sm, mem))


class FakeProcessInfo:
    """pynvml's nvmlProcessInfo_v3_t as nvmlStructToFriendlyObject returns it."""

    def __init__(self, pid: int, used: int | None):
        self.pid = pid
        self.usedGpuMemory = used
        self.gpuInstanceId = 0xFFFFFFFF
        self.computeInstanceId = 0xFFFFFFFF


class FakeUtilSample:
    """pynvml's c_nvmlProcessUtilizationSample_t: pid, timeStamp (µs), smUtil, memUtil, encUtil, decUtil (%)."""

    def __init__(self, pid: int, time_us: int, sm: int, mem: int):
        self.pid = pid
        self.timeStamp = time_us
        self.smUtil = sm
        self.memUtil = mem
        self.encUtil = 0
        self.decUtil = 0


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

    def nvmlDeviceGetComputeRunningProcesses(self, h):
        self._check(h)
        return list(h.processes)

    def nvmlDeviceGetProcessUtilization(self, h, last_seen_us):
        """Samples newer than `last_seen_us`; NOT_FOUND when there is none (as nvml.h says)."""
        self._check(h)
        if h.process_util_error is not None:
            raise NVMLError(h.process_util_error)
        new = [s for s in h.samples if s.timeStamp > last_seen_us]
        if not new:
            raise NVMLError(6)  # NOT_FOUND
        return new

    def nvmlDeviceGetMinorNumber(self, h):
        return h.minor


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
