"""Pause-and-Resume: `green()` and the Pauser (checkpoint, pause while above the threshold, resume
when it falls or the deadline forces it, the CO₂ avoided); the training-loop callbacks are in test_act_callbacks_real.py.
No real waiting: the clock steps and the intensity comes from a recorded series or a real
server on 127.0.0.1."""
from __future__ import annotations

import pytest

import carbon_magic
from act_helpers import B, H, SteppedClock, hourly, run_cell, series, uk_session  # noqa: F401 (fixture)
from carbon_magic.act.forecast import series_at
from carbon_magic.act.green import Pauser, parse_within
from carbon_magic.intensity.provider import IntensityValue
from conftest import run
from fakes import FakeClock

STEP_S = 360.0


class Job:
    """A loop whose steps take STEP_S and 100 J each, on a stepped clock."""

    def __init__(self, clock: FakeClock):
        self.clock, self.joules, self.events = clock, 0.0, []

    def energy_j(self) -> float:
        return self.joules

    def run(self, pauser: Pauser, steps: int) -> list[int]:
        done = []
        for i in range(steps):
            pauser.step()
            done.append(i)
            self.clock.advance(STEP_S)
            self.joules += 100.0
        return done


def make(values_by_hour, kinds=None, above=350.0, within="+50%", total=100, **kw):
    fake = FakeClock(wall=B)
    job = Job(fake)
    kinds = kinds or ["live"] + ["forecast"] * (len(values_by_hour) - 1)
    s = series([(B + H * i, B + H * (i + 1), v) for i, v in enumerate(values_by_hour)])
    s = series([(i.start_s, i.end_s, i.value.value_g_per_kwh) for i in s.items])
    items = [(B + H * i, B + H * (i + 1), v, k) for i, (v, k) in enumerate(zip(values_by_hour, kinds))]
    at = series_at(_labelled(items))
    said = []
    p = Pauser(at, above, within, total_steps=total, clock=SteppedClock(fake, tick_s=60), energy_j=job.energy_j,
               on_pause=lambda: job.events.append(("checkpoint", fake.wall())),
               on_resume=lambda: job.events.append(("resume", fake.wall())), say=said.append, **kw)
    return p, job, fake, said


def _labelled(items):
    from carbon_magic.intensity.provider import Interval
    from carbon_magic.intensity.schedule import Series

    return Series(Interval(a, b, IntensityValue(v, {"kind": k, "zone": "GB"})) for a, b, v, k in items)


# -- the pause logic ---------------------------------------------------------------------------
def test_pauses_above_the_threshold_checkpoints_and_resumes_when_it_falls():
    p, job, fake, said = make([400, 450, 450] + [200] * 12)
    done = job.run(p, 100)
    report = p.finish()
    assert done == list(range(100))  # every step ran, in order
    # Paused before step 1 (after one step had set the pace), resumed at the first poll at ≥ 3 h.
    assert report.pauses == [(B + 360, B + 10_860)]
    assert job.events == [("checkpoint", B + 360), ("resume", B + 10_860)]
    assert report.paused_s == 10_500 and report.steps == 100
    assert "paused at 400 g/kWh" in said[0] and "intensity 200 g/kWh" in said[1]
    # Avoided: 10 kJ from B at a mean of 270 g/kWh, against 100 J at 400 + 9.9 kJ at 200.
    assert report.avoided_g == pytest.approx((10_000 * 270 - 100 * 400 - 9_900 * 200) / 3.6e6)
    assert report.basis == "forecast"
    assert "paused 1× for 2 h 55 min in 100 steps" in str(report) and "(forecast)" in str(report)


def test_the_deadline_forces_the_resume_when_the_intensity_stays_high():
    """No forecast ahead (only the live value): pause on the threshold, resume at the deadline."""
    p, job, fake, said = make([450] * 30, kinds=["live"] * 30, within="+25%", total=40)
    job.run(p, 40)
    report = p.finish()
    # Budget: 25 % of 40 × 360 s = 3600 s, all of it in one pause before step 1.
    assert [b - a for a, b in report.pauses] == [3600.0]
    assert "deadline" in said[1]
    assert job.events[0][0] == "checkpoint"


def test_no_pause_where_the_forecast_stays_above_until_the_deadline():
    # A 10 h job may pause 5 h: the drop at 16 h is out of reach from any step (the last starts at 10 h).
    p, job, fake, said = make([450] * 16 + [100] * 8)
    job.run(p, 100)
    report = p.finish()
    assert report.pauses == [] and job.events == []
    assert report.skipped_pauses == "the forecast stays above the threshold until the deadline"


