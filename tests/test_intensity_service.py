"""The intensity service: never blocks, falls back with provenance, caches across restarts, keeps
secrets, and prices a cell that spans an intensity change with both values."""
import json
import logging
import time

import pytest

from carbon_magic.config import Settings
from carbon_magic.intensity import make_service, parse_zone
from carbon_magic.intensity.service import STALE_S, choose_provider
from carbon_magic.ledger import Ledger
from carbon_magic.session import CarbonSession
from carbon_magic.sources.discovery import Discovery
from carbon_magic.sources.rapl import discover_rapl
from intensity_http import EM_TOKEN, WT_JWT, WT_PASSWORD, WT_USER, FakeAPI, Wall, refused_url

HALF = 1800
B = 1_790_001_000 - 1_790_001_000 % HALF  # a half-hour boundary


@pytest.fixture
def api():
    with FakeAPI(now=B + 600) as a:
        yield a


@pytest.fixture
def wall(api):
    return Wall(api, B + 600)


@pytest.fixture
def ledger(tmp_path):
    led = Ledger(tmp_path / "ledger.sqlite3")
    yield led
    led.close()


def settings_for(api, zone, **kw):
    return Settings(zone=zone, electricitymaps_url=api.url, uk_url=api.url, watttime_url=api.url, **kw)


def fetched(service, feed=None):
    (feed or service).prefetch(service.now())
    assert service.sync(10)


def service_for(services, settings, ledger=None, **kw):
    s = make_service(settings, ledger, timeout_s=kw.pop("timeout_s", 0.5), **kw)
    services.append(s)
    return s


# -- choosing a provider -----------------------------------------------------------------
@pytest.mark.parametrize("provider, token, zone, expected", [
    ("auto", False, "FR", (None, None)),
    ("auto", True, "FR", ("electricitymaps", None)),
    ("auto", True, "aws:us-east-1", ("electricitymaps", None)),
    ("auto", False, "GB", ("uk", None)),
    ("auto", True, "GB", ("electricitymaps", None)),
    ("auto", True, "uk:london", ("uk", None)),  # Electricity Maps has no UK regions
    ("auto", False, "watttime:CAISO_NORTH", (None, "no_credentials")),
    ("auto", False, None, (None, None)),
    ("static", True, "FR", (None, None)),
    ("electricitymaps", False, "FR", (None, "no_token")),
    ("uk", False, "FR", (None, "unsupported")),
    ("watttime", False, "FR", (None, "no_credentials")),
])
def test_provider_choice(provider, token, zone, expected):
    s = Settings(provider=provider, electricitymaps_token="t0ken" if token else None)
    assert choose_provider(s, parse_zone(zone) if zone else None) == expected


def test_unusable_provider_choice_says_so_once_and_uses_static(services):
    s = service_for(services, Settings(zone="FR", provider="electricitymaps"))
    v = s.at(time.time())
    assert v.provenance["kind"] == "static" and v.provenance["fallback_reason"] == "no_token"
    notes = s.load_notices  # caused by the settings alone: said at load, not after the first cell
    assert len(notes) == 1 and "ELECTRICITYMAPS_API_TOKEN" in notes[0] and s.notices() == []
    s.for_zone("FR")
    assert s.notices() == []


def test_no_zone_is_the_flagged_world_average_with_one_hint(services):
    s = service_for(services, Settings())
    v = s.at(time.time())
    assert v.value_g_per_kwh == pytest.approx(458.29) and v.provenance["zone"] is None
    assert "no zone" in v.provenance["flag"]
    s.prefetch(time.time())
    s.prefetch(time.time())
    notes = s.notices()
    assert len(notes) == 1 and "%carbon zone" in notes[0] and "\n" not in notes[0]
    assert "no zone set" in s.describe()


def test_invalid_zone_in_the_environment_is_a_notice_not_a_crash(services):
    settings = Settings.from_env({"CARBON_MAGIC_ZONE": "FRR"})
    s = service_for(services, settings)
    assert s.zone is None and settings.zone is None
    assert "did you mean FR" in s.load_notices[0]  # said at load, not after the first cell


