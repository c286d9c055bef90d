"""Cost of the live widget, kernel side. Prints a table (markdown).

1. A CPU-bound cell with the widget updating (sampler thread, about 1 Hz) against the same cell
   with only the sampler running: medians of alternating runs in one process. The widget is
   built headless with a comm that JSON-encodes each message (as ipykernel's session does) and
   drops it, and it plots a session with 24 h of history, so every update does its full work.
2. One update after 24 h of samples, simulated with a fake clock (the sampler's deques hold what
   they would after a real day: one sample a minute for 23 h, every 0.5 s for the last hour),
   for a view opened after that day, and for the worst case of a view open all day (store full).

    python bench/bench_live.py            # about a minute
    python bench/bench_live.py --quick    # a few seconds (used by the test suite)
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import comm
from comm.base_comm import BaseComm

from carbon_magic.config import Settings
from carbon_magic.intensity import IntensityValue
from carbon_magic.live.updater import LiveUpdater
from carbon_magic.sampler import Snapshot
from carbon_magic.session import CarbonSession
from carbon_magic.sources import Discovery
from carbon_magic.sources.base import Reading

DAY_S = 86_400.0


class EncodingComm(BaseComm):
    """Does what a kernel comm does to a message before the socket (JSON), then drops it."""

    messages = 0
    buffer_bytes = 0

    def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys):
        json.dumps({"data": data, "metadata": metadata}, default=str)
        EncodingComm.messages += 1
        EncodingComm.buffer_bytes += sum(memoryview(b).nbytes for b in buffers or [])


class SimSource:
    """An in-memory source: power varies with time, energy is its integral."""

    resolution_s = 0.0

    def __init__(self, name, kind, method, base_w, swing_w, period_s):
        self.name, self.kind, self.method = name, kind, method
        self.base_w, self.swing_w, self.period_s = base_w, swing_w, period_s
        self._last_t = None
        self._energy_j = 0.0

    def power_at(self, t):
        return self.base_w + self.swing_w * (0.5 + 0.5 * math.sin(2 * math.pi * t / self.period_s))

    def read(self, now):
        p = self.power_at(now)
        if self._last_t is not None:
            self._energy_j += p * (now - self._last_t)
        self._last_t = now
        return Reading(self._energy_j, p)

    def close(self):
        pass


class HourlyIntensity:
    """A grid whose intensity changes every hour (as a live provider's series does)."""

    zone = "FR"

    def at(self, wall_s):
        hour = int(wall_s // 3600)
        return IntensityValue(40.0 + 30.0 * math.sin(hour / 24 * 2 * math.pi),
                              {"provider": "bench", "zone": "FR", "kind": "historical"})

    def prefetch(self, wall_s):
        pass

    def notices(self):
        return []

    def close(self):
        pass


class FakeClock:
    def __init__(self, t=1000.0, wall=1_790_000_000.0):
        self.t, self.offset = t, wall - t

    def __call__(self):
        return self.t

    def wall(self):
        return self.t + self.offset


def sources():
    return [SimSource("gpu:0", "gpu", "counter", 60, 240, 900), SimSource("cpu:package-0", "cpu", "counter", 20, 60, 300),
            SimSource("dram:package-0", "dram", "counter", 4, 3, 120), SimSource("ram", "ram", "estimated", 9.4, 0, 1)]


def make_session(tmp, clock=time.monotonic, wall=time.time, start_thread=False):
    settings = Settings()
    settings.data_dir = Path(tmp) / "data"
    settings.cuda_sync = False
    return CarbonSession(settings, discovery=Discovery(sources()), intensity=HourlyIntensity(),
                         clock=clock, wall=wall).start(thread=start_thread)


def simulate_day(session, clock, hours=24.0):
    """Tick as a real day would leave the deques: every 60 s, then every 0.5 s for the last hour."""
    sampler = session.sampler
    coarse_until = clock.t + (hours - 1) * 3600
    while clock.t < coarse_until:
        clock.t += 60.0
        sampler.tick()
    for _ in range(int(3600 / sampler.interval_s)):
        clock.t += sampler.interval_s
        sampler.tick()


def prefill_history(session, hours=24.0):
    """Real-clock session: put a day of past samples into the sampler's deques (t before now)."""
    sampler, now_t, now_wall = session.sampler, time.monotonic(), time.time()
    srcs = sampler.sources
    energy = {s.name: 0.0 for s in srcs}
    t = now_t - hours * 3600
    step = 60.0
    while t < now_t:
        if t >= now_t - 3600:
            step = sampler.interval_s
        power = {s.name: s.power_at(t) for s in srcs}
        for s in srcs:
            energy[s.name] += power[s.name] * step
        snap = Snapshot(t, now_wall - (now_t - t), dict(energy), power)
        if t >= now_t - 3600:
            sampler.fine.append(snap)
        if not sampler.coarse or t - sampler.coarse[-1].t >= 60.0:
            sampler.coarse.append(snap)
        t += step


def cpu_bound(n: int) -> float:
    t0 = time.perf_counter()
    acc = 0
    for i in range(n):
        acc += (i * i) % 7
    return time.perf_counter() - t0


def calibrate(target_s: float) -> int:
    n = 200_000
    while True:
        dt = cpu_bound(n)
        if dt > 0.05:
            return int(n * target_s / dt)
        n *= 4


def bench_cell(tmp, runs: int, cell_s: float) -> dict:
    """Alternate: cell with the sampler only, cell with the sampler and the widget updater.

    Besides wall time (the target), report process CPU time and the CPU time of the updates
    (thread time) over the cell's wall time: on a loaded machine wall-time noise between runs can
    exceed the effect by far, while that ratio is what the widget takes from the cell under the GIL.
    """
    session = make_session(tmp, start_thread=False)
    prefill_history(session)
    updater = LiveUpdater(session).attach()
    view = updater.view()
    session.sampler.remove_listener(updater._listener)
    live = {"on": False}  # one listener for all runs, so that its period is kept across them
    session.sampler.add_listener(lambda snap: live["on"] and updater._on_sample(snap), updater.period_s)
    session.sampler.start()
    n = calibrate(cell_s)
    wall = {False: [], True: []}
    cpu = {False: [], True: []}
    busy = cell_time = 0.0
    updates = 0
    try:
        cpu_bound(n)  # warm up
        for _ in range(runs):
            for on in (False, True):
                live["on"] = on
                busy0, updates0 = updater.cpu_s, updater.updates
                c0 = time.process_time()
                wall[on].append(cpu_bound(n))
                cpu[on].append(time.process_time() - c0)
                if on:
                    busy += updater.cpu_s - busy0
                    updates += updater.updates - updates0
                    cell_time += wall[on][-1]
            live["on"] = False
    finally:
        updater.detach()
        session.close()
    med = {k: statistics.median(v) for k, v in wall.items()}
    # Each live run against the run just before it: slow drift of the machine cancels in the pair.
    paired = statistics.median(on / off - 1 for off, on in zip(wall[False], wall[True], strict=True)) * 100
    return {"without_s": med[False], "with_s": med[True], "overhead_pct": (med[True] - med[False]) / med[False] * 100,
            "paired_overhead_pct": paired,
            "min_overhead_pct": (min(wall[True]) - min(wall[False])) / min(wall[False]) * 100,
            "cpu_overhead_pct": (statistics.median(cpu[True]) - statistics.median(cpu[False]))
            / statistics.median(cpu[False]) * 100,
            "duty_pct": busy / cell_time * 100, "updates_per_s": updates / cell_time,
            "spread_pct": (max(wall[False]) - min(wall[False])) / med[False] * 100,
            "runs": runs, "points": len(view.session.measured.x)}


def timed_updates(updater, session, clock, count: int) -> list[float]:
    out = []
    for _ in range(count):
        clock.t += session.sampler.interval_s
        session.sampler.tick()  # a new sample (the updater is not a listener here: timed alone)
        t0 = time.perf_counter()
        updater.update()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def bench_day(tmp, count: int) -> dict:
    clock = FakeClock()
    session = make_session(tmp, clock=clock, wall=clock.wall)
    simulate_day(session, clock)
    t0 = time.perf_counter()
    updater = LiveUpdater(session).attach()
    view = updater.view()
    first_ms = (time.perf_counter() - t0) * 1000
    session.sampler.remove_listener(updater._listener)
    msgs0, bytes0 = EncodingComm.messages, EncodingComm.buffer_bytes
    opened_after = timed_updates(updater, session, clock, count)
    per_update_msgs = (EncodingComm.messages - msgs0) / count
    per_update_kb = (EncodingComm.buffer_bytes - bytes0) / count / 1024
    rows_after_day = updater.store.n
    # Worst case: a view open all day has a full store (it compacts when full).
    st = updater.store
    missing = st.cap - 1 - st.n
    t_new = st.t[-1] + 0.5 * np.arange(1, missing + 1)
    st.extend(t_new, np.full((st.k, missing), 50.0) + np.random.default_rng(0).normal(0, 5, (st.k, missing)),
              np.full(missing, 45.0))
    clock.t += missing * 0.5
    updater._last_t = session.sampler.fine[-1].t
    full = timed_updates(updater, session, clock, 1)  # this one fills the store
    compacting = timed_updates(updater, session, clock, 1)  # this one compacts it
    after_compaction = timed_updates(updater, session, clock, count)
    session.close()
    return {
        "first_view_ms": first_ms, "rows_after_day": rows_after_day, "points": len(view.session.measured.x),
        "opened_after_median_ms": statistics.median(opened_after), "opened_after_p95_ms": _p95(opened_after),
        "full_store_ms": full[0], "compacting_ms": compacting[0],
        "after_compaction_median_ms": statistics.median(after_compaction),
        "compact_every": st.cap - st.compact_to, "msgs_per_update": per_update_msgs, "kb_per_update": per_update_kb,
        "count": count,
    }


def _p95(values):
    return float(np.percentile(values, 95))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a few seconds: fewer, shorter runs")
    args = ap.parse_args(argv)
    runs, cell_s, count = (2, 0.8, 20) if args.quick else (25, 1.5, 200)
    comm.create_comm = lambda **kw: EncodingComm(**kw)
    with tempfile.TemporaryDirectory() as tmp:
        day = bench_day(tmp, count)
        cell = bench_cell(tmp, runs, cell_s)
    print(f"## Live widget benchmark ({'quick' if args.quick else 'full'}; Python {sys.version.split()[0]})\n")
    print("| measure | value | target |")
    print("| --- | --- | --- |")
    print(f"| CPU-bound cell, sampler only: median of {runs} | {cell['without_s']:.3f} s "
          f"(run-to-run spread {cell['spread_pct']:.0f} %) | |")
    print(f"| same cell, live widget updating ({cell['updates_per_s']:.2f} updates/s, {cell['points']} points "
          f"per line): median of {runs} | {cell['with_s']:.3f} s | |")
    print(f"| slowdown, wall time (median of {runs} adjacent pairs) | {cell['paired_overhead_pct']:+.2f} % | ≤ 1 % |")
    print(f"| slowdown, wall time (median; min against min) | {cell['overhead_pct']:+.2f} % "
          f"({cell['min_overhead_pct']:+.2f} %) | ≤ 1 % |")
    print(f"| slowdown, process CPU time (median) | {cell['cpu_overhead_pct']:+.2f} % | |")
    print(f"| CPU time of the widget updates / cell wall time | {cell['duty_pct']:.3f} % | |")
    print(f"| one update after 24 h, view opened then (store {day['rows_after_day']} rows, "
          f"{day['points']} points per line): median / p95 of {count} | "
          f"{day['opened_after_median_ms']:.2f} / {day['opened_after_p95_ms']:.2f} ms | ≤ 2 ms |")
    print(f"| one update, view open all day (store full) | {day['full_store_ms']:.2f} ms | ≤ 2 ms |")
    print(f"| the update that compacts the store (once per {day['compact_every']:,} samples) | "
          f"{day['compacting_ms']:.2f} ms | |")
    print(f"| updates after compaction: median of {count} | {day['after_compaction_median_ms']:.2f} ms | ≤ 2 ms |")
    print(f"| first view after 24 h (backfill + widgets + first push) | {day['first_view_ms']:.0f} ms | |")
    print(f"| per update: messages / binary payload | {day['msgs_per_update']:.1f} / "
          f"{day['kb_per_update']:.0f} KiB | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
