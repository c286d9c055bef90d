#!/usr/bin/env python3
"""What the intensity layer costs a cell.

    python bench/bench_intensity.py            # prints a Markdown table for docs/performance.md

1. Cell-start latency added by the intensity layer when the provider takes 2 s to answer:
   `CarbonSession.begin()` (which prefetches) with a live service whose HTTP server on 127.0.0.1
   sleeps 2 s per request, against the same session with the static table. Fetching happens in
   the service's thread, so the difference must stay near zero. Measured for the load (the
   service starts its worker and first fetch there), the first cell, and later cells while that
   fetch is still in flight; one session at a time, so no other session's fetch competes.
2. The time-resolved integral for a 24 h cell: `co2.integrate` over the samples the sampler
   keeps for 24 h (1 h at 0.5 s plus one per minute before that), priced by `at()` against a
   cached half-hourly series (48 values), and the bound case of all 172,800 samples at 0.5 s;
   each also with a constant intensity, to show what the lookups themselves add.
"""
from __future__ import annotations

import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from carbon_magic.co2 import integrate  # noqa: E402
from carbon_magic.config import Settings  # noqa: E402
from carbon_magic.intensity import make_service  # noqa: E402
from carbon_magic.ledger import Ledger  # noqa: E402
from carbon_magic.sampler import Snapshot  # noqa: E402
from carbon_magic.session import CarbonSession  # noqa: E402
from carbon_magic.sources.discovery import Discovery  # noqa: E402
from intensity_http import FakeAPI  # noqa: E402  (the tests' fake APIs, a real server)

SLOW_S = 2.0


class ConstantSource:
    """A 100 W source so that begin() reads something, without hardware."""

    name, kind, method, resolution_s = "cpu:bench", "cpu", "counter", 0.001

    def read(self, now):
        from carbon_magic.sources.base import Reading  # noqa: PLC0415

        return Reading(100.0 * now, 100.0)

    def close(self):
        pass


def _session(intensity, tmp: Path) -> CarbonSession:
    return CarbonSession(Settings(zone=intensity.zone), Discovery(sources=[ConstantSource()]),
                         Ledger(tmp / f"l{id(intensity)}.sqlite3"), intensity=intensity).start(thread=False)


def _us(values):
    s = sorted(values)
    return statistics.median(s) * 1e6, s[int(0.99 * (len(s) - 1))] * 1e6, s[-1] * 1e6


def bench_cell_start(api_url: str, tmp: Path, sessions: int = 5, cells: int = 1000) -> dict:
    """Per kind of service: load (make_service), the first cell, and later cells, one session at a time."""
    out = {}
    for label, settings in (("static table", lambda: Settings(zone="FR")),
                            (f"UK API answering in {SLOW_S:g} s", lambda: Settings(zone="GB", uk_url=api_url))):
        load, first, later, in_flight = [], [], [], True
        for _ in range(sessions):
            t0 = time.perf_counter()
            service = make_service(settings(), None, timeout_s=10.0)  # starts the first fetch
            load.append(time.perf_counter() - t0)
            session = _session(service, tmp)
            t0 = time.perf_counter()
            session.begin()
            first.append(time.perf_counter() - t0)
            for _ in range(cells):
                t0 = time.perf_counter()
                session.begin()
                later.append(time.perf_counter() - t0)
            if service._feed.provider is not None:
                in_flight &= service._feed.in_flight or service._feed.requested
            service.sync(3 * SLOW_S)  # one session at a time: its fetch ends before the next starts
            session.close()
        out[label] = {"load": _us(load), "first": _us(first), "later": _us(later), "in_flight": in_flight}
    return out


def _cached_service(api_url: str):
    """A UK service whose cache holds the last 24 h and the next 48 h (fetched once, then read)."""
    service = make_service(Settings(zone="GB", uk_url=api_url), None, timeout_s=10.0)
    service.prefetch(time.time())
    service.sync(30)
    return service


def bench_at(service) -> float:
    now = time.time()
    n, best = 50_000, float("inf")
    for _ in range(5):  # best of five batches: a shared machine adds only noise, never speed
        t0 = time.perf_counter()
        for i in range(n):
            service.at(now - (i % 86400))
        best = min(best, (time.perf_counter() - t0) / n)
    return best


def _points(n_fine: int, fine_dt: float, n_coarse: int, coarse_dt: float, end_wall: float) -> list:
    pts = []
    t = end_wall - n_fine * fine_dt - n_coarse * coarse_dt
    for dt, n in ((coarse_dt, n_coarse), (fine_dt, n_fine)):
        for _ in range(n):
            pts.append(Snapshot(t, t, {"gpu:0": 300.0 * t, "cpu:package-0": 50.0 * t}, {}))
            t += dt
    pts.append(Snapshot(t, t, {"gpu:0": 300.0 * t, "cpu:package-0": 50.0 * t}, {}))
    return pts


def bench_integral(service) -> dict:
    end = time.time()
    cases = {"24 h as the sampler keeps it (7,200 fine + 1,380 coarse samples)": _points(7200, 0.5, 1380, 60.0, end),
             "24 h, every 0.5 s sample kept (172,800 samples)": _points(172_800, 0.5, 0, 60.0, end)}
    out = {}
    constant = service.at(end)
    for label, pts in cases.items():
        energy = pts[-1].total_j() - pts[0].total_j()
        for how, at in (("cached series", service.at), ("one constant value", lambda t: constant)):
            runs = []
            for _ in range(5):
                t0 = time.perf_counter()
                g, mean, segs = integrate(pts, energy, at)
                runs.append(time.perf_counter() - t0)
            out[f"{label}, {how}"] = (len(pts), min(runs) * 1e3, statistics.median(runs) * 1e3, len(segs), mean)
    return out


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    with FakeAPI(now=time.time()) as api, tempfile.TemporaryDirectory() as tmp:
        api.fault("/", delay_s=SLOW_S)
        start = bench_cell_start(api.url, Path(tmp))
        api.faults.clear()
        service = _cached_service(api.url)
        at_s = bench_at(service)
        integral = bench_integral(service)
        service.close()
    print(f"Machine: {_cpu_model()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end, "
          f"Python {platform.python_version()}, {platform.system()}\n")
    print("| `CarbonSession.begin()` and load | static table: median / p99 / max µs "
          f"| UK API answering in {SLOW_S:g} s: median / p99 / max µs |")
    print("| --- | --- | --- |")
    static, slow = list(start.values())
    for key, what in (("load", "extension load (`make_service`)"), ("first", "first cell"),
                      ("later", "later cells, fetch in flight")):
        a, b = static[key], slow[key]
        print(f"| {what} | {a[0]:.0f} / {a[1]:.0f} / {a[2]:.0f} | {b[0]:.0f} / {b[1]:.0f} / {b[2]:.0f} |")
    print(f"\nAdded at cell start by a provider answering in {SLOW_S:g} s (medians): first cell "
          f"{slow['first'][0] - static['first'][0]:+.0f} µs, "
          f"later cells {slow['later'][0] - static['later'][0]:+.0f} µs; "
          f"the fetch was in flight during every measured cell: {slow['in_flight']}.")
    print(f"\n`at()` from the cache: {at_s * 1e9:.0f} ns per call (best of 5 batches).\n")
    print("| time-resolved integral | points | best ms | median ms | segments | mean g/kWh |")
    print("| --- | --- | --- | --- | --- | --- |")
    for label, (n, best, med, segs, mean) in integral.items():
        print(f"| {label} | {n:,} | {best:.1f} | {med:.1f} | {segs} | {mean:.1f} |")


if __name__ == "__main__":
    main()