# -- never block -------------------------------------------------------------------------
def test_prefetch_and_at_never_wait_for_a_slow_provider(api, wall, services):
    api.fault("/v4/carbon-intensity/latest", delay_s=2.0)
    s = service_for(services, settings_for(api, "DE", electricitymaps_token=EM_TOKEN), wall=wall, timeout_s=5.0)
    t0 = time.perf_counter()
    s.prefetch(wall())
    v = s.at(wall())
    spent = time.perf_counter() - t0
    assert spent < 0.05, spent
    assert v.provenance["kind"] == "static" and v.provenance["fallback_reason"] == "pending"
    assert s.sync(10)
    live = s.at(wall())
    assert live.provenance["kind"] == "live" and live.provenance["provider"] == "electricitymaps"
    assert s.notices() == []


def test_session_cell_start_does_not_wait_either(api, wall, services, tmp_path, powercap, clock):
    api.fault("/intensity/", delay_s=2.0)
    powercap.add_zone("intel-rapl:0", "package-0", 0)
    s = service_for(services, settings_for(api, "GB"), wall=wall, timeout_s=5.0)
    session = CarbonSession(Settings(zone="GB"), Discovery(sources=discover_rapl(powercap.root)[0]),
                            Ledger(tmp_path / "l.sqlite3"), intensity=s, clock=clock, wall=clock.wall).start(thread=False)
    try:
        t0 = time.perf_counter()
        window = session.begin()
        assert time.perf_counter() - t0 < 0.05
        clock.advance(1.0)
        record = session.end(window, sync=False)
        assert record.intensity["fallback_reason"] == "pending"
    finally:
        session.close()


# -- falling back ------------------------------------------------------------------------
@pytest.mark.parametrize("fault, cause", [
    ({"delay_s": 2.0}, "timeout"), ({"status": 500}, "http_5xx"), ({"status": 429}, "http_429"),
    ({"body": b"garbage{"}, "malformed"), ({"body": b'{"data": [{"from": "2026-09-21T12:00Z", '
                                                   b'"to": "2026-09-21T12:30Z", "intensity": {"forecast": null, '
                                                   b'"actual": null}}]}'}, "null"),
])
def test_faults_fall_back_to_static_with_provenance_and_one_notice(api, wall, services, fault, cause):
    api.fault("/intensity/", **fault)
    s = service_for(services, settings_for(api, "GB"), wall=wall, timeout_s=0.3)
    fetched(s)
    v = s.at(wall())
    assert v.provenance["kind"] == "static" and v.provenance["fallback_reason"] == cause
    assert v.provenance["fallback_from"] == "uk" and v.provenance["zone"] == "GB"
    assert v.value_g_per_kwh == pytest.approx(210.891)  # GB's annual average
    first = s.notices()
    assert len(first) == 1 and "UK Carbon Intensity API" in first[0]
    wall.advance(3600)  # past any backoff: it tries again, fails the same way, says nothing new
    fetched(s)
    assert s.notices() == []
    assert sum(p.startswith("/intensity/") for p in api.paths()) >= 2


def test_connection_refused_falls_back(services):
    s = service_for(services, Settings(zone="GB", uk_url=refused_url()))
    fetched(s)
    assert s.at(time.time()).provenance["fallback_reason"] == "refused"
    assert "refused" in s.notices()[0]


def test_recent_cached_value_comes_before_static(api, wall, services):
    api.em_forecast_allowed = False
    s = service_for(services, settings_for(api, "DE", electricitymaps_token=EM_TOKEN), wall=wall)
    fetched(s)
    hour = wall() - wall() % 3600
    live = s.at(wall())
    assert live.provenance["kind"] == "live"
    api.fault("/v4/", delay_s=2.0)
    wall.advance(3600 + 600)  # the next hour: not covered, and the provider now times out
    fetched(s)
    v = s.at(wall())
    assert v.value_g_per_kwh == api.em_value(hour)
    assert v.provenance["kind"] == "live" and v.provenance["fallback_reason"] == "timeout"
    assert v.provenance["fetched_at"] == live.provenance["fetched_at"]
    later = s.at(wall() + STALE_S + 3600)
    assert later.provenance["kind"] == "static" and later.provenance["fallback_reason"] == "timeout"


