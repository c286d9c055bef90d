"""Electricity Maps API v4 (issue 14): v4 paths with the caller lookup off, the recorded v4 answer
shapes and their attested variants, a legacy /v3 URL setting, and a key whose plan does not cover a
zone: one line naming the zone, the static value labelled, and no second request for that zone.
401 (the token) is told apart from 403/404 (the plan). A real HTTP server on 127.0.0.1 plays the API."""
import time

import pytest

from carbon_magic.config import Settings
from carbon_magic.extension import session_for
from carbon_magic.intensity import make_service, parse_zone, validate
from carbon_magic.intensity import electricitymaps
from carbon_magic.intensity.electricitymaps import ElectricityMaps
from carbon_magic.intensity.static import static_value
from conftest import run
from intensity_http import EM_TOKEN, FakeAPI, Wall

NOW = 1_790_000_000.0 + 600  # ten minutes into an hour
HOUR = NOW - NOW % 3600
ENDPOINTS = {"latest", "history", "forecast", "past-range"}


@pytest.fixture
def api():
    with FakeAPI(now=NOW) as a:
        yield a


@pytest.fixture
def wall(api):
    return Wall(api)


def service(services, api, wall, zone="FR", token=EM_TOKEN, url=None):
    settings = Settings(zone=zone, electricitymaps_url=url or api.url, electricitymaps_token=token)
    s = make_service(settings, None, timeout_s=2.0, wall=wall)
    services.append(s)
    return s


def fetched(s, feed=None):
    (feed or s).prefetch(s.now())
    assert s.sync(10)


def em_requests(api, zone=None):
    return [(p, q) for p, q, _ in api.requests if "/carbon-intensity/" in p and zone in (None, q.get("zone"))]


# -- what is asked ---------------------------------------------------------------------------
def test_every_request_is_v4_names_the_zone_and_turns_the_caller_lookup_off(api, http):
    p = ElectricityMaps(api.url, http, EM_TOKEN, timeout_s=2.0, wall=lambda: api.now)
    p.refresh(parse_zone("DE"))
    p.past_range(parse_zone("DE"), NOW - 3 * 86400, NOW - 2 * 86400)
    p.refresh(parse_zone("aws:us-east-1"))
    assert {path.rsplit("/", 1)[1] for path in api.paths()} == ENDPOINTS
    for path, query, headers in api.requests:
        assert path.startswith("/v4/carbon-intensity/"), path
        assert query["disableCallerLookup"] == "true"
        assert "shouldUseFallbackCallerLookup" not in query
        assert query.get("zone") == "DE" or (query["dataCenterProvider"], query["dataCenterRegion"]) == ("aws", "us-east-1")
        assert query["emissionFactorType"] == "lifecycle" and headers["auth-token"] == EM_TOKEN
    assert p.source == "Electricity Maps API v4 (electricitymaps.com)"


# -- what comes back -------------------------------------------------------------------------
@pytest.mark.parametrize("history_key", ["history", "data"])
@pytest.mark.parametrize("forecast_key", ["forecast", "data"])
@pytest.mark.parametrize("row_granularity", [False, True])
def test_the_recorded_v4_shapes_and_their_attested_variants_read_alike(api, http, history_key, forecast_key,
                                                                       row_granularity):
    api.em_history_key, api.em_forecast_key, api.em_row_granularity = history_key, forecast_key, row_granularity
    p = ElectricityMaps(api.url, http, EM_TOKEN, timeout_s=2.0, wall=lambda: api.now)
    series = validate.clean(p.refresh(parse_zone("DE")), NOW)
    # history ends with the current hour and the forecast starts with it: the latest value wins there
    assert [i.value.provenance["kind"] for i in series] == ["historical"] * 22 + ["live"] + ["forecast"] * 24
    live = series[22]
    assert (live.start_s, live.end_s) == (HOUR, HOUR + 3600) and live.value.value_g_per_kwh == api.em_value(HOUR)
    assert all(i.value.value_g_per_kwh == api.em_value(i.start_s) for i in series)
    assert {i.value.provenance["source"] for i in series} == {"Electricity Maps API v4 (electricitymaps.com)"}


