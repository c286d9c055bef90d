"""Flexible Start: `%carbon wait` and `carbon_magic.wait_for_green()` block until the greenest
window of the forecast begins, then the next measured cell's record says it was deferred and
what that saved against starting at once.

Without a forecast (the static table, a plan without one, no network) it says so in one line and
does not wait. Skipping (the kernel's interrupt, Ctrl-C, `skip_wait()`) is not an error: the cell
ends normally and says it skipped; the time already waited still counts as deferred.
"""
from __future__ import annotations

import sys
import threading
from dataclasses import dataclass

from IPython.core.error import UsageError

from ..units import fmt_duration
from .clock import RealClock
from .deferral import Deferral, book_for
from .forecast import WaitPlan, plan_wait, recorded_series, service_forecast
from .progress import default_progress, when_text

MAX_WITHIN_S = 7 * 86400.0
START_NOW_S = 60.0  # a greenest window this close is "start now"
_active: list[threading.Event] = []  # the running waits' skip events (one, unless threads wait)


def skip_wait() -> bool:
    """End the running wait now (from another thread, a callback, a scheduler). True if one ran."""
    for event in list(_active):
        event.set()
    return bool(_active)


def wait_until(until_s: float, clock, skip, progress=None) -> str:
    """Block until clock.now() reaches until_s: `reached`, `skipped` (skip set) or `interrupted`."""
    outcome = "interrupted"
    try:
        while True:
            left = until_s - clock.now()
            if progress is not None:
                progress.update(left)
            if left <= 0:
                outcome = "reached"
                return outcome
            if clock.wait(skip, min(clock.tick_s, left)):
                outcome = "skipped"
                return outcome
    except KeyboardInterrupt:
        return outcome
    finally:
        if progress is not None:
            try:
                progress.close(outcome)
            except Exception:  # noqa: BLE001 - a broken widget must not turn a wait into an error
                pass


@dataclass
class WaitResult:
    outcome: str  # reached | skipped | interrupted | now (already greenest) | no_forecast
    plan: WaitPlan | None
    waited_s: float = 0.0
    message: str = ""

    @property
    def deferred(self) -> bool:
        return self.waited_s > 0

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        if self.plan is None:
            return f"<WaitResult: {self.outcome}>"
        pct = f", {self.plan.saving_pct:.0f} % less than now" if self.plan.saving_pct is not None else ""
        return f"<WaitResult: {self.outcome} after {fmt_duration(self.waited_s)}{pct}>"


def _duration(value, what: str) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    from ..intensity.commands import parse_duration  # noqa: PLC0415 - `2h`, `90m`, `1h30m`

    try:
        return parse_duration(str(value))
    except ValueError as exc:
        raise ValueError(f"{what}: {exc}") from None


def _session_power_w(session) -> float | None:
    """This session's mean power over its measured cells: puts the forecast saving in grams."""
    records = [r for r in getattr(session, "records", []) if r.duration_s > 0]
    secs = sum(r.duration_s for r in records)
    return sum(r.energy_j for r in records) / secs if secs > 0 else None


def wait_for_green(within="8h", duration="1h", zone: str | None = None, *, session=None, forecast=None,
                   clock=None, progress=None, say=print) -> WaitResult:
    """Block until the greenest `duration` window within `within` of now starts (by the forecast).

    within, duration: seconds or `8h`, `90m`, `1h30m`. zone: the session's unless given.
    forecast: a recorded forecast instead of the service's (a Series, or (start_s, end_s, g/kWh)
    rows); its saving stays a forecast. clock: see act.clock (ReplayClock replays a recording
    fast). progress: fn(total_s, until_s, saving_text) -> an object with update(left_s) and
    close(outcome) (default: a widget in a kernel, a text line elsewhere).
    """
    within_s, duration_s = _duration(within, "within"), _duration(duration, "duration")
    if not 0 < duration_s <= within_s <= MAX_WITHIN_S:
        raise ValueError("need 0 < duration <= within <= 7d")
    if session is None:
        from .green import current_session  # noqa: PLC0415 - only without a given session

        session = current_session()
    clock = clock or RealClock()
    now = clock.now()
    if forecast is not None:
        series = forecast if hasattr(forecast, "items") else recorded_series(forecast)
        provider = "recorded forecast"
    else:
        series, provider = service_forecast(session.intensity, zone, duration_s)
    plan = plan_wait(series, now, duration_s, within_s, zone, provider) if series is not None else None
    if plan is None:
        why = provider if series is None else (f"the forecast does not cover {fmt_duration(duration_s)} "
                                                "from now")
        result = WaitResult("no_forecast", None, 0.0, f"carbon_magic: {why}; not waiting, start now.")
        say(result.message)
        return result
    power = _session_power_w(session)
    if plan.wait_s < START_NOW_S:
        result = WaitResult("now", plan, 0.0, f"carbon_magic: start now: {plan.mean_g_per_kwh:.0f} g/kWh "
                            f"over the next {fmt_duration(duration_s)} is already the lowest ({provider}).")
        say(result.message)
        return result
    say(f"carbon_magic: waiting {fmt_duration(plan.wait_s)} for the greenest {fmt_duration(duration_s)} "
        f"window ({provider}), starting {when_text(plan.start_s)}: {plan.saving_text(power)}.")
    skip = threading.Event()
    _active.append(skip)
    book = book_for(session)
    try:
        bar = (progress or default_progress)(plan.wait_s, plan.start_s, plan.saving_text(power))
        outcome = wait_until(plan.start_s, clock, skip, bar)
    finally:
        _active.remove(skip)
    ended = min(clock.now(), plan.start_s) if outcome == "reached" else clock.now()
    waited = max(0.0, ended - now)
    book.note(Deferral("wait", waited, book.now(), zone=zone or session.intensity.zone, began_s=now,
                       start_s=ended, forecast=plan.forecast, settle=forecast is None))
    if outcome == "reached":
        msg = (f"carbon_magic: the greenest window has begun after {fmt_duration(waited)}; the next measured "
               "cell is recorded as deferred, with its saving against starting at once.")
    else:
        msg = (f"carbon_magic: wait skipped after {fmt_duration(waited)}; the next measured cell is recorded "
               "as deferred by that much.")
    result = WaitResult(outcome, plan, waited, msg)
    say(msg)
    return result


def wait_command(magics, argline: str) -> None:
    """`%carbon wait [--within 8h] [--duration 1h] [--zone Z]`: prints what it did (the Python form,
    `wait_for_green()`, returns it as a WaitResult)."""
    from ..cmdline import CommandParser, split_args  # noqa: PLC0415 - only the magic parses a command line
    from ..intensity import normalize_zone  # noqa: PLC0415 - as above

    ap = CommandParser("%carbon wait")
    ap.add_argument("--within", "-w", default="8h")
    ap.add_argument("--duration", "-d", default="1h")
    ap.add_argument("--zone", "-z", default=None)
    args = ap.parse_args(split_args(argline, "%carbon wait"))
    try:
        zone = normalize_zone(args.zone) if args.zone else None
        within_s, duration_s = _duration(args.within, "--within"), _duration(args.duration, "--duration")
    except ValueError as exc:
        raise UsageError(f"%carbon wait: {exc}") from None
    if not 0 < duration_s <= within_s <= MAX_WITHIN_S:
        raise UsageError("%carbon wait: need 0 < --duration <= --within <= 7d, e.g. --within 8h --duration 2h")
    wait_for_green(within_s, duration_s, zone, session=magics.session)
    for notice in magics.session.drain_notices():
        print(notice, file=sys.stderr)