def test_rate_limit_honours_retry_after(api, wall, services):
    api.fault("/intensity/", status=429, retry_after="600")
    s = service_for(services, settings_for(api, "GB"), wall=wall)
    fetched(s)
    assert "retrying in 600 s" in s.notices()[0]
    n = len(api.requests)
    wall.advance(300)
    fetched(s)
    assert len(api.requests) == n  # still inside Retry-After: nothing sent
    wall.advance(400)
    fetched(s)
    assert len(api.requests) > n


def test_bad_token_is_reported_once_without_the_token_and_not_retried(api, wall, services):
    s = service_for(services, settings_for(api, "DE", electricitymaps_token="bad-token-value"), wall=wall)
    fetched(s)
    notes = s.notices()
    assert len(notes) == 1 and "ELECTRICITYMAPS_API_TOKEN" in notes[0] and "401" in notes[0]
    assert "bad-token-value" not in notes[0]
    assert s.at(wall()).provenance["fallback_reason"] == "http_401"
    n = len(api.requests)
    wall.advance(7200)
    fetched(s)
    fetched(s, s.for_zone("FR"))
    assert len(api.requests) == n and s.notices() == []
    assert "not used this session" in s.describe()


def test_zone_not_in_plan_stops_that_zone_only(api, wall, services):
    api.fault("/v4/carbon-intensity/latest", status=403)
    s = service_for(services, settings_for(api, "DE", electricitymaps_token=EM_TOKEN), wall=wall)
    fetched(s)
    assert "zone DE is not in your plan (HTTP 403)" in s.notices()[0]
    assert s.at(wall()).provenance["fallback_reason"] == "http_403"


def test_watttime_marginal_values_and_the_free_account_fallback(api, wall, services):
    creds = {"watttime_username": WT_USER, "watttime_password": WT_PASSWORD}
    s = service_for(services, settings_for(api, "watttime:CAISO_NORTH", **creds), wall=wall)
    fetched(s)
    v = s.at(wall())
    assert v.provenance["signal"] == "marginal" and v.value_g_per_kwh == pytest.approx(453.592)
    free = s.for_zone("watttime:PJM_DC")
    fetched(s, free)
    f = free.at(wall())
    assert f.provenance["signal"] == "average" and f.provenance["kind"] == "static"
    assert f.provenance["fallback_reason"] == "not_allowed"
    note = s.notices()[0]
    assert "37/100" in note and "not comparable" in note


# -- caches ------------------------------------------------------------------------------
def test_a_restarted_kernel_reuses_the_ledger_cache_offline(api, wall, ledger, services):
    first = service_for(services, settings_for(api, "uk:london"), ledger, wall=wall)
    fetched(first)
    before = first.at(wall() + 3 * HALF)
    assert before.provenance["kind"] == "forecast"
    first.close()
    offline = Settings(zone="uk:london", uk_url=refused_url())
    second = service_for(services, offline, ledger, wall=wall)
    assert second.sync(10)  # the worker reads the ledger's cache (never a cell), then fails to fetch
    again = second.at(wall() + 3 * HALF)
    assert again == before
    fetched(second)
    assert second.at(wall() + 3 * HALF) == before  # a refused fetch does not lose cached values


def test_an_actual_replaces_a_forecast_never_the_reverse(api, wall, services):
    s = service_for(services, settings_for(api, "GB"), wall=wall)
    fetched(s)
    t = wall() + HALF  # the next half-hour: forecast now
    assert s.at(t).provenance["kind"] == "forecast"
    wall.advance(2 * HALF)  # it has closed: the API now gives its actual
    fetched(s)
    v = s.at(t)
    assert v.provenance["kind"] == "historical" and v.value_g_per_kwh == api.uk_actual(t - t % HALF)


