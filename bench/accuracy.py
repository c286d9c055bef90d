"""Per-cell energy against the exact integral of a known power profile (issue 8 §2).

    python bench/accuracy.py           # intervals 0.1, 0.5, 1, 2 s
    python bench/accuracy.py --quick   # two intervals, fewer cells (test suite)

Ground truth is a synthetic, piecewise-constant power profile for one CPU package and one GPU:
idle, steps, 1 s bursts, 200 ms bursts, a RAPL counter wraparound and an NVML counter reset
(driver reload). It is replayed, on a simulated clock, through the real code: a fake powercap tree
in a temp dir whose `energy_uj` file is rewritten before every read (RAPL updates about every
1 ms: the file holds the energy at the last whole millisecond, modulo `max_energy_range_uj`),
and the fake NVML of tests/fakes.py whose counter holds the energy at the last 100 ms update
(its documented resolution) and whose power reading is the instantaneous power. The real
`CarbonSession` (`start(thread=False)`) is driven by calling `sampler.tick()` at the sampling
interval and `begin()`/`end()` at each cell's edges, so the numbers are what a user would get.

Methods compared:
- counter (RAPL): package energy counter, wraparound corrected;
- counter (NVML): the GPU's total-energy counter (Volta+); cells shorter than its 100 ms update
  fall back to power × duration and are marked `sampled` in the record;
- sampled (NVML power): a GPU without the counter (pre-Volta), instantaneous power integrated
  with the trapezoid rule over the sampler's ticks and the cell's edges.
Error = (reported − exact) / exact, per cell, grouped by cell class.
"""
from __future__ import annotations

import argparse
import bisect
import random
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ensure_repo_on_path, header, table

ensure_repo_on_path()

RAPL_UPDATE_S = 0.001
NVML_UPDATE_S = 0.1
NVML_RESET_AT = 230.05  # driver reload: the GPU counter restarts from 0 here
RAPL_MAX_RANGE_UJ = 20_000_000_000  # 20 kJ: wraps every few minutes at these powers (AMD-like)
RAPL_WRAP_AT = 150.0  # the counter starts so that it wraps here


class Profile:
    """Piecewise-constant power: exact cumulative energy E(t) and instantaneous power P(t)."""

    def __init__(self, segments: list[tuple[float, float, float]]):
        self.starts = [a for a, _, _ in segments]
        self.watts = [w for _, _, w in segments]
        self.cum = [0.0]
        for a, b, w in segments:
            self.cum.append(self.cum[-1] + w * (b - a))
        self.end = segments[-1][1]

    def _i(self, t: float) -> int:
        return max(0, bisect.bisect_right(self.starts, t) - 1)

    def power(self, t: float) -> float:
        return self.watts[self._i(t)]

    def energy(self, t: float) -> float:
        i = self._i(t)
        return self.cum[i] + self.watts[i] * (t - self.starts[i])

    def between(self, a: float, b: float) -> float:
        return self.energy(b) - self.energy(a)


def bursts(t0, t1, period, high_s, high_w, low_w):
    out, t = [], t0
    while t < t1 - 1e-9:
        out.append((t, min(t + high_s, t1), high_w))
        if t + high_s < t1:
            out.append((t + high_s, min(t + period, t1), low_w))
        t += period
    return out


def gpu_profile() -> Profile:
    return Profile([(0, 20, 60.0), (20, 80, 250.0), *bursts(80, 140, 1.13, 0.3, 400.0, 80.0),
                    *bursts(140, 170, 0.23, 0.05, 350.0, 70.0), (170, 200, 60.0), (200, 260, 300.0),
                    (260, 300, 55.0)])


def cpu_profile() -> Profile:
    return Profile([(0, 20, 15.0), (20, 80, 65.0), *bursts(80, 140, 1.13, 0.4, 90.0, 25.0),
                    *bursts(140, 170, 0.23, 0.07, 80.0, 20.0), (170, 200, 15.0), (200, 260, 70.0),
                    (260, 300, 14.0)])