@pytest.mark.parametrize("step_s", [900, 300])
def test_a_sub_hourly_granularity_given_once_per_answer_sets_each_period(api, http, step_s):
    api.em_step_s = step_s
    p = ElectricityMaps(api.url, http, EM_TOKEN, timeout_s=2.0, wall=lambda: api.now)
    series = validate.clean(p.refresh(parse_zone("DE")), NOW)
    assert {i.end_s - i.start_s for i in series} == {step_s}
    live = next(i for i in series if i.value.provenance["kind"] == "live")
    assert live.start_s == NOW - NOW % step_s


# -- a legacy URL setting --------------------------------------------------------------------
@pytest.mark.parametrize("url, root, cut", [
    ("http://127.0.0.1:8080", "http://127.0.0.1:8080", None),
    ("http://127.0.0.1:8080/v3", "http://127.0.0.1:8080", "v3"),
    ("http://127.0.0.1:8080/v3/", "http://127.0.0.1:8080", "v3"),
    ("http://127.0.0.1:8080/em/V4", "http://127.0.0.1:8080/em", "v4"),
    ("http://127.0.0.1:8080/v30", "http://127.0.0.1:8080/v30", None),
])
def test_the_base_url_is_the_host_whatever_version_it_ends_in(url, root, cut):
    assert electricitymaps.api_root(url) == (root, cut)


def test_a_v3_url_setting_gets_live_v4_values_and_one_hint(api, wall, services):
    s = service(services, api, wall, zone="DE", url=api.url + "/v3")
    fetched(s)
    v = s.at(wall())
    assert v.provenance["kind"] == "live" and v.value_g_per_kwh == api.em_value(HOUR)
    assert api.paths() and all(p.startswith("/v4/carbon-intensity/") for p in api.paths())
    hint, = s.load_notices
    assert "/v3" in hint and "v4" in hint and "\n" not in hint and api.url not in hint
    assert s.notices() == []
    quiet = service(services, api, wall, zone="DE", url=api.url + "/v4/")
    fetched(quiet)
    assert quiet.load_notices == [] and quiet.notices() == []
    assert quiet.at(wall()).provenance["kind"] == "live"


# -- a key whose plan does not cover the zone ------------------------------------------------
@pytest.mark.parametrize("status", [403, 404])
def test_a_zone_outside_the_plan_is_one_line_naming_it_and_priced_from_the_table(api, wall, services, status):
    api.em_zones, api.em_refusal = {"FR"}, status
    s = service(services, api, wall, zone="FR")
    fetched(s)
    de = s.for_zone("DE")
    fetched(s, de)
    note, = s.notices()
    assert f"zone DE is not in your plan (HTTP {status})" in note
    assert "%carbon zone FR" in note and "static table" in note and "\n" not in note
    assert EM_TOKEN not in note and "ELECTRICITYMAPS_API_TOKEN" not in note
    v = de.at(wall())
    assert v.value_g_per_kwh == static_value(parse_zone("DE")).value_g_per_kwh
    assert v.provenance["kind"] == "static" and v.provenance["zone"] == "DE"
    assert v.provenance["fallback_reason"] == f"http_{status}" and v.provenance["fallback_from"] == "electricitymaps"
    assert s.at(wall()).provenance["kind"] == "live"  # the plan's zone is still live
    assert "zone DE is not in your plan" in de.describe()


def test_a_refused_zone_is_not_asked_again(api, wall, services):
    api.em_zones = {"FR"}
    s = service(services, api, wall, zone="FR")
    fetched(s)
    fetched(s, s.for_zone("DE"))
    assert len(em_requests(api, "DE")) == 1  # latest, refused: nothing more
    assert len(s.notices()) == 1
    for _ in range(3):  # hours later, cells and commands asking for DE again, now and 3 days back
        wall.advance(3600)
        fetched(s, s.for_zone("DE"))
        s.for_zone("DE").prefetch(wall() - 3 * 86400)
        s.refresh_now(s.for_zone("DE"), 1.0)
        assert s.sync(10)
    assert len(em_requests(api, "DE")) == 1
    n = len(em_requests(api, "FR"))
    fetched(s)
    assert len(em_requests(api, "FR")) > n  # the plan's zone keeps refreshing
    assert s.notices() == []  # said once


