"""Find every readable power source; say why each missing one is missing and how to fix it."""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .base import Skipped
from .estimators import CpuEstimator, RamEstimator
from .nvml import discover_nvml
from .rapl import discover_rapl


@dataclass
class Discovery:
    sources: list = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    _nvml: Any = None  # the NVML module (pynvml, or a test's fake) to shut down

    def close(self) -> None:
        for s in self.sources:
            s.close()
        if self._nvml is not None:
            try:
                self._nvml.nvmlShutdown()  # reference-counted: balances our one nvmlInit
            except Exception:  # noqa: BLE001 - a failing shutdown must not break unload
                pass
            self._nvml = None


def discover(powercap_root: str = "/sys/class/powercap", nvml="auto", env: Mapping[str, str] | None = None,
             cpu_tdp_w: float | None = None, psutil_module=None, rapl_opener=open,
             ram_w_per_gb: float | None = None) -> Discovery:
    """Sources in a stable order: GPUs, CPU packages, DRAM, then estimators for what is missing.

    nvml: "auto" imports pynvml; None disables GPUs; anything else is used as the NVML module.
    """
    env = os.environ if env is None else env
    d = Discovery()
    if nvml is not None:
        module = None if nvml == "auto" else nvml
        gpus, skipped = discover_nvml(module, env)
        d.sources += gpus
        d.skipped += skipped
        if gpus:
            d._nvml = gpus[0]._nvml
    zones, skipped = discover_rapl(powercap_root, rapl_opener)
    d.sources += [z for z in zones if z.kind == "cpu"] + [z for z in zones if z.kind == "dram"]
    d.skipped += skipped
    if psutil_module is None:
        import psutil  # noqa: PLC0415 - the default; tests inject their own

        psutil_module = psutil
    if not any(z.kind == "cpu" for z in zones):
        d.sources.append(CpuEstimator(psutil_module.cpu_times, psutil_module.cpu_count() or 1, cpu_tdp_w))
    if not any(z.kind == "dram" for z in zones):
        d.sources.append(RamEstimator(psutil_module.virtual_memory().total, ram_w_per_gb))
    return d
