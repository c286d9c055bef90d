#!/usr/bin/env python3
"""Fetch a year of half-hourly grid carbon intensity for Great Britain from the UK Carbon
Intensity API (NESO, carbonintensity.org.uk: no key, licence CC BY 4.0), for bench/carbon_aware.py.

    python scripts/fetch_intensity_year.py --year 2024                  # -> data/uk_intensity_2024.csv
    python scripts/fetch_intensity_year.py --start 2024-06-01 --days 30 --out june.csv
    python bench/carbon_aware.py --csv data/uk_intensity_2024.csv

National values: `actual` (the realised figure; the forecast is kept beside it). Requests ask for
13 days and a half-hour each (the API allows 14 for /intensity/{from}/{to}), one after the other, with a
timeout, retrying a few times on 429 and 5xx. The file starts with `#` lines that record the
source, the URL, the licence and when it was fetched; a half-hour the API did not return is
left out (the count is printed). `CARBON_MAGIC_UK_URL` or `--base-url` points it elsewhere
(a proxy, or a test server).
"""
from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

DEFAULT_URL = "https://api.carbonintensity.org.uk"
CHUNK_DAYS = 13  # with the half-hour of overlap, inside the API's 14-day limit
LICENCE = "CC BY 4.0 (NESO Carbon Intensity API terms: github.com/carbon-intensity/terms)"
COLUMNS = ("from_utc", "to_utc", "actual_g_per_kwh", "forecast_g_per_kwh")


def iso_minute(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%MZ")


def get(session, url: str, timeout_s: float, attempts: int = 4, pause_s: float = 2.0, sleep=time.sleep):
    """The JSON body of url; retries on 429 and 5xx (Retry-After honoured), raises on anything else."""
    for i in range(attempts):
        r = session.get(url, timeout=timeout_s)
        if r.status_code == 200:
            return r.json()
        if r.status_code != 429 and r.status_code < 500 or i == attempts - 1:
            raise RuntimeError(f"{url}: HTTP {r.status_code}")
        try:
            wait = float(r.headers.get("Retry-After") or pause_s * 2 ** i)
        except ValueError:
            wait = pause_s * 2 ** i
        sleep(min(wait, 60.0))
    raise RuntimeError(f"{url}: no answer")


def fetch(base_url: str, start: datetime, end: datetime, session=None, timeout_s: float = 30.0,
          say=print) -> list[tuple[str, str, float | None, float | None]]:
    """(from, to, actual, forecast) per half-hour over [start, end), sorted, one row per half-hour."""
    if session is None:
        import requests  # noqa: PLC0415

        session = requests.Session()
        session.headers["User-Agent"] = "carbon_magic fetch_intensity_year.py"
    rows: dict[str, tuple] = {}
    t = start
    while t < end:
        t_end = min(end, t + timedelta(days=CHUNK_DAYS))
        # From half an hour early: whether the API counts the half-hour that starts at `from` or
        # the one that ends there, none is lost between requests (duplicates are merged).
        frm = t - timedelta(minutes=30) if t > start else t
        url = f"{base_url.rstrip('/')}/intensity/{iso_minute(frm)}/{iso_minute(t_end)}"
        body = get(session, url, timeout_s)
        for period in body.get("data") or []:
            iv = period.get("intensity") or {}
            frm = period.get("from")
            if not frm or not (start <= _parse(frm) < end):
                continue
            rows[frm] = (frm, period.get("to"), iv.get("actual"), iv.get("forecast"))
        say(f"  {iso_minute(t)} … {iso_minute(t_end)}: {len(rows)} half-hours so far")
        t = t_end
    return [rows[k] for k in sorted(rows, key=_parse)]


def _parse(text: str) -> datetime:
    return datetime.strptime(text.replace("Z", ""), "%Y-%m-%dT%H:%M").replace(tzinfo=timezone.utc)


def write(path: Path, rows, base_url: str, start: datetime, end: datetime) -> int:
    """Write the CSV with its provenance lines; returns the number of half-hours missing."""
    expected = int((end - start).total_seconds() // 1800)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        f.write("# source: NESO Carbon Intensity API (carbonintensity.org.uk), national, half-hourly\n")
        f.write(f"# url: {base_url.rstrip('/')}/intensity/{{from}}/{{to}}\n")
        f.write(f"# licence: {LICENCE}\n")
        f.write(f"# range: {iso_minute(start)} to {iso_minute(end)}; fetched_at: "
                f"{datetime.now(timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')}\n")
        f.write("# units: g CO2/kWh (direct emissions); actual is the realised figure, forecast the API's forecast\n")
        w = csv.writer(f, lineterminator="\n")
        w.writerow(COLUMNS)
        for frm, to, actual, forecast in rows:
            w.writerow([frm, to, "" if actual is None else actual, "" if forecast is None else forecast])
    return max(0, expected - len(rows))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--year", type=int, default=datetime.now(timezone.utc).year - 1)
    p.add_argument("--start", help="YYYY-MM-DD (instead of --year)")
    p.add_argument("--days", type=int, default=None, help="with --start: how many days")
    p.add_argument("--out", default=None)
    p.add_argument("--base-url", default=os.environ.get("CARBON_MAGIC_UK_URL") or DEFAULT_URL)
    p.add_argument("--timeout", type=float, default=30.0)
    args = p.parse_args(argv)
    if args.start:
        start = datetime.strptime(args.start, "%Y-%m-%d").replace(tzinfo=timezone.utc)
        end = start + timedelta(days=args.days or 365)
        name = f"uk_intensity_{args.start}_{args.days or 365}d.csv"
    else:
        start = datetime(args.year, 1, 1, tzinfo=timezone.utc)
        end = datetime(args.year + 1, 1, 1, tzinfo=timezone.utc)
        name = f"uk_intensity_{args.year}.csv"
    out = Path(args.out or Path("data") / name)
    print(f"fetching {iso_minute(start)} to {iso_minute(end)} from {args.base_url}")
    try:
        rows = fetch(args.base_url, start, end, timeout_s=args.timeout)
    except Exception as exc:  # noqa: BLE001 - one line, and what to do
        print(f"fetch_intensity_year: {exc} (no network? the API is at {DEFAULT_URL}; "
              "--base-url for a proxy)", file=sys.stderr)
        return 1
    missing = write(out, rows, args.base_url, start, end)
    print(f"wrote {len(rows)} half-hours to {out}" + (f" ({missing} missing)" if missing else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
