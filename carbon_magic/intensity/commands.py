"""`%carbon zone`, `%carbon whatif`, `%carbon forecast`: imported on first use, not at load.

Each takes the CarbonMagics instance and the rest of the line. Argument errors raise IPython's
one-line UsageError; "no data" is said in one plain line, never raised.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone

from IPython.core.error import UsageError

from ..cmdline import CommandParser, split_args
from ..record import top_level
from ..units import fmt_duration, fmt_energy, fmt_mass_g, provider_display
from .messages import no_own_data_text, say
from .schedule import J_PER_KWH, best_window, pieces_of, price
from .static import has_own_figure, world_row
from .zones import normalize_zone, parse_zone

SHIFT_STEP_S = 1800.0
SHIFT_RANGE_S = (-24 * 3600.0, 48 * 3600.0)  # the providers' history and forecast horizons
MAX_WITHIN_S = 7 * 86400.0
WHATIF_HINT = ("carbon_magic: name the zones to compare this session with, "
               "e.g. %carbon whatif SE FR aws:eu-north-1")


def _zone(text: str, prog: str) -> str:
    try:
        return normalize_zone(text)
    except ValueError as exc:
        raise UsageError(f"{prog}: {exc}") from None


def _say_notices(session, already: str | None = None) -> None:
    for notice in session.drain_notices():
        if notice != already:
            say(notice)


# -- %carbon zone ------------------------------------------------------------------------
def zone_command(magics, argline: str):
    """`%carbon zone` shows the zone and provider; `%carbon zone ZONE` sets it for this session."""
    session = magics.session
    args = split_args(argline, "%carbon zone")
    if len(args) > 1:
        raise UsageError("%carbon zone takes one zone, e.g. %carbon zone FR (or uk:london, aws:us-east-1)")
    said = None
    if args:
        zone = _zone(args[0], "%carbon zone")
        session.intensity.set_zone(zone)  # also sets session.settings.zone
        spec = parse_zone(zone)
        feed = session.intensity.for_zone(zone)
        if getattr(feed, "provider", True) is None and not has_own_figure(spec):
            said = no_own_data_text(spec, world_row().g_co2e_per_kwh)  # one plain line says it all
            print(said)
        else:
            print(f"carbon_magic: zone {zone} ({spec.name}) · {session.intensity.describe()}")
    else:
        zone = session.intensity.zone
        print(f"zone: {zone or 'not set'} · provider: {session.intensity.describe()}")
    _say_notices(session, already=said)


# -- %carbon whatif ----------------------------------------------------------------------
@dataclass
class WhatIfRow:
    zone: str
    when: str | None  # None: at the same times as measured
    shift_s: float
    emissions_g: float
    saving_g: float
    saving_pct: float | None
    basis: str


@dataclass
class WhatIfResult:
    cells: int
    energy_j: float
    baseline_g: float
    rows: list[WhatIfRow] = field(default_factory=list)

    @property
    def best(self) -> WhatIfRow | None:
        alt = [r for r in self.rows if r.when != "as measured"]
        return max(alt, key=lambda r: r.saving_g) if alt else None

    def __str__(self) -> str:
        if not self.cells:
            return "carbon_magic: no measured cells in this session yet (use %%carbon or %carbon auto on)"
        head = (f"What if this session's {_cells(self.cells)} "
                f"({fmt_energy(self.energy_j)}, {fmt_mass_g(self.baseline_g)} CO₂e as measured) had run elsewhere"
                " or at another time:")
        table = [("where / when", "CO₂e", "saving", "saving %", "basis")]
        for r in self.rows:
            where = r.zone if not r.when else f"{r.zone}, {r.when}"
            measured = r.when == "as measured"
            saving = ("-" if r.saving_g < 0 else "") + fmt_mass_g(abs(r.saving_g))
            table.append((where, fmt_mass_g(r.emissions_g), "–" if measured else saving,
                          "–" if measured or r.saving_pct is None else f"{r.saving_pct:.0f} %", r.basis))
        widths = [max(len(row[i]) for row in table) for i in range(5)]
        lines = [head]
        for row in table:  # text columns left-aligned, numbers right-aligned
            cells = [c.ljust(w) if i in (0, 4) else c.rjust(w)
                     for i, (c, w) in enumerate(zip(row, widths, strict=True))]
            lines.append(("  " + "  ".join(cells)).rstrip())
        return "\n".join(lines)

    def __repr__(self) -> str:
        b = self.best
        if b is None:
            return f"<WhatIfResult: {_cells(self.cells)}, nothing to compare>"
        where = b.zone if not b.when else f"{b.zone}, {b.when}"
        pct = f" ({b.saving_pct:.0f} %)" if b.saving_pct is not None else ""
        return f"<WhatIfResult: {_cells(self.cells)}, best {where}: {fmt_mass_g(b.saving_g)} less{pct}>"


def _cells(n: int) -> str:
    return f"{n} cell" + ("" if n == 1 else "s")


def _basis(used: list[dict]) -> str:
    """Say where the figures came from: provider and kinds, or the static table's source."""
    if not used:
        return ""
    if all(p.get("kind") == "static" for p in used):
        p = used[0]
        years = sorted({str(q.get("year")) for q in used if q.get("year")})
        label = "static annual average" + (f" ({', '.join(years)})" if years else "")
        return label + (f"; {p['flag']}" if p.get("flag") else "")
    names = sorted({provider_display(p) or "?" for p in used if p.get("kind") != "static"})
    kinds = sorted({p.get("kind") or "?" for p in used if p.get("kind") != "static"})
    marginal = any(p.get("signal") == "marginal" for p in used)
    partly = " + static" if any(p.get("kind") == "static" for p in used) else ""
    return f"{', '.join(names)} {'/'.join(kinds)}{partly}" + (" (marginal)" if marginal else "")


