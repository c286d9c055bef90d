"""Power models used when no sensor is readable. Always labelled ``estimated``.

CPU: P = P_idle + (P_max − P_idle) × u, with u the machine's busy fraction between two reads
(from /proc/stat through psutil). Per logical CPU, P_idle = 0.74 W and P_max = 3.5 W: the
SPECpower-derived averages that Cloud Carbon Footprint uses for cloud vCPUs
(MIN_WATTS_AVG / MAX_WATTS_AVG, Apache-2.0). With CARBON_MAGIC_CPU_TDP_W set, P_max is that
figure for the whole machine and P_idle keeps the same 0.74/3.5 ratio.
RAM: 0.3725 W per installed GB, independent of use: memory draws power for what is installed
(refresh, termination), not for what is used. Source: Green Algorithms (Lannelongue, Grealey &
Inouye, "Green Algorithms: Quantifying the Carbon Footprint of Computation", Adv. Sci. 2021,
doi:10.1002/advs.202100707), whose figure other tools agree with: CodeCarbon's 3 W per 8 GB
(0.375 W/GB) and Cloud Carbon Footprint's 0.392 W/GB (0.000392 kWh per GB-hour). On a 24 GB
laptop that is about 9 W, often most of an estimate: a machine whose DRAM idles in self-refresh
draws less, a loaded server more. CARBON_MAGIC_RAM_W_PER_GB overrides it (see
docs/validation.md, "Estimators").
Both models are rough (±50 % is a fair uncertainty for a single machine); they exist so
that a laptop without RAPL still sees numbers that move with load, clearly marked. Each says
what it used and how to change it (`model_inputs()`, shown by `%carbon status`).
"""
from __future__ import annotations

import threading

from .base import Reading

IDLE_W_PER_CPU = 0.74
MAX_W_PER_CPU = 3.5
RAM_W_PER_GB = 0.3725
RAM_SOURCE = "Green Algorithms, Lannelongue et al. 2021"
CPU_SOURCE = "Cloud Carbon Footprint's SPECpower averages"


def _busy_and_total(times) -> tuple[float, float]:
    fields = getattr(times, "_fields", None)
    if fields:  # Linux counts guest time inside user time already
        total = sum(getattr(times, f) for f in fields if f not in ("guest", "guest_nice"))
    else:
        total = sum(times)
    idle = getattr(times, "idle", 0.0) + getattr(times, "iowait", 0.0)
    return total - idle, total


class CpuEstimator:
    name = "cpu"
    kind = "cpu"
    method = "estimated"
    resolution_s = 0.0

    def __init__(self, cpu_times, logical_cpus: int, tdp_w: float | None = None):
        """cpu_times: a callable like psutil.cpu_times (system-wide, summed over CPUs)."""
        self._cpu_times = cpu_times
        self.logical_cpus = logical_cpus
        self.tdp_from_env = bool(tdp_w)
        if tdp_w:
            self.max_w = float(tdp_w)
            self.idle_w = self.max_w * IDLE_W_PER_CPU / MAX_W_PER_CPU
        else:
            self.max_w = MAX_W_PER_CPU * logical_cpus
            self.idle_w = IDLE_W_PER_CPU * logical_cpus
        self._lock = threading.Lock()
        self._last = _busy_and_total(cpu_times())
        self._last_t: float | None = None
        self._total_j = 0.0
        self._power_w: float | None = None

    def model_inputs(self) -> str:
        """What the estimate is made of, where the figure came from, and how to change it."""
        span = f"{self.idle_w:.3g}–{self.max_w:.3g} W by utilisation"
        if self.tdp_from_env:
            return f"CPU: TDP {self.max_w:g} W from CARBON_MAGIC_CPU_TDP_W, idle {self.idle_w:.3g} W; {span}"
        return (f"CPU: {IDLE_W_PER_CPU:g}–{MAX_W_PER_CPU:g} W per logical CPU × {self.logical_cpus} = {span} "
                f"({CPU_SOURCE}); set your CPU's TDP with CARBON_MAGIC_CPU_TDP_W=65")

    def power_for(self, busy_fraction: float) -> float:
        u = min(1.0, max(0.0, busy_fraction))
        return self.idle_w + (self.max_w - self.idle_w) * u

    def read(self, now: float) -> Reading:
        with self._lock:
            busy, total = _busy_and_total(self._cpu_times())
            d_total = total - self._last[1]
            u = (busy - self._last[0]) / d_total if d_total > 0 else None
            if u is not None:
                self._last = (busy, total)
                self._power_w = self.power_for(u)
            elif self._power_w is None:
                self._power_w = self.idle_w
            if self._last_t is not None and now > self._last_t:
                self._total_j += self._power_w * (now - self._last_t)
            self._last_t = now
            return Reading(self._total_j, self._power_w)

    def close(self) -> None:
        pass


class RamEstimator:
    name = "ram"
    kind = "ram"
    method = "estimated"
    resolution_s = 0.0

    def __init__(self, installed_bytes: int, w_per_gb: float | None = None):
        self.installed_gb = installed_bytes / 1e9
        self.w_per_gb_from_env = bool(w_per_gb)
        self.w_per_gb = float(w_per_gb) if w_per_gb else RAM_W_PER_GB
        self.power_w = self.installed_gb * self.w_per_gb
        self.idle_w = self.power_w  # the model does not move with load: all of it is idle power
        self._lock = threading.Lock()
        self._last_t: float | None = None
        self._total_j = 0.0

    def model_inputs(self) -> str:
        source = "from CARBON_MAGIC_RAM_W_PER_GB" if self.w_per_gb_from_env else f"({RAM_SOURCE})"
        how = "" if self.w_per_gb_from_env else "; change it with CARBON_MAGIC_RAM_W_PER_GB"
        return (f"RAM: {self.w_per_gb:g} W per GB {source} × {self.installed_gb:.3g} GB installed = "
                f"{self.power_w:.3g} W, whatever the load{how}")

    def read(self, now: float) -> Reading:
        with self._lock:
            if self._last_t is not None and now > self._last_t:
                self._total_j += self.power_w * (now - self._last_t)
            self._last_t = now
            return Reading(self._total_j, self.power_w)

    def close(self) -> None:
        pass