def test_no_pause_on_a_static_annual_average():
    p, job, fake, said = make([480] * 15, kinds=["static"] * 15)
    job.run(p, 100)
    report = p.finish()
    assert report.pauses == [] and "static annual average" in report.skipped_pauses


def test_an_absolute_deadline_leaves_room_for_the_remaining_steps():
    """within 12 h for a 10 h job: at most 2 h of pauses, wherever they fall."""
    p, job, fake, said = make([450] * 15, kinds=["live"] * 15, within="12h", total=100)
    job.run(p, 100)
    report = p.finish()
    assert report.paused_s == pytest.approx(2 * H)
    assert report.ended_s - report.started_s == pytest.approx(12 * H)


def test_skip_resumes_at_once():
    fake = FakeClock(wall=B)
    job = Job(fake)

    def skip_on_second_look(c):
        if len(c.waits) == 1:
            p.skip.set()

    at = series_at(_labelled([(B + H * i, B + H * (i + 1), 450, "live") for i in range(20)]))
    p = Pauser(at, 350, "+50%", total_steps=10, clock=SteppedClock(fake, tick_s=60, on_wait=skip_on_second_look),
               energy_j=job.energy_j, say=lambda s: None)
    job.run(p, 10)
    report = p.finish()
    assert [b - a for a, b in report.pauses] == [300.0]  # one poll, then the skip
    assert not p.skip.is_set()


@pytest.mark.parametrize("within, expected", [("+50%", ("relative", 0.5)), ("+ 25 %", ("relative", 0.25)),
                                              ("8h", ("absolute", 28800.0)), (5400, ("absolute", 5400.0))])
def test_within_forms(within, expected):
    assert parse_within(within) == expected


@pytest.mark.parametrize("within", ["soon", "-5%", 0, "+x%"])
def test_bad_within_is_a_one_line_error_before_the_loop_starts(within):
    with pytest.raises(ValueError) as exc:
        list(carbon_magic.green(range(3), above=300, within=within, session=object()))
    assert "within" in str(exc.value) and "\n" not in str(exc.value)


# -- green() in a measured cell, priced by the service, settled with realised values -------------
def test_green_in_a_measured_cell_records_the_pause_and_the_co2_avoided(uk_session):
    session, clock, api, powercap = uk_session
    api.uk_forecast = lambda s: 450.0 if s < B + 2 * H else 150.0
    api.uk_actual = lambda s: 460.0 if s < B + 2 * H else 140.0
    uk_session.refetch()
    checkpoints = []
    window = session.begin()
    for _step in carbon_magic.green(range(40), above=350, within="+50%", session=session,
                                   clock=SteppedClock(clock, api, tick_s=60), say=lambda s: None,
                                   on_pause=lambda: checkpoints.append(clock.wall())):
        clock.advance(STEP_S)
        powercap.advance("intel-rapl:0", 100.0)
        session.sampler.tick()
    record = session.end(window, sync=False)
    assert checkpoints == [B + 360]
    assert record.deferred_s == pytest.approx(6900.0)  # B+360 … B+7260, the first poll past B+2h
    assert record.avoided_basis == "forecast"
    assert record.avoided_g == pytest.approx((4000 * 300 - 100 * 450 - 3900 * 150) / 3.6e6)
    clock.advance(6 * H - 21_300 % H)  # later, once the realised values are out
    uk_session.refetch()
    carbon_magic.act.settle(session)
    assert record.avoided_basis == "actual"
    assert record.avoided_g == pytest.approx((4000 * 300 - 100 * 460 - 3900 * 140) / 3.6e6)


def test_green_outside_a_measured_cell_is_not_written_into_a_later_record(uk_session):
    session, clock, api, powercap = uk_session
    api.uk_forecast = lambda s: 450.0 if s < B + 2 * H else 150.0
    uk_session.refetch()
    for _ in carbon_magic.green(range(10), above=350, within="+50%", session=session,
                                clock=SteppedClock(clock, api, tick_s=60), say=lambda s: None):
        clock.advance(STEP_S)
    assert run_cell(session, clock, powercap, 1).deferred_s is None


def test_green_passes_items_through_unchanged_offline(shell):
    """Offline (static intensity) it never pauses, and the cell and its output are unchanged."""
    result = run(shell, "%%carbon -o rec\nimport carbon_magic\n"
                        "out = [x * 2 for x in carbon_magic.green(range(5), above=100)]\nout")
    assert result.error_in_exec is None and result.result == [0, 2, 4, 6, 8]
    assert shell.user_ns["rec"].deferred_s is None


# The training-loop callbacks run inside the real Lightning and Hugging Face loops: test_act_callbacks_real.py.
