"""Flexible Start: `%carbon wait` / `wait_for_green()` wait for the forecast's greenest window (no
real waiting: the clock steps), say so when there is no forecast, skip without error, and the
next cell's record says it was deferred and what that saved (forecast, then actual)."""
from __future__ import annotations

import io
import os
import signal
import threading
import time

import pytest
from IPython.core.error import UsageError

import carbon_magic
from act_helpers import B, H, SteppedClock, hourly, run_cell, uk_session  # noqa: F401 (fixture)
from carbon_magic.act.progress import TextProgress, WidgetProgress, default_progress
from carbon_magic.act.wait import wait_for_green, wait_until
from conftest import run
from fakes import FakeClock



def text_progress(buf):
    return lambda total, until, saving: TextProgress(total, until, saving, stream=buf, every_s=0)


def test_wait_blocks_until_the_greenest_window_then_the_next_record_says_deferred(uk_session):
    session, clock, api, powercap = uk_session
    buf, said = io.StringIO(), []
    stepped = SteppedClock(clock, api)
    result = wait_for_green("8h", "1h", session=session, clock=stepped, progress=text_progress(buf), say=said.append)
    assert result.outcome == "reached"
    assert clock.wall() == B + 4 * H  # started waiting at B, woke exactly at the window's start
    assert result.waited_s == 4 * H and result.plan.mean_g_per_kwh == 100.0
    assert result.plan.now_mean_g_per_kwh == 300.0 and result.plan.saving_pct == pytest.approx(200 / 3)
    assert stepped.waits and max(stepped.waits) <= stepped.tick_s  # short waits: interruptible
    shown = buf.getvalue()
    assert "⏳" in shown and "67 % less" in shown and "Ctrl-C to skip" in shown and "UTC" in shown
    assert "waiting 4 h 00 min" in said[0] and "greenest window has begun" in said[-1]

    job = run_cell(session, clock, powercap, 60)  # 6000 J over B+4h..B+5h
    assert job.start_s == B + 4 * H
    assert job.deferred_s == 4 * H
    assert job.avoided_basis == "forecast"
    assert job.avoided_g == pytest.approx(6000 / 3.6e6 * (300 - 100))  # forecast: 300 at once, 100 waited
    assert "deferred 4 h 00 min" in job.summary() and "(forecast)" in job.summary()
    assert session.ledger.records()[0].avoided_g == pytest.approx(job.avoided_g)  # written with the record

    # Two hours later the realised values for both spans are published: the next record settles it.
    clock.advance(2 * H)
    stepped.sync()
    session.intensity.refresh_now(session.intensity.for_zone(None), wait_s=10)
    later = run_cell(session, clock, powercap, 1)
    assert later.deferred_s is None and "deferred_s" not in later.to_dict()  # one wait, one record
    assert job.avoided_basis == "actual"
    assert job.avoided_g == pytest.approx(6000 / 3.6e6 * (310 - 120))


def test_skip_wait_ends_the_wait_normally_and_counts_the_time_waited(uk_session):
    session, clock, api, powercap = uk_session

    def another_thread(c):  # what a scheduler or a callback would do, on the third look
        if len(c.waits) == 3:
            assert carbon_magic.skip_wait() is True

    said = []
    result = wait_for_green("8h", "1h", session=session, clock=SteppedClock(clock, api, on_wait=another_thread),
                            progress=text_progress(io.StringIO()), say=said.append)
    assert result.outcome == "skipped" and result.waited_s == 3 * 600.0
    assert "skipped after 30 min 00 s" in said[-1]
    assert carbon_magic.skip_wait() is False  # nothing running any more
    job = run_cell(session, clock, powercap, 10)
    assert job.deferred_s == 1800.0 and job.status == "ok"


def test_a_record_that_began_before_the_wait_ended_is_not_the_deferred_one(uk_session):
    session, clock, api, powercap = uk_session
    window = session.begin()  # a %%carbon cell that contains the wait
    wait_for_green("8h", "1h", session=session, clock=SteppedClock(clock, api),
                   progress=text_progress(io.StringIO()), say=lambda s: None)
    around = session.end(window, sync=False)
    assert around.deferred_s is None
    assert run_cell(session, clock, powercap, 5).deferred_s == 4 * H


def test_start_now_when_now_is_already_the_greenest(uk_session):
    session, clock, api, powercap = uk_session
    recorded = hourly(B, [100, 200, 300, 400, 500, 600, 700, 800, 900])
    said = []
    result = wait_for_green("8h", "1h", session=session, forecast=recorded, clock=SteppedClock(clock),
                            say=said.append)
    assert result.outcome == "now" and result.waited_s == 0 and clock.wall() == B
    assert "start now" in said[0] and len(said) == 1
    assert run_cell(session, clock, powercap, 5).deferred_s is None