def _shift_words(shift_s: float) -> str:
    h = abs(shift_s) / 3600
    amount = f"{h:g} h" if h >= 1 else f"{abs(shift_s) / 60:.0f} min"
    return f"{amount} {'later' if shift_s > 0 else 'earlier'}"


def _best_shift(pieces, feed_for, same_time_g: float):
    """(shift, grams, values used) of the cheapest shift the cached series fully cover, if it saves."""
    best = None
    k0, k1 = int(SHIFT_RANGE_S[0] / SHIFT_STEP_S), int(SHIFT_RANGE_S[1] / SHIFT_STEP_S)
    for k in range(k0, k1 + 1):
        if k == 0:
            continue
        got = price(pieces, feed_for, k * SHIFT_STEP_S, strict=True)
        if got is not None and (best is None or got[0] < best[1]):
            best = (k * SHIFT_STEP_S, got[0], got[1])
    if best is None or best[1] >= same_time_g * 0.995:
        return None
    return best


def whatif_command(magics, argline: str) -> WhatIfResult | None:
    """`%carbon whatif ZONE… [--label L]`: re-price this session's cells in other zones and hours."""
    ap = CommandParser("%carbon whatif")
    ap.add_argument("zones", nargs="*", metavar="ZONE")
    ap.add_argument("--label", "-l", default=None)
    args = ap.parse_args(split_args(argline, "%carbon whatif"))
    zones = [_zone(z, "%carbon whatif") for z in args.zones]
    session = magics.session
    records = top_level(session.records)  # a nested record's energy is already its cell's
    if args.label is not None:
        labelled = [r for r in session.records if r.label == args.label]
        # Cells of that label; where only nested records have it (`measure(label="epoch 1")`), those.
        records = top_level(labelled) or labelled
        if not records:
            labels = sorted({r.label for r in session.records if r.label})
            raise UsageError(f"%carbon whatif: no cell labelled {args.label!r} in this session"
                             + (f"; labels: {', '.join(labels)}" if labels else ""))
    service = session.intensity
    result = WhatIfResult(len(records), sum(r.energy_j for r in records), sum(r.emissions_g for r in records))
    if not records:
        print(result)
        return result
    pieces = pieces_of(records)

    def saving(g):  # rounding noise of re-summed floats is no saving
        d = result.baseline_g - g
        return 0.0 if abs(d) <= 1e-9 * abs(result.baseline_g) else d

    def pct(g):
        return 100.0 * saving(g) / result.baseline_g if result.baseline_g > 0 else None

    def add(where, feed_for, grams=None):
        """Rows for `where`: re-priced at the same times (unless given), then at its best other hour."""
        if grams is None:
            grams, used = price(pieces, feed_for)
            result.rows.append(WhatIfRow(where, None, 0.0, grams, saving(grams), pct(grams), _basis(used)))
        shifted = _best_shift(pieces, feed_for, grams)
        if shifted:
            shift, g, used = shifted
            result.rows.append(WhatIfRow(where, _shift_words(shift), shift, g, saving(g), pct(g), _basis(used)))

    feeds = [service.for_zone(z) for z in zones]
    earliest = min(p.start_s for p in pieces)
    wanted = [f for f in feeds if f.usable() and (f.last_try_s is None or f.series.find(earliest) is None)]
    if wanted:  # never asked, or the cells are older than its cache: ask once, briefly
        for f in wanted:
            service.request(f, earliest, keep_fresh=False)
            service.request(f, service.now(), keep_fresh=False)
        service.sync(3 * service.timeout_s + 1)
    measured = ", ".join(sorted({p.zone or "world average" for p in pieces}))
    result.rows.append(WhatIfRow(measured, "as measured", 0.0, result.baseline_g, 0.0, None,
                                 _basis([r.intensity or {} for r in records])))
    add(measured, lambda p: service.for_zone(p.zone or "WLD"), grams=result.baseline_g)
    for zone, feed in zip(zones, feeds, strict=True):
        add(zone, lambda p, f=feed: f)
    if not zones and len(result.rows) <= 1:  # nothing to compare the measured emissions with
        print(WHATIF_HINT)
        _say_notices(session)
        return None
    print(result)
    if not zones:
        print(WHATIF_HINT)
    _say_notices(session)
    return result


