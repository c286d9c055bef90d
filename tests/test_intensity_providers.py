"""Each provider against a real HTTP server on 127.0.0.1 speaking the documented shapes, and faults."""
import pytest

from carbon_magic.intensity import ProviderError, parse_zone, validate
from carbon_magic.intensity.electricitymaps import ElectricityMaps
from carbon_magic.intensity.provider import get_json
from carbon_magic.intensity.uk import UKCarbonIntensity
from carbon_magic.intensity.watttime import WattTime
from intensity_http import EM_TOKEN, WT_JWT, WT_PASSWORD, WT_USER, FakeAPI, refused_url

NOW = 1_790_000_000.0 + 600  # ten minutes into an hour


@pytest.fixture
def api():
    with FakeAPI(now=NOW) as a:
        yield a


def em(api, http, token=EM_TOKEN, **kw):
    return ElectricityMaps(api.url, http, token, timeout_s=2.0, wall=lambda: api.now, **kw)


# -- Electricity Maps --------------------------------------------------------------------
def test_electricitymaps_latest_history_forecast(api, http):
    # v4's history ends with the current hour and its forecast starts with it: the latest value wins
    out = validate.clean(em(api, http).refresh(parse_zone("DE")), NOW)
    kinds = [i.value.provenance["kind"] for i in out]
    assert kinds == ["historical"] * 22 + ["live"] + ["forecast"] * 24
    live = next(i for i in out if i.value.provenance["kind"] == "live")
    hour = NOW - NOW % 3600
    assert (live.start_s, live.end_s) == (hour, hour + 3600)
    assert live.value.value_g_per_kwh == api.em_value(hour)
    p = live.value.provenance
    assert p["provider"] == "electricitymaps" and p["zone"] == "DE" and p["emission_factor"] == "lifecycle"
    assert p["signal"] == "average" and p["fetched_at"].endswith("Z")
    for _path, query, headers in api.requests:
        assert query["zone"] == "DE"  # always named: never a location guessed from our IP
        assert query["disableCallerLookup"] == "true"
        assert query["emissionFactorType"] == "lifecycle"
        assert headers["auth-token"] == EM_TOKEN


def test_electricitymaps_direct_factors_are_asked_for_and_recorded(api, http):
    out = em(api, http, emission_factor="direct").refresh(parse_zone("FR"))
    assert {i.value.provenance["emission_factor"] for i in out} == {"direct"}
    assert {q["emissionFactorType"] for _, q, _ in api.requests} == {"direct"}


def test_electricitymaps_cloud_region_names_the_data_centre(api, http):
    em(api, http).refresh(parse_zone("gcp:europe-west1"))
    _, query, _ = api.requests[0]
    assert query["dataCenterProvider"] == "gcp" and query["dataCenterRegion"] == "europe-west1"
    assert query["disableCallerLookup"] == "true" and "zone" not in query


def test_electricitymaps_forecast_not_in_plan_degrades_to_latest_and_history(api, http):
    api.em_forecast_allowed = False
    p = em(api, http)
    out = p.refresh(parse_zone("DE"))
    assert {i.value.provenance["kind"] for i in out} == {"live", "historical"}
    assert p.forecast_note == "not in your Electricity Maps plan (HTTP 403)"
    api.requests.clear()
    p.refresh(parse_zone("DE"))
    assert "/v4/carbon-intensity/forecast" not in api.paths()  # not asked again


def test_electricitymaps_history_denied_still_gives_latest(api, http):
    api.fault("/v4/carbon-intensity/history", status=403)
    out = em(api, http).refresh(parse_zone("DE"))
    assert any(i.value.provenance["kind"] == "live" for i in out)


def test_electricitymaps_bad_token_is_http_401_without_the_token(api, http):
    with pytest.raises(ProviderError) as e:
        em(api, http, token="wrong-token-123").refresh(parse_zone("DE"))
    assert e.value.cause == "http_401" and "wrong-token-123" not in str(e.value)
    assert "wrong-token-123" not in repr(em(api, http, token="wrong-token-123"))


def test_electricitymaps_null_latest_is_null(api, http):
    api.em_value = lambda start: None
    with pytest.raises(ProviderError) as e:
        em(api, http).refresh(parse_zone("DE"))
    assert e.value.cause == "null"


# -- UK Carbon Intensity API -------------------------------------------------------------
def uk(api, http):
    return UKCarbonIntensity(api.url, http, timeout_s=2.0, wall=lambda: api.now)


def test_uk_national_actuals_then_forecast(api, http):
    out = uk(api, http).refresh(parse_zone("GB"))
    half = NOW - NOW % 1800
    assert [p for p in api.paths()] == [f"/intensity/{_m(half)}/pt24h", f"/intensity/{_m(half)}/fw48h"]
    by_kind = {}
    for i in out:
        by_kind.setdefault(i.value.provenance["kind"], []).append(i)
    assert len(by_kind["historical"]) == 48 and len(by_kind["forecast"]) == 96
    past = by_kind["historical"][-1]
    assert past.value.value_g_per_kwh == api.uk_actual(past.start_s)
    # the open half-hour has actual = null: its forecast is used, labelled so
    current = next(i for i in out if i.start_s == half)
    assert current.value.provenance["kind"] == "forecast"
    assert current.value.value_g_per_kwh == api.uk_forecast(half)
    assert current.value.provenance["emission_factor"] == "direct"
    assert current.end_s - current.start_s == 1800


