"""Who uses one GPU: this kernel's processes against the others, from NVML.

Two NVML queries per look (nvml.h):
- `nvmlDeviceGetComputeRunningProcesses`: the processes with a compute context now, with the GPU
  memory each holds (`usedGpuMemory`, None where the driver cannot say);
- `nvmlDeviceGetProcessUtilization(handle, lastSeenTimeStamp)`: per-process samples (`pid`,
  `timeStamp` in µs, `smUtil`, `memUtil` in %) newer than the last one seen; NOT_FOUND when there
  is none, NOT_SUPPORTED on MIG and pre-Maxwell boards.
A look sums each side's `smUtil` over the new samples (one sample per process per driver period,
so the sum weighs processes by time). When every running compute process is this kernel's, the
GPU is its own (100 %, no sampling involved). A look names a problem instead when the split cannot
be known: the queries are missing or unsupported, or NVML reports PIDs from another PID namespace
(a container without the host's): no listed PID exists here, or a process of this kernel holds the
GPU's device node while NVML lists none of them.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

NOT_SUPPORTED = 3
NOT_FOUND = 6
FUNCTION_NOT_FOUND = 13
NAMESPACE_PROBLEM = ("NVML cannot see this kernel's processes (NVML reports the host's PIDs: a container "
                     "without the host PID namespace, e.g. docker without --pid=host)")
FD_CHECK_EVERY_S = 5.0


@dataclass(frozen=True)
class GpuLook:
    """What one look saw since the previous one."""

    sm_ours: float = 0.0  # Σ smUtil (%) of this kernel's processes over the new samples
    sm_total: float = 0.0  # Σ smUtil of every process
    mem_ours: float = 0.0  # bytes of GPU memory this kernel's processes hold now
    mem_total: float = 0.0  # bytes held by every listed process
    others: int = 0  # other processes with a compute context now
    sole: bool = False  # at least one compute process runs and every one is this kernel's
    problem: str | None = None  # why this GPU's share cannot be told (then it is billed whole)


def _code(exc) -> int | None:
    return getattr(exc, "value", None)


class GpuProcesses:
    """Looks at one GPU (`nvml`, `handle`) for a process tree read through `proc` (a ProcFS)."""

    def __init__(self, nvml, handle, proc, device_path: str | None = None, clock=time.monotonic):
        self._nvml = nvml
        self._handle = handle
        self._proc = proc
        self._clock = clock
        self._last_ts = 0
        self._fd_checked_at = float("-inf")
        self._holds = False
        if device_path is None:
            try:
                device_path = f"/dev/nvidia{int(nvml.nvmlDeviceGetMinorNumber(handle))}"
            except Exception:  # noqa: BLE001 - no minor number (WSL, old bindings): skip that check
                device_path = None
        self.device_path = device_path
        self._samples()  # older samples belong to before this session

    def _running(self) -> list:
        fn = getattr(self._nvml, "nvmlDeviceGetComputeRunningProcesses", None)
        if fn is None:
            raise LookupError("this NVML binding has no per-process queries (pip install -U nvidia-ml-py)")
        try:
            return list(fn(self._handle) or [])
        except self._nvml.NVMLError as exc:
            if _code(exc) in (NOT_SUPPORTED, FUNCTION_NOT_FOUND):
                raise LookupError("this GPU or driver does not list its processes") from None
            raise LookupError(f"NVML could not list the GPU's processes ({exc})") from None

    def _samples(self) -> list | None:
        """New utilisation samples; None where per-process utilisation is not supported."""
        fn = getattr(self._nvml, "nvmlDeviceGetProcessUtilization", None)
        if fn is None:
            return None
        try:
            samples = list(fn(self._handle, self._last_ts) or [])
        except self._nvml.NVMLError as exc:
            if _code(exc) == NOT_FOUND:
                return []
            if _code(exc) in (NOT_SUPPORTED, FUNCTION_NOT_FOUND):
                return None
            raise LookupError(f"NVML could not read per-process utilisation ({exc})") from None
        for s in samples:
            self._last_ts = max(self._last_ts, int(s.timeStamp))
        return [s for s in samples if int(getattr(s, "timeStamp", 0)) > 0]

    def _we_hold_it(self, pids) -> bool:
        """Whether a process of the tree has the GPU's device node open (checked every few seconds)."""
        if self.device_path is None:
            return False
        now = self._clock()
        if now - self._fd_checked_at >= FD_CHECK_EVERY_S:
            self._fd_checked_at = now
            self._holds = self._proc.holds(pids, self.device_path)
        return self._holds

    def look(self, pids) -> GpuLook:
        """What the GPU's processes did since the last look; `pids` is this kernel's tree."""
        pids = frozenset(pids)
        try:
            running = self._running()
            samples = self._samples()
        except LookupError as exc:
            return GpuLook(problem=str(exc))
        listed = {int(p.pid) for p in running} | {int(s.pid) for s in samples or ()}
        if listed and not any(self._proc.exists(p) for p in listed):
            return GpuLook(problem=NAMESPACE_PROBLEM)
        if not (listed & pids) and self._we_hold_it(pids):
            return GpuLook(problem=NAMESPACE_PROBLEM)
        mem_ours = mem_total = 0.0
        for p in running:
            m = float(getattr(p, "usedGpuMemory", None) or 0.0)
            mem_total += m
            if int(p.pid) in pids:
                mem_ours += m
        ours_running = {int(p.pid) for p in running} & pids
        others = len({int(p.pid) for p in running} - pids)
        sole = bool(running) and others == 0
        if samples is None and not sole and running:
            return GpuLook(problem="per-process utilisation is not supported on this GPU (MIG or pre-Maxwell)")
        sm_ours = sm_total = 0.0
        for s in samples or ():
            u = float(getattr(s, "smUtil", 0) or 0)
            sm_total += u
            if int(s.pid) in pids:
                sm_ours += u
        return GpuLook(sm_ours, sm_total, mem_ours, mem_total, others, sole and bool(ours_running))