# -- %carbon forecast --------------------------------------------------------------------
_UNITS = {"d": 86400, "day": 86400, "days": 86400, "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600,
          "hours": 3600, "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60, "s": 1, "sec": 1,
          "secs": 1, "second": 1, "seconds": 1}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]*)")


def parse_duration(text: str) -> float:
    """Seconds from `2h`, `90m`, `1h30m`, `1.5h`, `45min`; a bare number means hours."""
    s = text.strip().lower()
    parts = _PART.findall(s)
    if not s or not parts or re.sub(r"\s+", "", "".join(n + u for n, u in parts)) != re.sub(r"\s+", "", s):
        raise ValueError(f"not a duration: {text!r} (use e.g. 2h, 90m, 1h30m)")
    total = 0.0
    for number, unit in parts:
        if unit and unit not in _UNITS:
            raise ValueError(f"unknown unit {unit!r} in {text!r} (use d, h, m or s)")
        total += float(number) * _UNITS.get(unit or "h", 3600)
    return total


@dataclass
class ForecastResult:
    zone: str
    provider: str
    duration_s: float
    within_s: float
    now_s: float
    start_s: float
    mean_g_per_kwh: float
    now_mean_g_per_kwh: float | None
    covered_until_s: float
    job_power_w: float | None = None  # this session's mean cell power, to put the saving in grams

    @property
    def saving_pct(self) -> float | None:
        n = self.now_mean_g_per_kwh
        return 100.0 * (n - self.mean_g_per_kwh) / n if n else None

    @property
    def saving_g(self) -> float | None:
        """Expected saving for a job of this length at the session's mean cell power."""
        if self.job_power_w is None or self.now_mean_g_per_kwh is None:
            return None
        return self.job_power_w * self.duration_s / J_PER_KWH * (self.now_mean_g_per_kwh - self.mean_g_per_kwh)

    def __str__(self) -> str:
        hhmm = datetime.fromtimestamp(self.start_s, tz=timezone.utc).strftime("%a %H:%M UTC")
        head = (f"Greenest {fmt_duration(self.duration_s)} window in the next {fmt_duration(self.within_s)} "
                f"for {self.zone} ({self.provider} forecast):")
        short = self.covered_until_s < self.now_s + self.within_s
        reach = (f"\n  (the forecast reaches only {fmt_duration(self.covered_until_s - self.now_s)} ahead)"
                 if short else "")
        if self.start_s - self.now_s < 60:
            return f"{head}\n  start now: {self.mean_g_per_kwh:.0f} g/kWh is already the lowest{reach}"
        line = (f"  start {hhmm} (in {fmt_duration(self.start_s - self.now_s)}): "
                f"{self.mean_g_per_kwh:.0f} g/kWh")
        if self.now_mean_g_per_kwh is not None:
            line += (f", against {self.now_mean_g_per_kwh:.0f} g/kWh starting now: {self.saving_pct:.0f} % less "
                     f"({self.now_mean_g_per_kwh - self.mean_g_per_kwh:.0f} g per kWh)")
        if self.saving_g is not None:
            line += (f"\n  ≈ {fmt_mass_g(self.saving_g)} less for a {fmt_duration(self.duration_s)} job at this "
                     f"session's mean cell power ({self.job_power_w:.0f} W)")
        return f"{head}\n{line}{reach}"

    def __repr__(self) -> str:
        pct = f", {self.saving_pct:.0f} % less than now" if self.saving_pct is not None else ""
        return f"<ForecastResult: start {_iso(self.start_s)} at {self.mean_g_per_kwh:.0f} g/kWh{pct}>"