@pytest.mark.parametrize("zone, tail", [("uk:13", "regionid/13"), ("uk:london", "regionid/13"),
                                        ("uk:RG10", "postcode/RG10")])
def test_uk_regional_by_id_or_postcode_is_forecast_only(api, http, zone, tail):
    out = uk(api, http).refresh(parse_zone(zone))
    assert all(p.startswith("/regional/intensity/") and p.endswith(tail) for p in api.paths())
    assert {i.value.provenance["kind"] for i in out} == {"forecast"}
    assert {i.value.provenance["zone"] for i in out} == {parse_zone(zone).key}


def test_uk_refuses_zones_outside_great_britain(api, http):
    with pytest.raises(ProviderError) as e:
        uk(api, http).refresh(parse_zone("FR"))
    assert e.value.cause == "unsupported" and api.requests == []


def test_uk_all_null_is_null(api, http):
    api.uk_actual = api.uk_forecast = lambda start: None
    with pytest.raises(ProviderError) as e:
        uk(api, http).refresh(parse_zone("GB"))
    assert e.value.cause == "null"


# -- WattTime ----------------------------------------------------------------------------
def wt(api, http, password=WT_PASSWORD):
    return WattTime(api.url, http, WT_USER, password, timeout_s=2.0, wall=lambda: api.now)


def test_watttime_moer_is_converted_and_labelled_marginal(api, http):
    out = wt(api, http).refresh(parse_zone("watttime:CAISO_NORTH"))
    assert api.paths()[0] == "/login"
    assert all(h.get("Authorization") == f"Bearer {WT_JWT}" for p, _, h in api.requests[1:])
    v = out[0].value
    assert v.value_g_per_kwh == pytest.approx(1000 * 0.453592)  # lb/MWh -> g/kWh
    assert v.provenance["signal"] == "marginal" and v.provenance["provider"] == "watttime"
    assert {i.value.provenance["kind"] for i in out} >= {"historical", "forecast"}
    assert out[0].end_s - out[0].start_s == 300


def test_watttime_token_is_reused_then_renewed_before_30_minutes(api, http):
    p = wt(api, http)
    zone = parse_zone("watttime:CAISO_NORTH")
    p.refresh(zone)
    p.refresh(zone)
    assert api.paths().count("/login") == 1
    api.now += 26 * 60
    p.refresh(zone)
    assert api.paths().count("/login") == 2


def test_watttime_free_account_gets_only_the_index(api, http):
    with pytest.raises(ProviderError) as e:
        wt(api, http).refresh(parse_zone("watttime:PJM_DC"))
    assert e.value.cause == "not_allowed" and e.value.index == 37.0


def test_watttime_bad_password_fails_the_login(api, http):
    with pytest.raises(ProviderError) as e:
        wt(api, http, password="nope-nope").refresh(parse_zone("watttime:CAISO_NORTH"))
    assert e.value.cause == "http_401" and e.value.status == 403 and "nope-nope" not in str(e.value)


# -- faults, as one error type -----------------------------------------------------------
@pytest.mark.parametrize("fault, cause", [
    ({"delay_s": 2.0}, "timeout"),
    ({"status": 500}, "http_5xx"),
    ({"status": 503}, "http_5xx"),
    ({"status": 401}, "http_401"),
    ({"status": 429, "retry_after": "120"}, "http_429"),
    ({"status": 400}, "http_4xx"),
    ({"body": b"<html>not json"}, "malformed"),
    ({"body": b'{"zone": "DE", "carbonIntensity": null, "datetime": "2026-09-21T12:00:00.000Z"}'}, "null"),
    ({"body": b'{"zone": "DE", "carbonIntensity": "lots", "datetime": "2026-09-21T12:00:00.000Z"}'}, "malformed"),
    ({"body": b'[1, 2, 3]'}, "malformed"),
])
def test_every_fault_becomes_one_error_type(api, http, fault, cause):
    api.fault("/v4/carbon-intensity/latest", **fault)
    p = ElectricityMaps(api.url, http, EM_TOKEN, timeout_s=0.3, wall=lambda: api.now)
    with pytest.raises(ProviderError) as e:
        p.refresh(parse_zone("DE"))
    assert e.value.cause == cause
    if cause == "http_429":
        assert e.value.retry_after_s == 120


def test_connection_refused(http):
    with pytest.raises(ProviderError) as e:
        get_json(http, refused_url() + "/intensity", timeout_s=1.0)
    assert e.value.cause == "refused"


def test_uk_garbage_shapes_are_malformed(api, http):
    api.fault("/intensity/", body=b'{"data": [{"from": "yesterday", "to": "x", "intensity": {"actual": 1}}]}')
    with pytest.raises(ProviderError) as e:
        uk(api, http).refresh(parse_zone("GB"))
    assert e.value.cause == "malformed"


def _m(t):
    from intensity_http import iso_min
    return iso_min(t)
