"""NVIDIA GPUs through NVML (`pynvml`, from the official nvidia-ml-py distribution).

Energy comes from the board's cumulative counter (mJ, Volta and newer); where the counter is
not supported, instantaneous power (mW) is integrated over time instead (method ``sampled``).
GPUs are matched to ``CUDA_VISIBLE_DEVICES`` by UUID, and integer entries are CUDA ordinals, which
follow PCI bus order here (NVML's own index order is not guaranteed to match CUDA's).
The NVML module is passed in, so tests give a small fake and no driver is needed.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Mapping

from .base import Reading, Skipped, SourceFailed

# nvmlReturn_t codes (nvml.h); looked up on the module when present.
NOT_SUPPORTED = 3
DRIVER_NOT_LOADED = 9
LIBRARY_NOT_FOUND = 12
FUNCTION_NOT_FOUND = 13
GPU_IS_LOST = 15
RESET_REQUIRED = 16
LIB_RM_VERSION_MISMATCH = 18
GPU_NOT_FOUND = 28

# Where an NVIDIA driver shows itself (Linux, and WSL's GPU paravirtualisation device).
DRIVER_PATHS = ("/proc/driver/nvidia", "/dev/nvidiactl", "/dev/dxg")

_INIT_REASONS: dict[int | None, tuple[str, str]] = {
    DRIVER_NOT_LOADED: ("NVIDIA driver not loaded (no GPU on this machine?)", ""),
    LIBRARY_NOT_FOUND: ("libnvidia-ml.so not found (no NVIDIA driver installed)", ""),
    LIB_RM_VERSION_MISMATCH: ("NVIDIA driver and library versions differ (driver upgraded without reboot)",
                              "reboot, or reload the nvidia kernel modules"),
    GPU_NOT_FOUND: ("no NVIDIA GPU found", ""),
}


def _code(exc) -> int | None:
    return getattr(exc, "value", None)


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _model_name(nvml, handle) -> str | None:
    """The board's product name, or None where NVML does not give one (it is only a label)."""
    try:
        name = _text(nvml.nvmlDeviceGetName(handle)).strip()
    except Exception:  # noqa: BLE001 - NVMLError, an old binding without the call: no name
        return None
    return name[:100] or None


class NvmlGpu:
    """One GPU as a cumulative energy source."""

    kind = "gpu"

    def __init__(self, nvml, handle, name: str, uuid: str, mig: str | None = None):
        self._nvml = nvml
        self._handle = handle
        self.name = name
        self.uuid = uuid
        self.model = _model_name(nvml, handle)  # "NVIDIA A100-SXM4-80GB", for embodied figures; or None
        # The CUDA_VISIBLE_DEVICES MIG entry this board stands for: NVML reads the whole board.
        self.mig = mig
        self._lock = threading.Lock()
        self._total_j = 0.0
        self._uncertainty_j = 0.0
        self._last_mj = 0  # the counter's last reading (counter method; set below)
        self._last_t: float | None = None
        self._last_power_w: float | None = None
        self.resets = 0
        try:
            self._last_mj = int(nvml.nvmlDeviceGetTotalEnergyConsumption(handle))
            self.method = "counter"
            self.resolution_s = 0.1  # the counter updates about every 100 ms
        except nvml.NVMLError as exc:
            if _code(exc) not in (NOT_SUPPORTED, FUNCTION_NOT_FOUND):
                raise
            self.method = "sampled"
            self.resolution_s = 0.0
            self._power_now()  # raises NOT_SUPPORTED too when the board reports no power at all

    def _power_now(self) -> float | None:
        try:
            return self._nvml.nvmlDeviceGetPowerUsage(self._handle) / 1000.0
        except self._nvml.NVMLError as exc:
            if _code(exc) in (GPU_IS_LOST, RESET_REQUIRED):
                raise SourceFailed(f"{self.name} lost: {exc}") from exc
            if self.method == "sampled":
                raise
            return None

    @property
    def nvml_device(self):
        """(NVML module, handle) of the board, for the per-process queries of attribution/gpu.py."""
        return self._nvml, self._handle

    def read(self, now: float) -> Reading:
        nvml = self._nvml
        with self._lock:
            try:
                if self.method == "counter":
                    mj = int(nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle))
                    power = self._power_now()
                    if mj >= self._last_mj:
                        self._total_j += (mj - self._last_mj) / 1000.0
                    else:
                        # Counter reset (driver reload, GPU reset): the 64-bit counter never wraps.
                        # The interval is estimated from power and counted; the next read re-baselines.
                        self.resets += 1
                        p = power if power is not None else self._last_power_w
                        if p is not None and self._last_t is not None and now > self._last_t:
                            estimate = p * (now - self._last_t)
                            self._total_j += estimate
                            self._uncertainty_j += estimate
                    self._last_mj = mj
                else:
                    power = self._power_now()
                    if self._last_t is not None and power is not None and self._last_power_w is not None:
                        self._total_j += (power + self._last_power_w) / 2 * max(0.0, now - self._last_t)
            except nvml.NVMLError as exc:
                raise SourceFailed(f"{self.name}: {exc}") from exc
            self._last_t = now
            if power is not None:
                self._last_power_w = power
            return Reading(self._total_j, power, self._uncertainty_j, self.resets)

    def close(self) -> None:
        pass