def test_a_bad_token_is_401_and_says_so_which_a_plan_refusal_does_not(api, wall, services):
    bad = service(services, api, wall, zone="DE", token="expired-token-42")
    fetched(bad)
    note, = bad.notices()
    assert "rejected the API token (it is wrong or has expired)" in note and "ELECTRICITYMAPS_API_TOKEN" in note
    assert "HTTP 401" in note and "not in your plan" not in note and "expired-token-42" not in note
    n = len(api.requests)
    fetched(bad, bad.for_zone("FR"))  # a bad token is bad for every zone: not asked again
    assert len(api.requests) == n
    api.em_zones = {"FR"}
    plan = service(services, api, wall, zone="DE")
    fetched(plan)
    note, = plan.notices()
    assert "zone DE is not in your plan (HTTP 403)" in note and "ELECTRICITYMAPS_API_TOKEN" not in note
    fetched(plan, plan.for_zone("FR"))
    assert plan.for_zone("FR").at(wall()).provenance["kind"] == "live"  # the token is fine


def test_a_401_for_another_zone_once_the_token_worked_is_the_plan(api, wall, services):
    api.em_zones, api.em_refusal = {"FR"}, 401  # Electricity Maps also answers 401 outside a plan
    s = service(services, api, wall, zone="FR")
    fetched(s)
    fetched(s, s.for_zone("DE"))
    note, = s.notices()
    assert "zone DE is not in your plan (HTTP 401)" in note and "%carbon zone FR" in note
    assert s.for_zone("DE").at(wall()).provenance["fallback_reason"] == "http_401"
    wall.advance(3600)
    n = len(em_requests(api, "FR"))
    fetched(s)
    assert len(em_requests(api, "FR")) > n and s.at(wall()).provenance["kind"] == "live"  # not stopped


# -- in a notebook ---------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["%carbon zone DE", "%%carbon --zone DE\nx = 0"])
def test_in_a_notebook_the_user_reads_one_line_and_the_cell_is_priced_from_the_table(loaded, capsys, how):
    with FakeAPI(now=time.time()) as api:
        api.em_zones = {"FR"}
        ip = loaded(ELECTRICITYMAPS_API_TOKEN=EM_TOKEN, CARBON_MAGIC_ELECTRICITYMAPS_URL=api.url + "/v3",
                    CARBON_MAGIC_ZONE="FR")
        svc = session_for(ip).intensity
        assert svc.sync(10)
        assert capsys.readouterr().out.count("ends in /v3") == 1  # the legacy URL, said at load
        assert run(ip, how).success
        assert svc.sync(10)  # DE asked and refused in the background (said now, or after the next cell)
        zone = "" if how.startswith("%carbon zone") else " --zone DE"
        result = run(ip, f"%%carbon{zone} -o r\ny = 6 * 7")
        assert result.success and ip.user_ns["y"] == 42
        out, err = capsys.readouterr()
        lines = [line for line in (out + err).splitlines() if "Not asked again" in line]
        assert len(lines) == 1, out + err  # the notice (a status line may say "not in your plan" too)
        assert "zone DE is not in your plan (HTTP 403)" in lines[0] and "%carbon zone FR" in lines[0]
        assert EM_TOKEN not in out + err
        r = ip.user_ns["r"]
        assert r.intensity["zone"] == "DE" and r.intensity["kind"] == "static"
        assert r.intensity["fallback_reason"] == "http_403"
        assert r.intensity_g_per_kwh == pytest.approx(static_value(parse_zone("DE")).value_g_per_kwh)
        for _ in range(2):
            assert run(ip, f"%%carbon{zone}\nx = 1").success
        assert svc.sync(10)
        out, err = capsys.readouterr()
        assert "Not asked again" not in out + err  # said once
        assert len(em_requests(api, "DE")) == 1  # asked once
        assert all(p.startswith("/v4/") for p, _ in em_requests(api))
        if zone:  # the session's zone is still FR, and live
            run(ip, "%%carbon -o f\nx = 2")
            assert ip.user_ns["f"].intensity["kind"] == "live"
        else:
            run(ip, "%carbon zone")
            assert "zone DE is not in your plan (HTTP 403)" in capsys.readouterr().out