def cells(quick: bool) -> list[tuple[float, float, str]]:
    """(start, end, class), not overlapping, in time order."""
    rng = random.Random(8)
    out = [(5.0, 75.0, "long (≥ 10 s)"), (85.3, 135.3, "long (≥ 10 s)"), (141.0, 149.0, "medium (1–10 s)"),
           (149.5, 151.5, "spans the RAPL wrap"), (195.0, 228.0, "long (≥ 10 s)"),
           (229.0, 232.0, "spans the NVML reset"), (262.0, 290.0, "long (≥ 10 s)")]
    for phase in ((20.0, 80.0), (80.0, 140.0), (152.0, 170.0), (232.5, 260.0)):
        slots = 6 if quick else 24
        width = (phase[1] - phase[0]) / slots
        for k in range(slots):
            a = phase[0] + k * width + rng.uniform(0.0, width / 4)
            dur = rng.choice((0.02, 0.05, 0.08) if k % 3 == 0 else (0.15, 0.3, 0.6) if k % 3 == 1 else (2.0, 3.5))
            dur = min(dur, width * 0.7)
            out.append((a, a + dur, _klass(dur)))
    return sorted(out)


def _klass(duration: float) -> str:
    if duration < NVML_UPDATE_S:
        return "short (< 100 ms)"
    if duration < 1.0:
        return "sub-second (0.1–1 s)"
    return "medium (1–10 s)" if duration < 10 else "long (≥ 10 s)"


class Replay:
    """The fake hardware, set to the profile's state at time t before each read."""

    def __init__(self, tmp: Path, counter: bool):
        from fakes import FakeGpu, FakeNvml, FakePowercap  # noqa: PLC0415

        self.cpu, self.gpu_p = cpu_profile(), gpu_profile()
        self.offset_uj = RAPL_MAX_RANGE_UJ - int(self.cpu.energy(RAPL_WRAP_AT) * 1e6)
        self.pc = FakePowercap(tmp / "powercap")
        self.zone = self.pc.add_zone("intel-rapl:0", "package-0", self.offset_uj, max_range_uj=RAPL_MAX_RANGE_UJ)
        self.gpu = FakeGpu("GPU-0000", "0000:01:00.0", energy_mj=0 if counter else None)
        self.nvml = FakeNvml([self.gpu])
        self.counter = counter
        self.set(0.0)

    def set(self, t: float) -> None:
        t_rapl = int(t / RAPL_UPDATE_S) * RAPL_UPDATE_S
        uj = (self.offset_uj + int(self.cpu.energy(t_rapl) * 1e6)) % RAPL_MAX_RANGE_UJ
        with open(self.zone / "energy_uj", "w") as f:
            f.write(f"{uj}\n")
        if self.counter:
            t_nv = int(t / NVML_UPDATE_S + 1e-9) * NVML_UPDATE_S
            since = self.gpu_p.energy(t_nv) - (self.gpu_p.energy(NVML_RESET_AT) if t >= NVML_RESET_AT else 0.0)
            self.gpu.energy_mj = int(since * 1000)
        self.gpu.power_mw = int(self.gpu_p.power(t) * 1000)

    def sources(self):
        from carbon_magic.sources.nvml import NvmlGpu  # noqa: PLC0415
        from carbon_magic.sources.rapl import RaplZone  # noqa: PLC0415

        gpu = NvmlGpu(self.nvml, self.gpu, "gpu:0", self.gpu.uuid)
        return [RaplZone(self.zone, "cpu:package-0", "cpu"), gpu]