def _mig_parent(nvml, entry: str, devices: list):
    """The physical GPU (a `devices` row) behind a MIG entry of CUDA_VISIBLE_DEVICES, or None.

    `MIG-GPU-<uuid>/<gi>/<ci>` names its parent board; the newer `MIG-<uuid>` is the MIG
    device's own UUID, resolved through NVML (directly, else by listing each board's slices).
    """
    rest = entry[len("MIG-"):]
    if rest.startswith("GPU-"):
        key = rest.split("/")[0]
        hits = [d for d in devices if d[2].startswith(key)]
        return hits[0] if len(hits) == 1 else None
    if nvml is None:
        return None
    try:
        parent = nvml.nvmlDeviceGetDeviceHandleFromMigDeviceHandle(nvml.nvmlDeviceGetHandleByUUID(entry))
        uuid = _text(nvml.nvmlDeviceGetUUID(parent))
        hits = [d for d in devices if d[2] == uuid]
        if len(hits) == 1:
            return hits[0]
    except Exception:  # noqa: BLE001 - old bindings, prefix UUIDs: list the slices instead
        pass
    hits = []
    for d in devices:
        try:
            count = int(nvml.nvmlDeviceGetMaxMigDeviceCount(d[1]))
        except Exception:  # noqa: BLE001 - not a MIG-capable board
            continue
        for k in range(count):
            try:
                mig_uuid = _text(nvml.nvmlDeviceGetUUID(nvml.nvmlDeviceGetMigDeviceHandleByIndex(d[1], k)))
            except Exception:  # noqa: BLE001 - an empty slot
                continue
            if mig_uuid.startswith(entry):
                hits.append(d)
    return hits[0] if len(hits) == 1 else None


def _visible(env: Mapping[str, str], devices: list[tuple[int, object, str, str]], nvml=None):
    """Select and name devices per CUDA_VISIBLE_DEVICES. devices: (nvml_index, handle, uuid, bus_id).

    Returns ([(name, handle, uuid, mig entry or None)], [invalid entries]).
    """
    spec = env.get("CUDA_VISIBLE_DEVICES")
    if spec is None:
        return [(f"gpu:{i}", h, u, None) for i, h, u, _ in devices], []
    by_pci = sorted(devices, key=lambda d: d[3])
    chosen, problems, boards = [], [], set()
    for ordinal, entry in enumerate(e.strip() for e in spec.split(",") if e.strip()):
        match, mig = None, None
        if entry.lstrip("-").isdigit():
            idx = int(entry)
            if 0 <= idx < len(by_pci):
                match = by_pci[idx]
        elif entry.startswith("MIG-"):
            # A MIG slice: NVML reads power and energy only for its parent board.
            match, mig = _mig_parent(nvml, entry, devices), entry
        else:
            hits = [d for d in devices if d[2].startswith(entry)]  # UUIDs, unique prefixes allowed
            match = hits[0] if len(hits) == 1 else None
        if match is None:
            problems.append(entry)
            break  # CUDA hides every device after an invalid entry
        if match[2] in boards:
            continue  # two slices of one board: the board is read once
        boards.add(match[2])
        chosen.append((f"gpu:{ordinal}", match[1], match[2], mig))
    return chosen, problems


def discover_nvml(nvml=None, env: Mapping[str, str] | None = None) -> tuple[list[NvmlGpu], list[Skipped]]:
    env = os.environ if env is None else env
    if nvml is None:
        if not any(os.path.exists(p) for p in DRIVER_PATHS):
            # No driver on this machine: skip the ~100 ms pynvml/ctypes import entirely.
            return [], [Skipped("gpu", "no NVIDIA driver on this machine (no /proc/driver/nvidia or /dev/nvidiactl)",
                                "")]
        try:
            import pynvml  # noqa: PLC0415 - optional at run time, loaded only here
        except ImportError:
            return [], [Skipped("gpu", "nvidia-ml-py is not installed", "pip install nvidia-ml-py")]
        nvml = pynvml
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as exc:
        reason, fix = _INIT_REASONS.get(_code(exc), (f"NVML failed to start: {exc}", ""))
        return [], [Skipped("gpu", reason, fix)]
    except OSError as exc:
        return [], [Skipped("gpu", f"NVML failed to load: {exc}", "")]
    sources: list[NvmlGpu] = []
    skipped: list[Skipped] = []
    try:
        devices = []
        for i in range(nvml.nvmlDeviceGetCount()):
            h = nvml.nvmlDeviceGetHandleByIndex(i)
            uuid = _text(nvml.nvmlDeviceGetUUID(h))
            try:
                bus = _text(nvml.nvmlDeviceGetPciInfo(h).busId)
            except (nvml.NVMLError, AttributeError):
                bus = f"{i:08d}"
            devices.append((i, h, uuid, bus))
    except nvml.NVMLError as exc:
        return [], [Skipped("gpu", f"NVML could not list GPUs: {exc}", "")]
    chosen, problems = _visible(env, devices, nvml)
    for entry in problems:
        skipped.append(Skipped("gpu", f"CUDA_VISIBLE_DEVICES entry {entry!r} matches no GPU; later entries hidden",
                               "use indices or GPU UUIDs from `nvidia-smi -L`"))
    for name, handle, uuid, mig in chosen:
        try:
            sources.append(NvmlGpu(nvml, handle, name, uuid, mig))
        except nvml.NVMLError as exc:
            if _code(exc) in (NOT_SUPPORTED, FUNCTION_NOT_FOUND):
                skipped.append(Skipped(name, "this GPU reports neither an energy counter nor power", ""))
            else:
                skipped.append(Skipped(name, f"NVML error: {exc}", ""))
    if not devices:
        skipped.append(Skipped("gpu", "NVML found no GPU", ""))
    return sources, skipped
