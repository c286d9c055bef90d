"""What a provider's answer (or the cache file) may put into our records: checked here, in one place.

A provider's answer is untrusted text. Only numbers and times cross into our data, and only when
plausible; every string in a record, a notice, the ledger or an export is ours:

- an intensity is a finite number in [0, MAX_G_PER_KWH] (else the answer is ``malformed``;
  null is ``null``);
- a time is an ISO 8601 string of at most MAX_TIME_CHARS, and a value's period lies between
  EARLIEST_S and MAX_AHEAD_S from now, with a length in [MIN_STEP_S, MAX_STEP_S] (other rows are
  dropped; an answer whose rows are all dropped is ``malformed``);
- rows are sorted, a repeated start keeps its last row (the provider's order: later wins), an
  overlap is cut at the next start, and at most MAX_ROWS rows of one answer are read;
- labels map onto our vocabulary (emission factor: ``lifecycle``, ``direct``, else ``other``);
  zone, provider, source and signal come from our configuration and constants, never the answer.

Rows read back from the ledger's cache pass the same checks, and their provenance is rebuilt
from the same vocabulary: the cache file is no more trusted than the network.
"""
from __future__ import annotations

import math
from datetime import datetime, timezone

from .provider import Interval, IntensityValue, ProviderError, iso_seconds

MAX_G_PER_KWH = 3000.0  # the dirtiest grids are ~1,100; lignite plants ~1,200 lifecycle
EARLIEST_S = 946_684_800.0  # 2000-01-01T00:00Z
MAX_AHEAD_S = 4 * 86400.0  # forecasts reach 48-72 h
MIN_STEP_S = 60.0
MAX_STEP_S = 86400.0  # daily granularity at most
MAX_ROWS = 5000  # rows read from one answer (real ones hold at most a few hundred)
MAX_POINTS = 6000  # values kept per zone, in memory and read back from the cache (newest kept)
MAX_TIME_CHARS = 40
KINDS = ("live", "historical", "forecast")
FACTORS = ("lifecycle", "direct")


def intensity(value, what: str) -> float:
    """g/kWh from a JSON value: null → ``null``; not a plausible finite number → ``malformed``."""
    return number(value, what, 0.0, MAX_G_PER_KWH)


def number(value, what: str, low: float, high: float) -> float:
    if value is None:
        raise ProviderError("null", f"{what} is null")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ProviderError("malformed", f"{what} is not a number")
    try:
        v = float(value)
    except OverflowError:  # an integer beyond a float
        raise ProviderError("malformed", f"{what} is out of range") from None
    if not (math.isfinite(v) and low <= v <= high):
        raise ProviderError("malformed", f"{what} is out of range")
    return v


def time_s(text, what: str = "time") -> float:
    """Unix seconds from the providers' ISO 8601 forms (…Z, …+00:00, with or without seconds)."""
    if not isinstance(text, str) or not text or len(text) > MAX_TIME_CHARS:
        raise ProviderError("malformed", f"{what} is not a time")
    s = text.strip()
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(s)
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=timezone.utc)
        return dt.timestamp()
    except (ValueError, OverflowError):
        raise ProviderError("malformed", f"{what} is not an ISO time") from None


def rows(items, what: str) -> list:
    """The first MAX_ROWS entries of a list in an answer."""
    if not isinstance(items, list):
        raise ProviderError("malformed", f"{what}: expected a list")
    return items[:MAX_ROWS]


def factor(label) -> str:
    """An emission-factor label in our vocabulary."""
    if isinstance(label, str) and label.strip().lower() in FACTORS:
        return label.strip().lower()
    return "other"


def provenance(provider, zone_key: str, kind: str | None, fetched_at: str | None, emission_factor=None,
               estimated: bool = False) -> dict:
    """A value's provenance, from our constants and configuration only."""
    if kind not in KINDS:
        raise ProviderError("malformed", "unknown kind of value")
    prov = {"provider": provider.name, "provider_name": provider.display, "zone": zone_key, "kind": kind,
            "fetched_at": fetched_at, "source": provider.source, "signal": provider.signal,
            "emission_factor": factor(emission_factor if emission_factor is not None else provider.emission_factor)}
    if estimated is True:
        prov["estimated"] = True
    return prov


def plausible(iv: Interval, now_s: float) -> bool:
    a, b, v = iv.start_s, iv.end_s, iv.value.value_g_per_kwh
    return (all(isinstance(x, float) and math.isfinite(x) for x in (a, b, v))
            and EARLIEST_S <= a <= now_s + MAX_AHEAD_S
            and MIN_STEP_S <= b - a <= MAX_STEP_S and 0.0 <= v <= MAX_G_PER_KWH)


def clean(intervals, now_s: float) -> list[Interval]:
    """Plausible rows, sorted, one per start (the last given), without overlaps.

    Raises ``malformed`` when rows were given and none is plausible.
    """
    given = list(intervals)
    by_start: dict[float, Interval] = {}
    for iv in given:
        if plausible(iv, now_s):
            by_start[iv.start_s] = iv
    if given and not by_start:
        raise ProviderError("malformed", "no plausible value in the answer")
    out = sorted(by_start.values(), key=lambda i: i.start_s)
    for k in range(len(out) - 1):
        nxt = out[k + 1].start_s
        if out[k].end_s > nxt:
            out[k] = out[k]._replace(end_s=nxt)
    return out


def from_cache(cached_rows, provider, zone_key: str, now_s: float) -> list[Interval]:
    """Intervals from the ledger's cache rows (start_s, end_s, g/kWh, provenance), re-checked.

    A row that does not pass is skipped; provenance is rebuilt (the stored dict only says which
    of our kinds and factors it was, and when it was fetched).
    """
    out = []
    for row in list(cached_rows)[-MAX_POINTS:]:  # the ledger gives them oldest first
        try:
            a, b, v, p = row
            if not isinstance(p, dict):
                continue
            fetched = p.get("fetched_at")
            fetched = iso_seconds(time_s(fetched)) if fetched is not None else None
            prov = provenance(provider, zone_key, p.get("kind"), fetched, p.get("emission_factor"),
                              p.get("estimated") is True)
            iv = Interval(_float(a), _float(b), IntensityValue(intensity(v, "cached value"), prov))
        except (ProviderError, TypeError, ValueError, OverflowError):
            continue
        if plausible(iv, now_s):
            out.append(iv)
    return clean(out, now_s) if out else []


def _float(x) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise TypeError("not a number")
    return float(x)