# -- secrets -----------------------------------------------------------------------------
def test_tokens_never_reach_notices_records_reprs_logs_or_the_ledger(api, wall, tmp_path, caplog, powercap,
                                                                      clock, services):
    caplog.set_level(logging.DEBUG, logger="carbon_magic")
    secrets = [EM_TOKEN, WT_PASSWORD, WT_JWT, "bad-token-value"]
    settings = settings_for(api, "DE", electricitymaps_token=EM_TOKEN, watttime_username=WT_USER,
                            watttime_password=WT_PASSWORD)
    powercap.add_zone("intel-rapl:0", "package-0", 0)
    led = Ledger(tmp_path / "secret.sqlite3")
    s = service_for(services, settings, led, wall=wall, timeout_s=0.3)
    session = CarbonSession(settings, Discovery(sources=discover_rapl(powercap.root)[0]), led, intensity=s,
                            clock=clock, wall=clock.wall).start(thread=False)
    try:
        texts = []
        for zone in ("DE", "watttime:CAISO_NORTH", "watttime:PJM_DC"):
            fetched(s, s.for_zone(zone))
        api.fault("/v4/carbon-intensity/latest", status=500)
        wall.advance(7200)
        fetched(s, s.for_zone("FR"))
        bad = service_for(services, settings_for(api, "FR", electricitymaps_token="bad-token-value"), wall=wall)
        fetched(bad)
        window = session.begin(zone="watttime:CAISO_NORTH")
        powercap.advance("intel-rapl:0", 100.0)
        clock.advance(10)
        record = session.end(window, sync=False)
        texts += s.notices() + bad.notices() + [s.describe(), bad.describe(), repr(s), repr(bad), repr(settings)]
        texts += [repr(f) for f in (s.for_zone("DE"), s.for_zone("watttime:CAISO_NORTH"))]
        texts += [repr(p) for p in s._providers.values()]
        texts += [json.dumps(record.to_dict()), str(record), caplog.text]
        assert record.intensity["signal"] == "marginal"
    finally:
        session.close()
    texts += [p.read_bytes().decode("latin-1") for p in tmp_path.glob("secret.sqlite3*")]
    blob = "\n".join(texts)
    assert "Electricity Maps" in blob and "WattTime" in blob  # the texts are real, not empty
    for secret in secrets:
        assert secret not in blob, secret


# -- time-resolved CO2 -------------------------------------------------------------------
def test_a_cell_spanning_an_intensity_change_uses_both_values(api, tmp_path, powercap, services):
    from fakes import FakeClock

    clock = FakeClock(t=1000.0, wall=B - 300)  # the cell starts five minutes before a half-hour
    api.now = clock.wall()
    api.uk_forecast = lambda start: 100.0 if start < B else 300.0
    powercap.add_zone("intel-rapl:0", "package-0", 0)
    s = service_for(services, settings_for(api, "GB"), wall=clock.wall)
    session = CarbonSession(Settings(zone="GB"), Discovery(sources=discover_rapl(powercap.root)[0]),
                            Ledger(tmp_path / "l.sqlite3"), intensity=s, clock=clock, wall=clock.wall).start(thread=False)
    try:
        window = session.begin()  # prefetches in the background
        assert s.sync(10)
        for _ in range(10):  # ten minutes at 100 J per minute, five on each side of the boundary
            clock.advance(60)
            powercap.advance("intel-rapl:0", 100.0)
            session.sampler.tick()
        record = session.end(window, sync=False)
    finally:
        session.close()
    segs = record.intensity_segments
    assert [seg["intensity_g_per_kwh"] for seg in segs] == [100.0, 300.0]
    assert [seg["energy_j"] for seg in segs] == pytest.approx([500.0, 500.0])
    assert record.emissions_g == pytest.approx(500 / 3.6e6 * 100 + 500 / 3.6e6 * 300)
    assert record.intensity_g_per_kwh == pytest.approx(200.0)
    assert all(seg["intensity"]["provider"] == "uk" and seg["intensity"]["kind"] == "forecast" for seg in segs)
    assert record.intensity["provider"] == "uk"


