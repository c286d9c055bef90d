"""`%carbon zone`, `%carbon whatif`, `%carbon forecast` through a real IPython shell."""
import time

import pytest
from IPython.core.error import UsageError

from carbon_magic.extension import session_for
from carbon_magic.intensity.commands import parse_duration
from conftest import run
from intensity_http import FakeAPI, refused_url

HALF = 1800


def usage_error(ip, code):
    result = run(ip, code)
    assert isinstance(result.error_in_exec, UsageError), result.error_in_exec
    msg = str(result.error_in_exec)
    assert "\n" not in msg
    return msg


# -- %carbon zone ------------------------------------------------------------------------
def test_zone_shows_sets_and_validates(shell, capsys):
    run(shell, "%carbon zone")
    out = capsys.readouterr().out
    assert "zone: not set" in out and "world average" in out
    run(shell, "%carbon zone fra")
    assert "zone FR (France)" in capsys.readouterr().out
    session = session_for(shell)
    assert session.settings.zone == "FR" and session.intensity.zone == "FR"
    run(shell, "%%carbon -o rec\nx = sum(range(1000))")
    rec = shell.user_ns["rec"]
    assert rec.intensity["zone"] == "FR" and 44 <= rec.intensity_g_per_kwh <= 56
    run(shell, "%carbon status")
    assert "zone: FR" in capsys.readouterr().out
    msg = usage_error(shell, "%carbon zone FRR")
    assert "did you mean FR" in msg
    assert "more than one" not in usage_error(shell, "%carbon zone FR DE")
    assert session.intensity.zone == "FR"


def test_cell_zone_option_validates_and_prices(shell):
    run(shell, "%%carbon --zone gcp:europe-west1 -o rec\nx = 1")
    assert shell.user_ns["rec"].intensity["zone"] == "gcp:europe-west1"
    assert shell.user_ns["rec"].intensity_g_per_kwh == pytest.approx(103.37)
    assert "did you mean" in usage_error(shell, "%%carbon --zone aws:us-east-7\nx = 1")


def test_no_zone_hint_is_printed_once(shell, capsys):
    run(shell, "%%carbon\nx = 1")
    run(shell, "%%carbon\nx = 2")
    captured = capsys.readouterr()
    assert captured.out.count("no grid zone set") == 1  # a quiet hint: plain output, not stderr
    assert "no grid zone set" not in captured.err


# -- %carbon whatif ----------------------------------------------------------------------
def test_whatif_reprices_the_session_elsewhere(shell, capsys):
    run(shell, "%carbon zone PL")
    run(shell, "%%carbon --label a\nx = sum(range(10000))")
    run(shell, "%%carbon --label b\nx = sum(range(10000))")
    capsys.readouterr()
    run(shell, "w = %carbon whatif FR aws:us-east-1")
    out = capsys.readouterr().out
    w = shell.user_ns["w"]
    assert w.cells == 2 and [r.zone for r in w.rows][1:] == ["FR", "aws:us-east-1"]
    session = session_for(shell)
    assert w.baseline_g == pytest.approx(sum(r.emissions_g for r in session.records))
    fr = w.rows[1]
    pl_g = session.intensity.for_zone("PL").static.value_g_per_kwh
    fr_g = session.intensity.for_zone("FR").static.value_g_per_kwh
    assert fr.saving_pct == pytest.approx(100 * (pl_g - fr_g) / pl_g)
    assert fr.saving_g == pytest.approx(w.baseline_g - fr.emissions_g)
    assert "FR" in out and "saving %" in out and "static annual average" in out
    assert str(w) in out and "best FR" in repr(w)
    run(shell, "one = %carbon whatif DE --label a")
    assert shell.user_ns["one"].cells == 1
    assert "labels: a, b" in usage_error(shell, "%carbon whatif DE --label nope")
    assert "did you mean" in usage_error(shell, "%carbon whatif FRR")
    usage_error(shell, "%carbon whatif FR --bogus")