def replay(tmp: Path, interval_s: float, counter: bool, schedule) -> list[dict]:
    from fakes import FakeClock  # noqa: PLC0415

    from carbon_magic.config import Settings  # noqa: PLC0415
    from carbon_magic.ledger import Ledger  # noqa: PLC0415
    from carbon_magic.session import CarbonSession  # noqa: PLC0415
    from carbon_magic.sources import Discovery  # noqa: PLC0415

    hw = Replay(tmp, counter)
    clock = FakeClock(t=0.0)
    settings = Settings(interval_s=interval_s, data_dir=tmp / "data", cuda_sync=False, scope="machine")
    session = CarbonSession(settings, discovery=Discovery(sources=hw.sources()), ledger=Ledger.in_dir(tmp / "data"),
                            clock=clock, wall=clock.wall, cuda_sync=lambda: []).start(thread=False)
    events = [(k * interval_s, 1, None) for k in range(1, int(hw.cpu.end / interval_s) + 1)]
    events += [(a, 0, i) for i, (a, _, _) in enumerate(schedule)] + [(b, 2, i) for i, (_, b, _) in enumerate(schedule)]
    windows, out = {}, []
    for t, kind, i in sorted(events):
        clock.t = t
        hw.set(t)
        if kind == 1:
            session.sampler.tick()
        elif kind == 0:
            windows[i] = session.begin(label=str(i))
        else:
            rec = session.end(windows.pop(i))
            a, b, klass = schedule[i]
            for c in rec.components:
                exact = (hw.cpu if c.kind == "cpu" else hw.gpu_p).between(a, b)
                own = {"cpu": "spans the RAPL wrap", "gpu": "spans the NVML reset" if counter else None}[c.kind]
                # the other source's event: an ordinary cell for this one
                k = _klass(b - a) if klass.startswith("spans") and klass != own else klass
                out.append({"cell": i, "class": k, "source": c.name, "method": c.method,
                            "reported_j": c.energy_j, "exact_j": exact, "duration_s": b - a})
    session.close()
    return out


def summarize(intervals, results) -> list[list]:
    """One row per (method, class): median and max |error| at each interval."""
    keys = []
    for label, by_interval in results.items():
        for r in by_interval[intervals[0]]:
            k = (label, r["source"], r["class"])
            if k not in keys:
                keys.append(k)
    out = []
    for label, source, klass in keys:
        row = [label, klass]
        for iv in intervals:
            errs = [(r["reported_j"] - r["exact_j"]) / r["exact_j"] for r in results[label][iv]
                    if r["source"] == source and r["class"] == klass]
            n = len(errs)
            methods = sorted({r["method"] for r in results[label][iv] if r["source"] == source and r["class"] == klass})
            abs_e = [abs(e) for e in errs]
            row.append(f"{statistics.median(abs_e) * 100:.2f} % / {max(abs_e) * 100:.1f} %")
        out.append([*row[:2], n, "+".join(methods), *row[2:]])
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    intervals = (0.5, 1.0) if args.quick else (0.1, 0.5, 1.0, 2.0)
    schedule = cells(args.quick)
    print(header("carbon_magic energy accuracy on a replayed power profile"
                 + (" (--quick: fewer cells)" if args.quick else "")))
    results: dict[str, dict] = {"counter (RAPL)": {}, "counter (NVML)": {}, "sampled (NVML power)": {}}
    sanity = []
    with tempfile.TemporaryDirectory(prefix="cm-acc-") as tmp:
        for iv in intervals:
            for counter in (True, False):
                rows = replay(Path(tmp) / f"{iv}-{counter}", iv, counter, schedule)
                if counter:
                    results["counter (RAPL)"][iv] = [r for r in rows if r["source"].startswith("cpu")]
                    results["counter (NVML)"][iv] = [r for r in rows if r["source"].startswith("gpu")]
                else:
                    results["sampled (NVML power)"][iv] = [r for r in rows if r["source"].startswith("gpu")]
                sanity.append(sum(1 for r in rows if r["reported_j"] < 0))
    assert not any(sanity), "negative energy reported"
    cols = ["method", "cells", "n", "method in record", *[f"{iv:g} s: median / max abs error" for iv in intervals]]
    print(table(cols, summarize(intervals, results),
                title="Per-cell energy error vs the exact integral, by method, cell class and sampling interval"))
    print(f"\nprofile: 300 s, CPU 14–90 W, GPU 55–400 W; {len(schedule)} cells "
          f"({', '.join(f'{k}: {sum(1 for c in schedule if c[2] == k)}' for k in sorted({c[2] for c in schedule}))}). "
          f"RAPL counter max {RAPL_MAX_RANGE_UJ / 1e9:g} kJ, wraps at t = {RAPL_WRAP_AT:g} s; NVML counter "
          f"updates every {NVML_UPDATE_S * 1000:g} ms and is reset to 0 at t = {NVML_RESET_AT:g} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