def test_a_cell_with_its_own_zone_is_priced_there(tmp_path, powercap, clock, services):
    powercap.add_zone("intel-rapl:0", "package-0", 0)
    settings = Settings(zone="FR")
    session = CarbonSession(settings, Discovery(sources=discover_rapl(powercap.root)[0]),
                            Ledger(tmp_path / "l.sqlite3"), clock=clock, wall=clock.wall).start(thread=False)
    try:
        window = session.begin(zone="aws:us-east-1")
        powercap.advance("intel-rapl:0", 3600.0)
        clock.advance(10)
        record = session.end(window, sync=False)
    finally:
        session.close()
    assert record.intensity["zone"] == "aws:us-east-1"
    assert record.intensity_g_per_kwh == pytest.approx(379.069)
    assert session.intensity.zone == "FR"


def test_settings_urls_come_from_the_environment(api, wall, services):
    settings = Settings.from_env({"CARBON_MAGIC_ZONE": "uk:13", "CARBON_MAGIC_UK_URL": api.url + "/"})
    s = service_for(services, settings, wall=wall)
    fetched(s)
    assert api.paths() and all(p.endswith("/regionid/13") for p in api.paths())
    assert "UK Carbon Intensity API for uk:london" in s.describe()


def test_electricitymaps_past_range_fills_times_older_than_the_history(api, wall, services):
    s = service_for(services, settings_for(api, "DE", electricitymaps_token=EM_TOKEN), wall=wall)
    fetched(s)
    old = wall() - 3 * 86400 + 1234  # three days ago: outside the 24 h history
    assert s.at(old).provenance["kind"] == "static"
    s.prefetch(old)
    assert s.sync(10)
    v = s.at(old)
    assert v.value_g_per_kwh == api.em_value(old - old % 3600)
    assert v.provenance["provider"] == "electricitymaps" and v.provenance["kind"] == "historical"
    (path, query, headers), = [r for r in api.requests if r[0].endswith("/past-range")]
    assert query["zone"] == "DE" and query["disableCallerLookup"] == "true"
    assert query["start"] <= time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(old))
    s.prefetch(old)  # now cached: not asked again
    assert s.sync(10)
    assert len([r for r in api.requests if r[0].endswith("/past-range")]) == 1


def test_plan_without_past_ranges_degrades_once(api, wall, services):
    api.em_past_allowed = False
    s = service_for(services, settings_for(api, "DE", electricitymaps_token=EM_TOKEN), wall=wall)
    fetched(s)
    old = wall() - 3 * 86400
    for _ in range(2):
        s.prefetch(old)
        assert s.sync(10)
    assert len([r for r in api.requests if r[0].endswith("/past-range")]) == 1
    assert s.at(old).provenance["kind"] == "static"
    assert s.at(wall()).provenance["kind"] == "live"  # latest and history still served


def test_the_service_and_the_test_grid_are_one_intensity_source(services):
    from fakes import StepIntensity

    from carbon_magic.intensity.provider import IntensitySource

    assert isinstance(service_for(services, Settings(zone="FR", provider="static")), IntensitySource)
    assert isinstance(StepIntensity(0.0), IntensitySource)
    assert not isinstance(object(), IntensitySource)


def test_the_choice_asks_the_providers_themselves(monkeypatch):
    """choose_provider has no zone rules of its own: a provider that supports a zone is chosen."""
    from carbon_magic.intensity import service as service_mod

    class Everywhere:
        name = "everywhere"
        missing_credentials = "no_key"

        @staticmethod
        def supports(zone):
            return zone.key == "FR"

        @staticmethod
        def has_credentials(settings):
            return settings.electricitymaps_token == "key"

        @staticmethod
        def owns(zone):
            return False

    monkeypatch.setattr(service_mod, "PROVIDERS", (Everywhere, *service_mod.PROVIDERS))
    assert choose_provider(Settings(provider="auto", electricitymaps_token="key"), parse_zone("FR")) == ("everywhere", None)
    assert choose_provider(Settings(provider="auto"), parse_zone("FR")) == (None, None)
    assert choose_provider(Settings(provider="everywhere"), parse_zone("FR")) == (None, "no_key")
    assert choose_provider(Settings(provider="everywhere", electricitymaps_token="key"), parse_zone("DE")) == (
        None, "unsupported")
