"""Pause-and-Resume: `for batch in carbon_magic.green(loader, above=350, within="+50%")`.

Before a step, when the grid's intensity is above `above` g/kWh and the deadline leaves room, the
pauser calls the user's checkpoint hook, pauses, and resumes when the intensity falls to
`above` or below, or when the deadline forces it. Where a forecast covers the time left and
shows no value at or below `above` before the deadline, it does not pause (waiting would only
delay). The training-loop callbacks (act.callbacks) drive the same `Pauser`.

The deadline (`within`):
  "+50%"   the pauses may add up to 50 % of the job's running time (estimated from the steps done
           and the total, where the total is known; else of the running time so far);
  "8h"     the job must end within 8 h of its first step (where the total is known: the pauses
           leave room for the remaining steps at the pace so far; else no pause runs past it).

CO₂ avoided: the job's energy as it ran against the same energy drawn from the first step without
pauses (the counterfactual), less the idle draw while paused, all priced at the zone's intensity:
first with what the service holds (forecast or live values), then, as realised values come in,
re-priced and marked `actual` (see deferral.py).
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field

from ..co2 import intensity_pieces
from ..units import J_PER_KWH, fmt_duration, fmt_mass_g
from .clock import RealClock
from .deferral import Deferral, book_for
from .forecast import span_mean

CHECK_S = 60.0  # look at the intensity at most this often while running
POLL_S = 300.0  # look again this often while paused
FORECAST_STEP_S = 900.0  # resolution of the "will it fall before the deadline?" look-ahead
_WITHIN = re.compile(r"\+\s*(\d+(?:\.\d+)?)\s*%\Z")


def parse_within(within) -> tuple[str, float]:
    """("relative", fraction) for "+50%", ("absolute", seconds) for "8h" / 28800."""
    if isinstance(within, (int, float)) and not isinstance(within, bool):
        if within <= 0:
            raise ValueError("within must be positive")
        return "absolute", float(within)
    text = str(within).strip()
    m = _WITHIN.match(text)
    if m:
        return "relative", float(m.group(1)) / 100.0
    from ..intensity.commands import parse_duration  # noqa: PLC0415 - imports IPython: only a duration needs it

    try:
        seconds = parse_duration(text)
    except ValueError:
        raise ValueError(f"within: {within!r} is neither a share of the run (+50%) nor a duration (8h)") from None
    if seconds <= 0:
        raise ValueError("within must be positive")
    return "absolute", seconds


@dataclass
class PauseReport:
    """What the pauses did: their spans, time paused, and the CO₂ avoided (None: not priced)."""

    started_s: float
    ended_s: float
    steps: int
    pauses: list[tuple[float, float]] = field(default_factory=list)
    avoided_g: float | None = None
    basis: str = "forecast"
    skipped_pauses: str | None = None  # why it never paused, where that is worth saying

    @property
    def paused_s(self) -> float:
        return sum(b - a for a, b in self.pauses)

    def __str__(self) -> str:
        if not self.pauses:
            return "carbon_magic: no pause" + (f" ({self.skipped_pauses})" if self.skipped_pauses else "")
        avoided = ("" if self.avoided_g is None else
                   f"; ≈ {fmt_mass_g(abs(self.avoided_g))} CO₂e "
                   f"{'avoided' if self.avoided_g >= 0 else 'more'} ({self.basis})")
        return (f"carbon_magic: paused {len(self.pauses)}× for {fmt_duration(self.paused_s)} in "
                f"{self.steps} steps{avoided}")


class Pauser:
    """The pause logic, for any loop: call `step()` before each unit of work, `finish()` at the end.

    intensity_at(t) -> IntensityValue (the zone's feed `at`). energy_j() -> cumulative joules of
    the machine (for the avoided CO₂; None: not priced). on_pause() / on_resume(): the user's
    checkpoint and restore hooks. total_steps: where known, the deadline accounts for the rest.
    """

    def __init__(self, intensity_at, above_g_per_kwh: float, within="+50%", *, total_steps: int | None = None,
                 clock=None, energy_j=None, on_pause=None, on_resume=None, check_s: float = CHECK_S,
                 poll_s: float = POLL_S, say=print, skip: threading.Event | None = None):
        if not above_g_per_kwh > 0:
            raise ValueError("above must be a positive intensity in g/kWh")
        self.at = intensity_at
        self.above = float(above_g_per_kwh)
        self.mode, self.limit = parse_within(within)
        self.total_steps = total_steps
        self.clock = clock or RealClock()
        self.energy_j = energy_j
        self.on_pause, self.on_resume = on_pause, on_resume
        self.check_s, self.poll_s = check_s, poll_s
        self.say = say
        self.skip = skip or threading.Event()
        self.steps = 0
        self.t0: float | None = None
        self.pauses: list[tuple[float, float]] = []
        self._spans: list[tuple[float, float, float | None, bool]] = []  # (start, end, energy_j, paused)
        self._mark: tuple[float, float | None] | None = None  # (time, energy) where the current span began
        self._last_check = float("-inf")
        self._why_not: str | None = None
        self.skipped = False  # the user skipped a pause: no more pauses in this loop

    # -- the loop's view -----------------------------------------------------------------
    def step(self) -> None:
        """Before one unit of work: pause here if due."""
        if self.due():
            self.pause()
        self.steps += 1

    def start(self) -> None:
        """The job's first step begins now (called by the first `due()` unless a loop calls it)."""
        if self.t0 is None:
            now = self.clock.now()
            self.t0 = now
            self._mark = (now, self._energy())

    def due(self) -> bool:
        """Whether to pause before the next step (checks the intensity at most every check_s)."""
        self.start()
        now = self.clock.now()
        if self.skipped or now - self._last_check < self.check_s:
            return False
        self._last_check = now
        if self._value(now) <= self.above:
            return False
        room = self.room_s(now)
        if room < min(self.poll_s, 60.0):
            return False
        if not self._falls_before(now, now + room):
            return False
        return True

    def pause(self) -> None:
        """Checkpoint, wait until the intensity falls or the deadline, resume (blocking)."""
        self.start()
        now = self.clock.now()
        until = now + self.room_s(now)
        value = self._value(now)
        if self.on_pause is not None:
            self.on_pause()
        self._close_span(now, paused=False)
        self.say(f"carbon_magic: paused at {value:.0f} g/kWh (above {self.above:.0f}) after {self.steps} steps; "
                 f"resuming when it falls to {self.above:.0f} or by the deadline, in at most {fmt_duration(until - now)}")
        why = "deadline"
        try:
            while True:
                t = self.clock.now()
                if t >= until:
                    break
                if self.clock.wait(self.skip, min(self.poll_s, until - t)):
                    self.skip.clear()
                    self.skipped = True
                    why = "skipped: no more pauses in this loop"
                    break
                t = self.clock.now()
                if t < until and self._value(t) <= self.above:
                    why = f"intensity {self._value(t):.0f} g/kWh"
                    break
        except KeyboardInterrupt:  # the kernel's interrupt skips the pause, as for a wait
            self.skipped = True
            why = "interrupted: no more pauses in this loop"
        end = self.clock.now()
        self.pauses.append((now, end))
        self._close_span(end, paused=True)
        self._last_check = end
        self.say(f"carbon_magic: resumed after {fmt_duration(end - now)} ({why})")
        if self.on_resume is not None:
            self.on_resume()

    def finish(self) -> PauseReport:
        """End of the loop: the report, with the CO₂ avoided priced where energy is known."""
        end = self.clock.now()
        if self.t0 is None:
            return PauseReport(end, end, 0, skipped_pauses=self._why_not)
        self._close_span(end, paused=False)
        report = PauseReport(self.t0, end, self.steps, list(self.pauses), skipped_pauses=self._why_not)
        if self.pauses:
            report.avoided_g, realised = self.avoided(self.at)
            report.basis = "actual" if realised else "forecast"
        return report

    # -- arithmetic ----------------------------------------------------------------------
    def running_s(self, now: float) -> float:
        assert self.t0 is not None, "start() first"
        return (now - self.t0) - sum(b - a for a, b in self.pauses)

    def room_s(self, now: float) -> float:
        """How long a pause starting now may last."""
        running = self.running_s(now)
        if self.total_steps and self.steps == 0:
            return 0.0  # the pace is not known yet: no pause before the first step
        left_steps, expected = None, running
        if self.total_steps and self.steps > 0:
            left_steps = max(0, self.total_steps - self.steps)
            expected = running / self.steps * self.total_steps
        if self.mode == "relative":
            return max(0.0, self.limit * expected - sum(b - a for a, b in self.pauses))
        assert self.t0 is not None  # running_s() checked
        deadline = self.t0 + self.limit
        rest = running / self.steps * left_steps if left_steps is not None else 0.0
        return max(0.0, deadline - now - rest)

    def avoided(self, at) -> tuple[float | None, bool]:
        """(grams avoided, priced with realised values only), None where energy is unknown."""
        runs = [(a, b, e) for a, b, e, paused in self._spans if not paused and e is not None]
        idle = [(a, b, e) for a, b, e, paused in self._spans if paused and e is not None]
        if not runs or len(runs) + len(idle) < len(self._spans):
            return None, False
        assert self.t0 is not None  # spans begin at start()
        run_j = sum(e for _, _, e in runs)
        run_s = sum(b - a for a, b, _ in runs)
        counterfactual, r0 = span_mean(at, self.t0, self.t0 + run_s)
        if counterfactual is None:
            return None, False
        grams, realised = run_j / J_PER_KWH * counterfactual, r0
        for a, b, e in runs + idle:
            mean, r = span_mean(at, a, b)
            if mean is None:
                return None, False
            grams -= e / J_PER_KWH * mean
            realised = realised and r
        return grams, realised

    def _value(self, t: float) -> float:
        return self.at(t).value_g_per_kwh

    def _falls_before(self, now: float, until: float) -> bool:
        """False only where the forecast reaches `until` and stays above the threshold until then."""
        pieces = intensity_pieces(now, until, self.at, probe_s=FORECAST_STEP_S)
        falls, fallback = False, False
        for _, _, v in pieces:
            p = v.provenance or {}
            if p.get("kind") == "static":
                self._why_not = "the intensity is a static annual average: pausing cannot help"
                return False
            fallback = fallback or bool(p.get("fallback_reason"))
            falls = falls or v.value_g_per_kwh <= self.above
        covered = not fallback and (pieces[-1][2].provenance or {}).get("kind") == "forecast"
        if covered and not falls:
            self._why_not = "the forecast stays above the threshold until the deadline"
        return falls or not covered

    def _energy(self) -> float | None:
        if self.energy_j is None:
            return None
        try:
            return float(self.energy_j())
        except Exception:  # noqa: BLE001 - no energy: the pause still runs, unpriced
            return None

    def _close_span(self, t: float, paused: bool) -> None:
        if self._mark is None:
            return
        t_start, e_start = self._mark
        e_now = self._energy()
        energy = None if e_start is None or e_now is None else max(0.0, e_now - e_start)
        if t > t_start:
            self._spans.append((t_start, t, energy, paused))
        self._mark = (t, e_now)


# -- the iterator ------------------------------------------------------------------------
def current_session():
    """The loaded extension's session in this IPython, else the process's `measure()` session."""
    try:
        from IPython import get_ipython  # noqa: PLC0415 - a plain script never imports IPython

        from ..extension import session_for  # noqa: PLC0415 - as above (the extension imports IPython)

        ip = get_ipython()
        s = session_for(ip) if ip is not None else None
        if s is not None:
            return s
    except ImportError:
        pass
    from ..script import default_session  # noqa: PLC0415 - only outside the extension's session

    return default_session()


def pauser_for_session(session, above, within="+50%", *, zone=None, total_steps=None, clock=None,
                       on_pause=None, on_resume=None, say=print, **kw) -> Pauser:
    """A Pauser reading the session's intensity (zone: the session's unless given) and energy."""
    feed = session.intensity.for_zone(zone) if zone else session.intensity

    def energy_j():
        return session.sampler.snapshot().total_j() * session.settings.pue

    try:
        feed.prefetch(session.intensity.now())
    except Exception:  # noqa: BLE001 - prefetch is best effort
        pass
    return Pauser(feed.at, above, within, total_steps=total_steps, clock=clock, energy_j=energy_j,
                  on_pause=on_pause, on_resume=on_resume, say=say, **kw)


def note_report(session, pauser: Pauser, report: PauseReport, began_noted_s: float | None, zone=None) -> None:
    """Write the pauses into the record of the cell they ran in (deferral.py)."""
    if not report.pauses:
        return
    book = book_for(session)
    feed = session.intensity.for_zone(zone) if zone else session.intensity
    book.note(Deferral("pause", report.paused_s, book.now(), began_noted_s=began_noted_s, zone=zone,
                       avoided_g=report.avoided_g, basis=report.basis,
                       resettle=lambda: pauser.avoided(feed.at)))


def green(iterable, above: float, within="+50%", *, zone: str | None = None, on_pause=None, on_resume=None,
          session=None, clock=None, total_steps: int | None = None, say=print, **kw):
    """Yield from `iterable`, pausing before an item while the grid is above `above` g/kWh.

    on_pause(): save a checkpoint (called before pausing); on_resume(): restore, if needed.
    within: "+50%" (pauses up to half the running time) or a duration from the first item ("8h").
    The pauses and the CO₂ avoided go into the record of the measured cell the loop runs in.
    """
    parse_within(within)  # a bad deadline fails here, before the loop starts
    session = session or current_session()
    if total_steps is None:
        try:
            total_steps = len(iterable)
        except TypeError:
            total_steps = None
    pauser = pauser_for_session(session, above, within, zone=zone, total_steps=total_steps, clock=clock,
                                on_pause=on_pause, on_resume=on_resume, say=say, **kw)
    began = session.intensity.now()
    try:
        for item in iterable:
            pauser.step()
            yield item
    finally:
        report = pauser.finish()
        note_report(session, pauser, report, began, zone)
        if report.pauses:
            say(str(report))