# -- interrupting ------------------------------------------------------------------------------
def test_the_kernel_interrupt_skips_a_real_wait_promptly_and_the_cell_ends_normally(shell):
    """A real clock and a real SIGINT: the wait would last 4 h; it ends within a second or so."""
    t0 = 1_790_000_000.0 - 1_790_000_000.0 % 3600
    shell.user_ns["rows"] = [(t0 + 3600 * i, t0 + 3600 * (i + 1), 300.0 if i != 4 else 50.0) for i in range(9)]
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    started = time.perf_counter()
    timer.start()
    try:
        result = run(shell, "import carbon_magic\nfrom carbon_magic.act import ReplayClock\n"
                            "w = carbon_magic.wait_for_green('8h', '1h', forecast=rows, clock=ReplayClock(rows[0][0], 1.0))\n"
                            "print('after the wait')")
    finally:
        timer.cancel()
    assert time.perf_counter() - started < 3.0
    assert result.error_in_exec is None
    w = shell.user_ns["w"]
    assert w.outcome == "interrupted" and 0.2 < w.waited_s < 3.0
    assert "skipped" in w.message


def test_wait_until_turns_keyboard_interrupt_into_a_normal_return():
    class Interrupting(SteppedClock):
        def wait(self, event, timeout_s):
            raise KeyboardInterrupt

    closed = []

    class Recorder:
        def update(self, left):
            pass

        def close(self, outcome):
            closed.append(outcome)

    assert wait_until(B + 100, Interrupting(FakeClock(wall=B)), threading.Event(), Recorder()) == "interrupted"
    assert closed == ["interrupted"]


# -- through the magic ---------------------------------------------------------------------------
def test_magic_without_a_forecast_says_so_in_one_line_and_does_not_wait(shell, capsys):
    started = time.perf_counter()
    run(shell, "%carbon wait --within 8h --duration 2h")
    assert time.perf_counter() - started < 0.5
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "no forecast" in out[0] and "not waiting" in out[0], out
    run(shell, "%%carbon -o rec\nsum(range(1000))")
    assert shell.user_ns["rec"].deferred_s is None and "deferred_s" not in shell.user_ns["rec"].to_dict()


@pytest.mark.parametrize("args, expected", [
    ("--within 1h --duration 2h", "need 0 < --duration <= --within"),
    ("--within 30d", "need 0 < --duration <= --within"),
    ("--within soon", "not a duration"),
    ("--zone Atlantis", "%carbon wait:"),
    ("--bogus", "unrecognized arguments"),
])
def test_magic_bad_arguments_are_one_line_usage_errors(shell, args, expected):
    with pytest.raises(UsageError) as exc:
        shell.run_line_magic("carbon", f"wait {args}")
    assert expected in str(exc.value) and "\n" not in str(exc.value)


def test_replayed_forecast_in_the_shell_defers_the_next_cell(shell, capsys):
    """The workshop's form: a recorded forecast replayed fast, then a measured cell."""
    t0 = 1_790_000_000.0 - 1_790_000_000.0 % 3600
    shell.user_ns["rows"] = [(t0 + 3600 * i, t0 + 3600 * (i + 1), v)
                             for i, v in enumerate([300, 320, 310, 200, 90, 80, 250, 300, 300])]
    started = time.perf_counter()
    run(shell, "import carbon_magic\nfrom carbon_magic.act import ReplayClock\n"
               "w = carbon_magic.wait_for_green(within='8h', duration='2h', forecast=rows, "
               "clock=ReplayClock(rows[0][0], speed=200_000))")
    assert time.perf_counter() - started < 5.0
    w = shell.user_ns["w"]
    assert w.outcome == "reached" and w.plan.start_s == t0 + 4 * 3600  # 90 and 80 g/kWh
    assert w.waited_s == pytest.approx(w.plan.start_s - w.plan.now_s)  # the replay started a moment after t0
    run(shell, "%%carbon -o job\nsum(i * i for i in range(200_000))")
    job = shell.user_ns["job"]
    assert job.deferred_s == pytest.approx(w.waited_s)
    assert job.avoided_basis == "forecast" and job.avoided_g > 0
    assert "deferred" in capsys.readouterr().out
    run(shell, "%%carbon -o later\npass")
    assert job.avoided_basis == "forecast"  # a recording is never settled against the live feed


# -- the countdown -------------------------------------------------------------------------------
def test_widget_progress_shows_countdown_saving_and_how_to_skip():
    p = WidgetProgress(4 * H, B + 4 * H, "100 g/kWh against 300 now: 67 % less", show=False)
    p.update(3 * H)
    assert p.bar.value == pytest.approx(0.25)
    assert "3 h 00 min" in p.countdown.value and "UTC" in p.countdown.value
    assert "67 % less" in p.detail.value and "interrupt" in p.detail.value
    p.close("reached")
    assert p.bar.bar_style == "success"
    q = WidgetProgress(H, B + H, "x", show=False)
    q.close("skipped")
    assert q.bar.bar_style == "warning" and "skipped" in q.countdown.value


def test_outside_a_kernel_the_countdown_is_a_text_line():
    assert isinstance(default_progress(60, B, "x"), TextProgress)