def _iso(unix_s: float) -> str:
    return datetime.fromtimestamp(unix_s, tz=timezone.utc).strftime("%Y-%m-%dT%H:%MZ")


def _no_forecast(feed, zone: str) -> str:
    if feed.provider is None:
        how = ("use a UK zone (uk:london, GB) for the free UK forecast, or set ELECTRICITYMAPS_API_TOKEN "
               "(a plan with forecasts) or WattTime credentials")
        return (f"carbon_magic: no forecast for {zone or 'the world average'}: the static table has annual "
                f"averages only; {how}")
    note = getattr(feed.provider, "forecast_note", None)
    if note:
        return f"carbon_magic: no forecast for {zone}: {note}"
    if feed.reason():
        return f"carbon_magic: no forecast for {zone}: {feed.provider.display} is unavailable ({feed.reason()})"
    return f"carbon_magic: no forecast for {zone}: {feed.provider.display} returned no future values"


def forecast_command(magics, argline: str) -> ForecastResult | None:
    """`%carbon forecast [--duration 2h] [--within 24h] [--zone Z]`: the greenest start from a forecast."""
    ap = CommandParser("%carbon forecast")
    ap.add_argument("--duration", "-d", default="1h")
    ap.add_argument("--within", "-w", default="24h")
    ap.add_argument("--zone", "-z", default=None)
    args = ap.parse_args(split_args(argline, "%carbon forecast"))
    try:
        duration, within = parse_duration(args.duration), parse_duration(args.within)
    except ValueError as exc:
        raise UsageError(f"%carbon forecast: {exc}") from None
    if duration <= 0 or within <= 0 or duration > within or within > MAX_WITHIN_S:
        raise UsageError("%carbon forecast: need 0 < --duration <= --within <= 7d")
    session = magics.session
    service = session.intensity
    zone = _zone(args.zone, "%carbon forecast") if args.zone else service.zone
    feed = service.for_zone(zone)
    now = service.now()
    if feed.provider is not None and not _has_forecast(feed, now, duration):
        service.refresh_now(feed, wait_s=3 * service.timeout_s + 1)
    window = best_window(feed.series, now, duration, within) if _has_forecast(feed, now, duration) else None
    if window is None:  # one line; the provider's notice, if any, follows the next cell as usual
        print(_no_forecast(feed, zone))
        return None
    records = [r for r in top_level(session.records) if r.duration_s > 0]
    secs = sum(r.duration_s for r in records)
    power = sum(r.energy_j for r in records) / secs if secs > 0 else None
    result = ForecastResult(zone, feed.provider.display, duration, within, now, window.start_s,
                            window.mean_g_per_kwh, window.now_mean_g_per_kwh, window.covered_until_s, power)
    print(result)
    _say_notices(session)
    return result


def _has_forecast(feed, now: float, duration_s: float) -> bool:
    """Whether the cached series holds forecast values reaching at least one job length ahead."""
    return feed.provider is not None and any(
        i.end_s >= now + duration_s and i.value.provenance.get("kind") == "forecast" for i in feed.series.items)
