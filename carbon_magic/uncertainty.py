"""The uncertainty model: what each component's `uncertainty_j` means (absolute J, before PUE).

Terms are added linearly (a conservative bound, not a standard deviation); `uncertainty_cause`
names the terms that contributed, joined with "+".

- counter-resolution: a counter updates every τ (RAPL ~1 ms, NVML ~100 ms), so each cell edge
  reads a value up to τ stale. The error of the difference lies in ±τ·P (triangular), and
  ±τ·P/2 holds 75 % of it: COUNTER_EDGE_FRACTION × τ × P, P the cell's mean power. NVML at
  150 ms: ±33 %; RAPL's energy unit (15.3–61 µJ) is far below that and ignored.
- sampling, counter below resolution: a cell shorter than τ, or whose counter did not move,
  is the last known power × duration (method `sampled`): BELOW_RESOLUTION_FRACTION of it.
- sampling, polled power (pre-Volta GPUs, method `sampled`): SENSOR_ACCURACY (nvml.h: ±5 % on
  Fermi/Kepler) plus the larger of half the spread of the powers read × duration and
  ALIASING_FLOOR × energy: bursts shorter than the polling interval are missed or over-counted,
  and when they are locked to it no spread shows (−29 % observed).
- model: estimators (CPU utilisation × TDP, RAM per GB), MODEL_FRACTION (the estimators' ±50 %).
- counter-reset / ambiguous-gap: what the source estimated itself: a reset interval is last
  power × gap, uncertain by all of it; a gap that may hide wraps is ± one counter range.
- sensor-failed: the energy after the failure is not counted: last known power × duration.
"""
from __future__ import annotations

COUNTER_EDGE_FRACTION = 0.5
BELOW_RESOLUTION_FRACTION = 0.5
SENSOR_ACCURACY = 0.05
ALIASING_FLOOR = 0.3
MODEL_FRACTION = 0.5

# Attribution (process scope, see attribution/): what the split itself adds, beyond the device's own
# uncertainty scaled by the share.
# - cpu-time: CPU_TIME_FRACTION of the attributed energy (the best published per-process errors are
#   6.6 % isolated and 10.9 % co-located; bench/attribution.py measures ours), plus the clock-tick
#   quantum of CPU time (±CPU_TIME_QUANTUM_S, two 10 ms ticks) relative to the cell's busy CPU time,
#   on the device energy: short cells carry most of it.
# - sm-util: SM_UTIL_FRACTION: NVML's per-process samples come every ~1/6 s and only for processes
#   with non-zero use; not yet validated on a real GPU (bench/gpu_validate.py).
# - sole-user: nothing (the whole board, no split).
CPU_TIME_FRACTION = 0.1
CPU_TIME_QUANTUM_S = 0.02
SM_UTIL_FRACTION = 0.2
