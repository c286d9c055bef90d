"""What the forecast says about waiting: reading it from the intensity service, planning a start,
and pricing a job's energy at other times.

The service is used only through its public face: ``for_zone(zone)`` gives a feed with ``series``
(piecewise-constant intervals, each with its provenance ``kind``), ``provider`` and ``at(t)``;
``refresh_now`` asks once when nothing is cached yet. Everything else here is arithmetic on a
``Series`` (``intensity.schedule``), so tests and the workshop can pass a recorded forecast.
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ..co2 import intensity_pieces
from ..intensity.provider import Interval, IntensityValue
from ..intensity.schedule import Series, best_window
from ..units import J_PER_KWH, fmt_duration, fmt_mass_g

REALISED_KINDS = ("live", "historical")  # values that will not change: what "actual" is priced with
_MISSING = IntensityValue(math.nan, {"kind": "missing"})


# -- reading a forecast ----------------------------------------------------------------------
def has_forecast(series: Series, now_s: float, ahead_s: float) -> bool:
    """Whether `series` holds forecast values reaching at least `ahead_s` past now."""
    return any(i.end_s >= now_s + ahead_s and i.value.provenance.get("kind") == "forecast"
               for i in series.items)


def service_forecast(service, zone: str | None, ahead_s: float, wait_s: float | None = None):
    """(series, provider name) of `zone`'s feed where it holds a forecast, else (None, why: one line).

    Asks the provider once (waiting up to wait_s) when nothing ahead is cached yet.
    """
    feed = service.for_zone(zone)
    now = service.now()
    if feed.provider is not None and not has_forecast(feed.series, now, ahead_s):
        service.refresh_now(feed, wait_s=3 * getattr(service, "timeout_s", 5.0) + 1 if wait_s is None else wait_s)
    if feed.provider is not None and has_forecast(feed.series, now, ahead_s):
        return feed.series, feed.provider.display
    return None, _why_no_forecast(feed, zone)


def _why_no_forecast(feed, zone) -> str:
    where = zone or feed.zone or "the world average"
    if feed.provider is None:
        return (f"no forecast for {where}: the static table has annual averages only (a UK zone such as "
                "uk:london has a free forecast; Electricity Maps and WattTime need credentials)")
    note = getattr(feed.provider, "forecast_note", None)
    if note:
        return f"no forecast for {where}: {note}"
    reason = feed.reason()
    if reason:
        return f"no forecast for {where}: {feed.provider.display} is unavailable ({reason})"
    return f"no forecast for {where}: {feed.provider.display} returned no future values"


def recorded_series(rows, kind: str = "forecast", source: str = "recorded") -> Series:
    """A Series from (start_s, end_s, g_per_kwh) rows, labelled `kind` (a recorded forecast)."""
    prov = {"provider": "recorded", "provider_name": source, "kind": kind, "source": source}
    return Series(Interval(float(a), float(b), IntensityValue(float(v), dict(prov))) for a, b, v in rows)


def read_hourly_csv(path, column: str | None = None) -> list[tuple[float, float, float]]:
    """(start_s, end_s, g/kWh) rows from a CSV of hourly or half-hourly values.

    Reads the Electricity Maps data-portal layout (`Datetime (UTC)` as `2023-01-01 00:00:00` or
    `01/01/2023 00:00`, `Carbon Intensity gCO₂eq/kWh (direct)`) and the layout that
    scripts/fetch_intensity_year.py writes (`from_utc`, `to_utc`, `actual_g_per_kwh`). Rows without a
    value are skipped. Each row lasts until the next one starts (the last: as long as the one before).
    """
    with open(Path(path), newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(line for line in f if not line.startswith("#"))
        fields = reader.fieldnames or []
        time_col = "from_utc" if "from_utc" in fields else "Datetime (UTC)"
        value_col = column or next((c for c in ("actual_g_per_kwh", "Carbon Intensity gCO₂eq/kWh (direct)",
                                                 "Carbon Intensity gCO₂eq/kWh (LCA)") if c in fields), None)
        if time_col not in fields or value_col is None:
            raise ValueError(f"{path}: expected a time column (from_utc or 'Datetime (UTC)') and a g/kWh column, "
                             f"got {', '.join(fields)}")
        points = [(_parse_utc(r[time_col]), float(r[value_col])) for r in reader if (r.get(value_col) or "").strip()]
    points.sort()
    out = []
    for i, (t, v) in enumerate(points):
        step = (points[i + 1][0] - t) if i + 1 < len(points) else (t - points[i - 1][0] if i else 3600.0)
        out.append((t, t + min(step, 3600.0), v))
    return out


def _parse_utc(text: str) -> float:
    s = text.strip().replace("Z", "")
    for fmt in ("%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%d/%m/%Y %H:%M", "%Y-%m-%d %H:%M"):
        try:
            return datetime.strptime(s, fmt).replace(tzinfo=timezone.utc).timestamp()
        except ValueError:
            continue
    raise ValueError(f"not a UTC time: {text!r}")


# -- planning a wait -------------------------------------------------------------------------
@dataclass(frozen=True)
class WaitPlan:
    """The greenest start for a job of `duration_s` within `within_s` of now, by the forecast."""

    zone: str | None
    provider: str
    now_s: float
    start_s: float
    duration_s: float
    within_s: float
    mean_g_per_kwh: float
    now_mean_g_per_kwh: float | None  # starting at once, where the forecast covers it
    covered_until_s: float
    forecast: Series  # what was forecast when the plan was made (prices the forecast saving)

    @property
    def wait_s(self) -> float:
        return max(0.0, self.start_s - self.now_s)

    @property
    def saving_pct(self) -> float | None:
        n = self.now_mean_g_per_kwh
        return 100.0 * (n - self.mean_g_per_kwh) / n if n else None

    def saving_g(self, power_w: float | None) -> float | None:
        """Expected grams saved for a job of this length drawing `power_w`."""
        if power_w is None or self.now_mean_g_per_kwh is None:
            return None
        return power_w * self.duration_s / J_PER_KWH * (self.now_mean_g_per_kwh - self.mean_g_per_kwh)

    def saving_text(self, power_w: float | None = None) -> str:
        if self.saving_pct is None:
            return f"{self.mean_g_per_kwh:.0f} g/kWh"
        text = (f"{self.mean_g_per_kwh:.0f} g/kWh against {self.now_mean_g_per_kwh:.0f} now: "
                f"{self.saving_pct:.0f} % less")
        g = self.saving_g(power_w)
        if g is not None:
            text += f", ≈ {fmt_mass_g(g)} for {fmt_duration(self.duration_s)} at {power_w:.0f} W"
        return text


def plan_wait(series: Series, now_s: float, duration_s: float, within_s: float, zone=None,
              provider: str = "forecast") -> WaitPlan | None:
    """The plan, or None where the forecast does not cover one job length from now."""
    window = best_window(series, now_s, duration_s, within_s)
    if window is None:
        return None
    return WaitPlan(zone, provider, now_s, window.start_s, duration_s, within_s, window.mean_g_per_kwh,
                    window.now_mean_g_per_kwh, window.covered_until_s, series)


# -- pricing ---------------------------------------------------------------------------------
def series_at(series: Series):
    """`at(t)` over a Series; a missing value where it has none."""
    def at(t: float) -> IntensityValue:
        iv = series.find(t)
        return iv.value if iv is not None else _MISSING
    return at


def span_mean(at, a: float, b: float) -> tuple[float | None, bool]:
    """(mean g/kWh over [a, b] by `at`, or None where a value is missing; whether every value is
    realised: live or historical and not a fallback)."""
    if b <= a:
        v = at(a)
        return (None if math.isnan(v.value_g_per_kwh) else v.value_g_per_kwh), _realised(v)
    total, realised = 0.0, True
    for p0, p1, v in intensity_pieces(a, b, at):
        if math.isnan(v.value_g_per_kwh):
            return None, False
        total += v.value_g_per_kwh * (p1 - p0)
        realised = realised and _realised(v)
    return total / (b - a), realised


def _realised(v: IntensityValue) -> bool:
    p = v.provenance or {}
    return p.get("kind") in REALISED_KINDS and not p.get("fallback_reason")


def moved_saving_g(pieces, at, from_s: float, to_s: float) -> tuple[float | None, bool]:
    """Grams saved by running `pieces` (offset_start_s, offset_end_s, energy_j) from `to_s` instead
    of `from_s`, priced by `at`; (None, False) where no piece is priced at both times.

    Returns (grams, every value realised). Pieces the prices do not cover are left out.
    """
    grams, realised, priced = 0.0, True, False
    for a, b, energy_j in pieces:
        then, r0 = span_mean(at, from_s + a, from_s + b)
        now, r1 = span_mean(at, to_s + a, to_s + b)
        if then is None or now is None:
            realised = False
            continue
        priced = True
        grams += energy_j / J_PER_KWH * (then - now)
        realised = realised and r0 and r1
    return (grams, realised) if priced else (None, False)