def test_whatif_with_no_cells_says_so(shell, capsys):
    run(shell, "w = %carbon whatif FR")
    assert "no measured cells" in capsys.readouterr().out
    assert shell.user_ns["w"].rows == []


def test_whatif_finds_a_better_hour_from_cached_history(loaded, capsys):
    with FakeAPI(now=time.time()) as api:
        now = time.time()
        base = now - now % HALF
        api.uk_actual = lambda start: 50.0 if start == base - 6 * HALF else 400.0
        api.uk_forecast = lambda start: 400.0
        ip = loaded(CARBON_MAGIC_UK_URL=api.url, CARBON_MAGIC_ZONE="GB")
        session = session_for(ip)
        session.intensity.prefetch(time.time())
        assert session.intensity.sync(10)
        run(ip, "%%carbon\nx = sum(range(100000))")
        capsys.readouterr()
        run(ip, "w = %carbon whatif FR")
        w = ip.user_ns["w"]
        shifted = [r for r in w.rows if r.when not in (None, "as measured")]
        assert shifted and shifted[0].zone == "GB" and "earlier" in shifted[0].when
        assert shifted[0].saving_pct == pytest.approx(100 * (400 - 50) / 400, abs=1)
        assert "UK Carbon Intensity API historical" in shifted[0].basis


# -- %carbon forecast --------------------------------------------------------------------
def test_forecast_finds_the_greenest_window(loaded, capsys):
    with FakeAPI(now=time.time()) as api:
        now = time.time()
        green = now - now % HALF + 10 * HALF  # five hours ahead, two hours long
        api.uk_forecast = lambda start: 50.0 if green <= start < green + 4 * HALF else 300.0
        ip = loaded(CARBON_MAGIC_UK_URL=api.url, CARBON_MAGIC_ZONE="uk:london")
        run(ip, "r = %carbon forecast --duration 2h --within 24h")
        out = capsys.readouterr().out
        r = ip.user_ns["r"]
        assert r.start_s == green and r.mean_g_per_kwh == 50.0
        assert r.now_mean_g_per_kwh == 300.0 and r.saving_pct == pytest.approx(100 * 250 / 300)
        assert "uk:london" in out and "83 % less" in out and "UK Carbon Intensity API" in out
        assert all("/regionid/13" in p for p in api.paths())


def test_forecast_offline_says_so_in_one_line(loaded, capsys):
    ip = loaded(CARBON_MAGIC_UK_URL=refused_url(), CARBON_MAGIC_ZONE="GB")
    result = run(ip, "r = %carbon forecast --duration 90m")
    assert result.error_in_exec is None
    captured = capsys.readouterr()
    out = captured.out.strip()
    assert out.count("\n") == 0 and "no forecast for GB" in out and "refused" in out
    assert captured.err == ""
    assert ip.user_ns["r"] is None


def test_forecast_with_only_static_data_says_so(shell, capsys):
    run(shell, "%carbon zone FR")
    capsys.readouterr()
    result = run(shell, "%carbon forecast")
    assert result.error_in_exec is None
    out = capsys.readouterr().out.strip()
    assert out.count("\n") == 0 and "no forecast for FR" in out and "annual averages only" in out


def test_forecast_argument_errors_are_usage_errors(shell):
    assert "not a duration" in usage_error(shell, "%carbon forecast --duration soon")
    usage_error(shell, "%carbon forecast --duration 30h --within 24h")
    usage_error(shell, "%carbon forecast --within 30d")


@pytest.mark.parametrize("text, seconds", [("2h", 7200), ("90m", 5400), ("1h30m", 5400), ("1.5h", 5400),
                                           ("45min", 2700), ("2", 7200), ("1d", 86400), ("2 h", 7200)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "2x", "soon", "2h-1m"])
def test_parse_duration_rejects(text):
    with pytest.raises(ValueError):
        parse_duration(text)
