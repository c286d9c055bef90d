#!/usr/bin/env python3
"""Carbon-aware scheduling over a year of grid intensity: the shape of Dodge et al. (FAccT 2022,
"Measuring the Carbon Intensity of AI in Cloud Instances", §6), Flexible Start and Pause-and-Resume.

    python bench/carbon_aware.py                                    # the shipped real year: GB 2023 (tests/data)
    python bench/carbon_aware.py --csv data/uk_intensity_2024.csv   # another year (scripts/fetch_intensity_year.py)
    python bench/carbon_aware.py --synthetic                        # the labelled synthetic year (no data needed)
    python bench/carbon_aware.py --synthetic --quick                # 60 days, for the tests

For every start hour of the series and each job length, the emissions of running at once are
compared with the best schedule that knows the intensities ahead (an oracle, as in the paper):
  Flexible Start (window +W h): start at the best hour within W h, then run without stopping;
  Pause-and-Resume (window +P %): run in the job's R cheapest hours among the next R·(1+P) hours.
The tables give the mean saving in % over all start hours (a job drawing constant power, so the
saving is the drop in mean intensity). A third table runs carbon_magic's own Flexible Start
(`intensity.schedule.best_window`, what `%carbon wait` uses) on a sample of start hours, as a check
that the library finds the oracle's start.

The default series is real: Great Britain's hourly intensity for 2023 from the Electricity Maps data
portal (ODbL), shipped as tests/data/GB_2023_hourly.csv with its source in its `#` lines and in
tests/data/README.md; the direct (operational) column unless --column names another. The synthetic
year is NOT data: a documented shape (SYNTHETIC below) for trying the method on other shapes. Its
numbers show the method, not any grid.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _common import header, table  # noqa: E402

JOBS_H = (1, 6, 24, 72)
FS_WINDOWS_H = (6, 12, 18, 24)
PR_WINDOWS = (0.25, 0.5, 0.75, 1.0)

# The synthetic year: every parameter of its shape, so anyone can rebuild it.
SYNTHETIC = {
    "mean_g_per_kwh": 250.0,  # annual level
    "seasonal_amplitude": 0.20,  # ±20 %, highest on 15 January
    "evening_peak_amplitude": 0.12,  # daily cosine, highest at 18:00 UTC
    "solar_dip_depth": 0.10,  # at 13:00 UTC, Gaussian of 3 h width, scaled by summer (0 in January, 1 in July)
    "weather_sd": 0.25,  # AR(1) weather (wind) factor: stationary standard deviation…
    "weather_memory_h": 48.0,  # …and correlation time
    "floor_g_per_kwh": 20.0,
    "seed": 14,
}


def synthetic_year(days: int = 365, p: dict = SYNTHETIC) -> np.ndarray:
    """Hourly g/kWh for `days` days from 1 January (00:00 UTC), built from SYNTHETIC."""
    hours = np.arange(days * 24, dtype=float)
    doy = hours / 24.0
    hod = hours % 24
    season = np.cos(2 * np.pi * (doy - 14) / 365.0)
    summer = (1 - season) / 2
    daily = (p["evening_peak_amplitude"] * np.cos(2 * np.pi * (hod - 18) / 24)
             - p["solar_dip_depth"] * summer * np.exp(-(((hod - 13) / 3.0) ** 2)))
    rng = np.random.default_rng(p["seed"])
    phi = math.exp(-1.0 / p["weather_memory_h"])
    noise = rng.standard_normal(hours.size) * p["weather_sd"] * math.sqrt(1 - phi * phi)
    weather = np.empty_like(hours)
    w = 0.0
    for i, n in enumerate(noise):
        w = phi * w + n
        weather[i] = w
    values = p["mean_g_per_kwh"] * (1 + p["seasonal_amplitude"] * season + daily + weather)
    return np.maximum(values, p["floor_g_per_kwh"])


GB_2023 = ROOT / "tests" / "data" / "GB_2023_hourly.csv"


def hourly_from_csv(path, column: str | None = None) -> tuple[np.ndarray, str]:
    """Hourly means (g/kWh) from a CSV read_hourly_csv understands, and its first hour (UTC)."""
    from carbon_magic.act.forecast import read_hourly_csv  # noqa: PLC0415

    rows = read_hourly_csv(path, column)
    if not rows:
        raise SystemExit(f"{path}: no values")
    t0 = rows[0][0] - rows[0][0] % 3600
    n = int((rows[-1][1] - t0 + 3599) // 3600)
    acc, dur = np.zeros(n), np.zeros(n)
    for a, b, v in rows:
        i = int((a - t0) // 3600)
        acc[i] += v * (b - a)
        dur[i] += b - a
    ok = dur > 0
    values = np.where(ok, acc / np.where(ok, dur, 1), np.nan)
    if (~ok).any():  # a gap: carry the last value (said in the output)
        for i in np.flatnonzero(~ok):
            values[i] = values[i - 1] if i else values[np.flatnonzero(ok)[0]]
    from datetime import datetime, timezone  # noqa: PLC0415

    return values, datetime.fromtimestamp(t0, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC") + \
        (f"; {(~ok).sum()} hours missing, carried forward" if (~ok).any() else "")


def rolling_mean(x: np.ndarray, n: int) -> np.ndarray:
    c = np.concatenate(([0.0], np.cumsum(x)))
    return (c[n:] - c[:-n]) / n


def flexible_start(x: np.ndarray, job_h: int, window_h: int, starts: int) -> np.ndarray:
    """Per start hour: 1 − best mean over a start within window_h / mean starting at once."""
    m = rolling_mean(x, job_h)
    best = np.lib.stride_tricks.sliding_window_view(m, window_h + 1)[:starts].min(axis=1)
    return 1 - best / m[:starts]


def extra_hours(job_h: int, extra: float) -> int:
    """Whole hours of slack an hourly schedule gets: +25 % of a 1 h job is none."""
    return int(math.floor(job_h * extra + 1e-9))


def pause_and_resume(x: np.ndarray, job_h: int, extra: float, starts: int) -> np.ndarray:
    """Per start hour: 1 − mean of the job_h cheapest hours among the next job_h·(1+extra) / at once."""
    span = job_h + extra_hours(job_h, extra)
    windows = np.lib.stride_tricks.sliding_window_view(x, span)[:starts]
    cheapest = np.partition(windows, job_h - 1, axis=1)[:, :job_h].mean(axis=1)
    return 1 - cheapest / rolling_mean(x, job_h)[:starts]


def savings(x: np.ndarray, jobs=JOBS_H, fs_windows=FS_WINDOWS_H, pr_windows=PR_WINDOWS) -> dict:
    """{"fs": {(job, window): mean saving}, "pr": {(job, share): mean saving}, "starts": n}.

    Every cell of the tables uses the same start hours: those from which the longest schedule of
    the longest job still fits in the series.
    """
    longest = max(max(jobs) + max(fs_windows), max(j + extra_hours(j, max(pr_windows)) for j in jobs))
    starts = x.size - longest + 1
    if starts < 24:
        raise SystemExit(f"the series has {x.size} hours: too short for jobs up to {max(jobs)} h (needs {longest + 23})")
    fs = {(j, w): float(flexible_start(x, j, w, starts).mean()) for j in jobs for w in fs_windows}
    pr = {(j, p): float(pause_and_resume(x, j, p, starts).mean()) for j in jobs for p in pr_windows}
    return {"fs": fs, "pr": pr, "starts": starts}


def library_check(x: np.ndarray, t0_s: float, job_h: int, window_h: int, sample: int = 50) -> tuple[int, float]:
    """(start hours checked, largest |library − oracle| saving in percentage points) for
    carbon_magic's best_window on every `step`-th start hour."""
    from carbon_magic.act.forecast import recorded_series  # noqa: PLC0415
    from carbon_magic.intensity.schedule import best_window  # noqa: PLC0415

    series = recorded_series([(t0_s + 3600 * i, t0_s + 3600 * (i + 1), v) for i, v in enumerate(x)])
    n = x.size - job_h - window_h
    oracle = flexible_start(x, job_h, window_h, n)
    step = max(1, n // sample)
    worst, checked = 0.0, 0
    for s in range(0, n, step):
        w = best_window(series, t0_s + 3600 * s, job_h * 3600.0, (job_h + window_h) * 3600.0)
        lib = 1 - w.mean_g_per_kwh / w.now_mean_g_per_kwh
        worst = max(worst, abs(lib - oracle[s]) * 100)
        checked += 1
    return checked, worst


def pct(v: float) -> str:
    return f"{abs(v) * 100:.1f} %" if abs(v) < 5e-4 else f"{v * 100:.1f} %"  # no "-0.0 %"


def report(x: np.ndarray, source: str, first_hour: str, quick: bool = False) -> str:
    res = savings(x)
    out = [header("Carbon-aware scheduling: Flexible Start and Pause-and-Resume"),
           f"series: {source}  \nhours: {x.size} from {first_hour}; mean {x.mean():.0f} g/kWh, "
           f"min {x.min():.0f}, max {x.max():.0f}; start hours averaged: {res['starts']}\n"]
    out.append(table(["job length"] + [f"FS +{w} h" for w in FS_WINDOWS_H],
                     [[f"{j} h"] + [pct(res["fs"][(j, w)]) for w in FS_WINDOWS_H] for j in JOBS_H],
                     "Flexible Start: mean saving against starting at once"))
    out.append(table(["job length"] + [f"P&R +{int(p * 100)} %" for p in PR_WINDOWS],
                     [[f"{j} h"] + [pct(res["pr"][(j, p)]) for p in PR_WINDOWS] for j in JOBS_H],
                     "Pause-and-Resume: mean saving against running at once"))
    rows = []
    for j, w in ((1, 6), (6, 12)) if quick else ((1, 6), (6, 12), (24, 24)):
        n, worst = library_check(x, 0.0, j, w, sample=20 if quick else 100)
        rows.append([f"{j} h", f"+{w} h", n, f"{worst:.2e} pp"])
    out.append(table(["job length", "window", "start hours checked", "largest difference"], rows,
                     "carbon_magic's best_window (%carbon wait) against the oracle"))
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = p.add_mutually_exclusive_group()
    src.add_argument("--csv", default=str(GB_2023.relative_to(ROOT)),
                     help="hourly or half-hourly intensities (scripts/fetch_intensity_year.py, or an Electricity "
                          "Maps data-portal CSV); default: the shipped GB 2023 year")
    src.add_argument("--synthetic", action="store_true", help="the documented synthetic year (not data)")
    p.add_argument("--column", help="the CSV's g/kWh column (default: the operational one, e.g. "
                                    "'Carbon Intensity gCO₂eq/kWh (direct)'; the LCA column for life-cycle)")
    p.add_argument("--quick", action="store_true", help="60 days of the synthetic series; fewer library checks")
    args = p.parse_args(argv)
    if args.synthetic:
        x = synthetic_year(60 if args.quick else 365)
        params = ", ".join(f"{k}={v}" for k, v in SYNTHETIC.items())
        source = f"**SYNTHETIC** (not measured data): bench/carbon_aware.py SYNTHETIC ({params})"
        first = "day 1 00:00 (no calendar year)"
    else:
        path = Path(args.csv) if Path(args.csv).is_absolute() or Path(args.csv).exists() else ROOT / args.csv
        x, first = hourly_from_csv(path, args.column)
        column = args.column or "the operational (direct) column"
        source = f"{args.csv}, {column} (see the `#` lines of the file for its source and licence)"
    print(report(x, source, first, quick=args.quick))
    return 0


if __name__ == "__main__":
    sys.exit(main())
