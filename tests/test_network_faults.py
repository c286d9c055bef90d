"""The network answers only to the configured host, within limits: redirects are not followed,
bodies are capped, every request has a total deadline, unloading stops the fetch, answers are
validated, nothing a provider sends is stored verbatim, and cells never wait. A real HTTP server
on 127.0.0.1 plays the hostile provider."""
import json
import threading
import time
import tracemalloc
import zlib
from datetime import datetime, timezone

import pytest
import requests

from carbon_magic.config import Settings
from carbon_magic.extension import session_for
from carbon_magic.intensity import ProviderError, make_service, parse_zone
from carbon_magic.intensity.electricitymaps import ElectricityMaps
from carbon_magic.intensity.transport import Http, Limits
from carbon_magic.intensity.validate import MAX_POINTS, MAX_ROWS
from carbon_magic.intensity.watttime import WattTime
from carbon_magic.ledger import Ledger
from conftest import run
from intensity_http import (EM_TOKEN, WT_PASSWORD, WT_USER, FakeAPI, Listener, chunked, drip_headers, gzip_bomb,
                            raw_response, redirect, refused_url, streamed, trickle)

NOW = 1_790_000_000.0 + 600
LATEST = "/v4/carbon-intensity/latest"
MB = 1_000_000


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@pytest.fixture
def api():
    with FakeAPI(now=NOW) as a:
        yield a


def em(api, http, timeout_s=2.0):
    return ElectricityMaps(api.url, http, EM_TOKEN, timeout_s=timeout_s, wall=lambda: api.now)


def fails(fn, *args):
    """(the ProviderError fn raised, seconds it took)."""
    t0 = time.perf_counter()
    with pytest.raises(ProviderError) as e:
        fn(*args)
    return e.value, time.perf_counter() - t0


def service(services, settings, ledger=None, timeout_s=0.5):
    s = make_service(settings, ledger, timeout_s=timeout_s, wall=lambda: NOW)
    services.append(s)
    return s


def em_settings(url, zone="DE"):
    return Settings(zone=zone, electricitymaps_url=url, electricitymaps_token=EM_TOKEN)


def wait_for(cond, timeout_s=5.0):
    end = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < end, "timed out waiting"
        time.sleep(0.01)


# -- redirects: credentials go to the configured origin only -----------------------------
@pytest.mark.parametrize("status", [301, 302, 307, 308])
@pytest.mark.parametrize("target", ["http://127.0.0.1:{port}", "http://localhost:{port}", "https://127.0.0.1:{port}"],
                         ids=["other-port", "other-host", "other-scheme"])
def test_a_redirect_is_not_followed_so_the_token_goes_nowhere_else(api, http, status, target):
    with Listener() as elsewhere:
        location = target.format(port=elsewhere.port) + "/v4/carbon-intensity/latest?zone=DE"
        api.fault(LATEST, respond=redirect(status, location))
        err, _ = fails(em(api, http).refresh, parse_zone("DE"))
    assert err.cause == "redirect" and err.status == status
    assert elsewhere.received == []  # not even a connection, so no auth-token header
    assert [h.get("auth-token") for p, _, h in api.requests] == [EM_TOKEN]  # sent once, to the configured origin


def test_a_redirected_login_does_not_send_the_password_elsewhere(api, http):
    with Listener() as elsewhere:
        api.fault("/login", respond=redirect(307, f"http://localhost:{elsewhere.port}/login"))
        p = WattTime(api.url, http, WT_USER, WT_PASSWORD, timeout_s=2.0, wall=lambda: api.now)
        err, _ = fails(p.refresh, parse_zone("watttime:CAISO_NORTH"))
    assert err.cause == "redirect" and elsewhere.received == []


def test_a_redirect_falls_back_with_one_notice_that_quotes_nothing(api, services):
    api.fault(LATEST, respond=redirect(302, f"http://localhost:1/{EM_TOKEN}?leak=PROVIDER-TEXT"))
    s = service(services, em_settings(api.url))
    s.prefetch(NOW)
    assert s.sync(10)
    v = s.at(NOW)
    assert v.provenance["kind"] == "static" and v.provenance["fallback_reason"] == "redirect"
    note, = s.notices()
    assert "redirect (HTTP 302)" in note and "not followed" in note
    assert EM_TOKEN not in note and "PROVIDER-TEXT" not in note and "localhost" not in note


# -- size: capped while streaming, after decoding ----------------------------------------
@pytest.fixture(scope="module")
def bombs():
    zeros = b"\0" * (64 * MB)
    return {"gzip": gzip_bomb(64 * MB), "deflate": zlib.compress(zeros, 9)}


@pytest.mark.parametrize("case", ["length-lie", "no-length", "chunked", "with-length", "gzip-bomb", "deflate-bomb",
                                  "gzip-bomb-chunked"])
def test_a_huge_answer_is_cut_at_the_cap_without_filling_memory(api, bombs, case):
    row = b'{"carbonIntensity": 100, "datetime": "2026-09-21T12:00:00.000Z"},'
    respond = {
        "length-lie": raw_response(b"[1]", headers={"Content-Length": str(10**12)}),
        "no-length": streamed(row * 100, 200 * MB),
        "chunked": chunked(row * 100, 200 * MB),
        "with-length": streamed(row * 100, 100 * MB, headers={"Content-Length": str(100 * MB)}),
        "gzip-bomb": raw_response(bombs["gzip"], headers={"Content-Encoding": "gzip"}),
        "deflate-bomb": raw_response(bombs["deflate"], headers={"Content-Encoding": "deflate"}),
        "gzip-bomb-chunked": lambda w, stop: chunked(bombs["gzip"], len(bombs["gzip"]))(
            _WithHeader(w, b"Content-Encoding: gzip\r\n"), stop),
    }[case]
    api.fault("/big", respond=respond)
    h = Http(limits=Limits(timeout_s=5.0))
    h.get_json(api.url + "/v4/carbon-intensity/latest?zone=DE", headers={"auth-token": EM_TOKEN})  # imports done
    tracemalloc.start()
    try:
        err, took = fails(h.get_json, api.url + "/big")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        h.close()
    assert err.cause == "too_large"
    assert peak < 12 * MB, peak  # the cap is 2 MB of decoded body; the fault is 64-200 MB
    assert took < 3.0


class _WithHeader:
    """A wfile that slips one more header into the status block the responder writes first."""

    def __init__(self, wfile, header: bytes):
        self._w, self._header, self._done = wfile, header, False

    def write(self, data: bytes):
        if not self._done:
            self._done = True
            head, sep, rest = data.partition(b"\r\n")
            data = head + sep + self._header + rest
        return self._w.write(data)

    def flush(self):
        self._w.flush()


def test_a_compressed_answer_within_the_cap_is_read_and_odd_encodings_are_not(api):
    body = json.dumps({"carbonIntensity": 123.0, "label": "x" * 100_000}).encode()
    api.fault("/deflate", respond=raw_response(zlib.compress(body), headers={"Content-Encoding": "deflate"}))
    api.fault("/br", respond=raw_response(b"\x0b\x02\x80{}\x03", headers={"Content-Encoding": "br"}))
    api.fault("/cut", respond=raw_response(zlib.compress(body)[:-20], headers={"Content-Encoding": "deflate"}))
    api.fault("/corrupt", respond=raw_response(b"not deflate at all", headers={"Content-Encoding": "deflate"}))
    h = Http()
    try:
        assert h.get_json(api.url + "/deflate")["carbonIntensity"] == 123.0
        assert fails(h.get_json, api.url + "/br")[0].cause == "malformed"
        assert fails(h.get_json, api.url + "/cut")[0].cause == "malformed"
        assert fails(h.get_json, api.url + "/corrupt")[0].cause == "malformed"
    finally:
        h.close()


# -- deadline: connect + headers + body, however slowly the server drips -----------------
@pytest.mark.parametrize("respond", [trickle(0.1), drip_headers(0.1)], ids=["body-trickle", "header-drip"])
def test_a_dripping_server_cannot_hold_a_request_past_its_deadline(api, http, respond):
    api.fault(LATEST, respond=respond)
    err, took = fails(em(api, http, timeout_s=0.5).refresh, parse_zone("DE"))
    assert err.cause == "timeout"
    assert took < 3.0, took  # without a total deadline it never ends: each read gets a byte in time
    assert EM_TOKEN not in str(err)


def test_a_dripping_tls_handshake_is_cut_at_the_deadline(http):
    # a TLS record header announcing 16 kB of handshake, then one byte every 0.1 s
    with Listener(drip_s=0.1, drip=b"\x16\x03\x03\x40\x00") as server:
        p = ElectricityMaps(f"https://127.0.0.1:{server.port}", http, EM_TOKEN, timeout_s=0.5)
        err, took = fails(p.refresh, parse_zone("DE"))
    assert err.cause == "timeout" and took < 3.0, (err, took)


def test_unload_stops_a_stuck_fetch_and_its_thread(api, loaded):
    earlier = set(threading.enumerate())  # threads of earlier tests are not this unload's business
    api.now = time.time()
    api.fault(LATEST, respond=trickle(0.5))
    ip = loaded(ELECTRICITYMAPS_API_TOKEN=EM_TOKEN, CARBON_MAGIC_ELECTRICITYMAPS_URL=api.url, CARBON_MAGIC_ZONE="DE")
    worker = session_for(ip).intensity._thread
    wait_for(lambda: LATEST in api.paths())  # the fetch is under way, stuck on the trickle
    t0 = time.perf_counter()
    ip.run_line_magic("unload_ext", "carbon_magic")
    took = time.perf_counter() - t0
    worker.join(1.5)
    assert not worker.is_alive()
    assert took < 1.5, took
    # Nothing of ours outlives the unload: the deadline watchdog is cancelled, and the ledger's
    # writer ends as soon as what was queued is written (it never holds the unload itself).
    def ours():
        return [t.name for t in threading.enumerate()
                if t.name.startswith("carbon_magic-") and t.is_alive() and t not in earlier]

    end = time.monotonic() + 2.0
    while ours() and time.monotonic() < end:
        time.sleep(0.01)
    assert not ours()


@pytest.mark.parametrize("stage", ["headers", "tls-handshake"])
def test_close_cuts_the_request_in_flight(api, services, stage):
    with Listener(drip_s=0.1, drip=b"\x16\x03\x03\x40\x00") as tls:
        if stage == "headers":
            api.fault(LATEST, respond=drip_headers(0.2))
            s = service(services, em_settings(api.url), timeout_s=30.0)
            wait_for(lambda: LATEST in api.paths())
        else:
            s = service(services, em_settings(f"https://127.0.0.1:{tls.port}"), timeout_s=30.0)
            wait_for(lambda: tls.received)
        t0 = time.perf_counter()
        s.close()
        took = time.perf_counter() - t0
    assert took < 1.0, took
    assert not s._thread.is_alive()
    assert s.notices() == []  # being stopped is not a provider fault


# -- cells never wait on the network, a parse or the cache -------------------------------
def test_cells_do_not_wait_while_a_fetch_is_stuck(api, loaded, capsys):
    api.now = time.time()
    api.fault("/v4/", respond=trickle(0.5))
    ip = loaded(ELECTRICITYMAPS_API_TOKEN=EM_TOKEN, CARBON_MAGIC_ELECTRICITYMAPS_URL=api.url, CARBON_MAGIC_ZONE="DE")
    wait_for(lambda: LATEST in api.paths())
    svc = session_for(ip).intensity
    for code in ("%%carbon -o r\nx = 1", "%%carbon --zone FR -o f\nx = 2", "%%carbon --zone aws:us-east-1\nx = 3",
                 "%carbon status", "%carbon zone"):
        t0 = time.perf_counter()
        result = run(ip, code)
        took = time.perf_counter() - t0
        assert result.success, code
        assert took < 0.5, (code, took)  # the fetch is held for 5 s
    t0 = time.perf_counter()
    for zone in ("PL", "US-MIDA-PJM", None):
        svc.for_zone(zone).prefetch(time.time())
        svc.for_zone(zone).at(time.time())
    assert time.perf_counter() - t0 < 0.1
    assert ip.user_ns["r"].intensity["fallback_reason"] == "pending"
    assert "first fetch under way" in capsys.readouterr().out


class ThreadNotingLedger(Ledger):
    """A real ledger that notes which thread reads the intensity cache."""

    readers: list

    def cached_intensity(self, *args):
        self.readers.append(threading.current_thread().name)
        return super().cached_intensity(*args)


def test_the_cache_is_read_by_the_worker_not_the_caller(tmp_path, services):
    led = ThreadNotingLedger(tmp_path / "l.sqlite3")
    led.readers = []
    try:
        s = service(services, em_settings(refused_url()), led)
        s.for_zone("FR")
        s.for_zone("PL").at(NOW)
        assert s.sync(10)
        assert led.readers and set(led.readers) == {"carbon_magic-intensity"}
    finally:
        s.close()
        led.close()


# -- answers are validated ---------------------------------------------------------------
HOUR = iso(NOW - NOW % 3600)


@pytest.mark.parametrize("body", [
    b'{"carbonIntensity": NaN, "datetime": "%s"}',
    b'{"carbonIntensity": Infinity, "datetime": "%s"}',
    b'{"carbonIntensity": -Infinity, "datetime": "%s"}',
    b'{"carbonIntensity": 1e999, "datetime": "%s"}',
    b'{"carbonIntensity": 1e308, "datetime": "%s"}',
    b'{"carbonIntensity": 123456789012345678901234567890, "datetime": "%s"}',
    b'{"carbonIntensity": 3000.5, "datetime": "%s"}',
    b'{"carbonIntensity": -1, "datetime": "%s"}',
    b'{"carbonIntensity": "100", "datetime": "%s"}',
    b'{"carbonIntensity": [100], "datetime": "%s"}',
    b'{"carbonIntensity": true, "datetime": "%s"}',
    b'{"carbonIntensity": 100, "datetime": 1790000000}',
    b'{"carbonIntensity": 100, "datetime": "' + b"2026" * 100 + b'"}',
    b"[" * 100_000 + b"]" * 100_000,
    b"<html><body>Service Unavailable</body></html>",
    b"\xff\xfe{\x00}\x00",
    b"",
    b'"just a string"',
], ids=lambda b: b[:40].decode("latin-1"))
def test_implausible_or_malformed_answers_are_refused(api, http, body):
    api.fault(LATEST, respond=raw_response(body.replace(b"%s", HOUR.encode()), headers={"Content-Type": "application/json"}))
    err, _ = fails(em(api, http).refresh, parse_zone("DE"))
    assert err.cause == "malformed"


def test_a_web_page_is_not_json(api, http):
    api.fault(LATEST, respond=raw_response(json.dumps({"carbonIntensity": 1, "datetime": HOUR}).encode(),
                                           headers={"Content-Type": "text/html"}))
    assert fails(em(api, http).refresh, parse_zone("DE"))[0].cause == "malformed"


@pytest.mark.parametrize("when", ["1970-01-01T00:00:00Z", "1999-12-31T23:00:00Z", "2999-01-01T00:00:00Z",
                                  iso(NOW + 30 * 86400)])
def test_absurd_times_are_not_used(api, services, when):
    api.fault(LATEST, body=json.dumps({"carbonIntensity": 250, "datetime": when}).encode())
    api.em_forecast_allowed = False
    api.fault("/v4/carbon-intensity/history", status=403)
    s = service(services, em_settings(api.url))
    s.prefetch(NOW)
    assert s.sync(10)
    assert s.at(NOW).provenance["fallback_reason"] == "malformed"
    assert len(s.for_zone("DE").series) == 0


def test_rows_out_of_order_duplicated_or_overlapping_become_one_clean_series(api, services):
    half = NOW - NOW % 1800

    def period(start, end, value):
        return {"from": iso(start)[:16] + "Z", "to": iso(end)[:16] + "Z", "intensity": {"actual": value, "forecast": value}}

    rows = [period(half - 1800, half, 110), period(half - 5400, half - 3600, 90),
            period(half - 3600, half - 1800, 100), period(half - 3600, half - 1800, 105),  # repeated: the last wins
            period(half - 1800, half + 1800, 120),  # overlaps the next
            period(half, half + 1800, 130), period(0, 1800, 999), period(half, half - 1800, 5)]
    api.fault("/intensity/", body=json.dumps({"data": rows}).encode())
    s = service(services, Settings(zone="GB", uk_url=api.url))
    s.prefetch(NOW)
    assert s.sync(10)
    items = s.for_zone("GB").series.items
    assert [(i.start_s - half, i.end_s - half, i.value.value_g_per_kwh) for i in items] == [
        (-5400, -3600, 90), (-3600, -1800, 105), (-1800, 0, 120), (0, 1800, 130)]


def test_rows_kept_are_capped_per_answer_and_per_zone(api, services):
    minute = NOW - NOW % 60
    pts = {"/v3/historical": [minute - 60 * k for k in range(3 * MAX_ROWS)],
           "/v3/forecast": [minute + 60 * k for k in range(1, 3 * MAX_ROWS)]}
    meta = {"units": "lbs_co2_per_mwh", "data_point_period_seconds": 60}
    for path, times in pts.items():
        api.fault(path, body=json.dumps({"data": [{"point_time": iso(t), "value": 800} for t in times],
                                         "meta": meta}).encode())
    api.fault("/v3/", status=500)
    creds = {"watttime_username": WT_USER, "watttime_password": WT_PASSWORD}
    s = service(services, Settings(zone="watttime:CAISO_NORTH", watttime_url=api.url, **creds), timeout_s=5.0)
    s.prefetch(NOW)
    assert s.sync(20)
    series = s.for_zone("watttime:CAISO_NORTH").series
    assert 0 < len(series) <= MAX_POINTS
    assert s.at(NOW).provenance["provider"] == "watttime"
    with requests.Session() as http:
        answer = WattTime(api.url, http, WT_USER, WT_PASSWORD, wall=lambda: NOW).refresh(parse_zone("watttime:CAISO_NORTH"))
    assert len(answer) == 2 * MAX_ROWS  # historical and forecast, each cut at MAX_ROWS


@pytest.mark.parametrize("value, expected", [("120", 120.0), ("nan", None), ("inf", None), ("-5", None),
                                             ("1e308", None), (EM_TOKEN, None)])
def test_retry_after_is_believed_only_when_plausible(api, http, value, expected):
    api.fault(LATEST, status=429, retry_after=value)
    err, _ = fails(em(api, http).refresh, parse_zone("DE"))
    assert err.cause == "http_429" and err.retry_after_s == expected


# -- nothing a provider sends is stored or shown verbatim --------------------------------
def test_provider_text_is_never_quoted_in_notices(api, services):
    api.fault(LATEST, body=json.dumps({"carbonIntensity": "PROVIDER-TEXT-9f1", "datetime": "PROVIDER-TEXT-9f1"}).encode())
    s = service(services, em_settings(api.url))
    s.prefetch(NOW)
    assert s.sync(10)
    note, = s.notices()
    assert "could not be read" in note and "PROVIDER-TEXT" not in note
    assert "PROVIDER-TEXT" not in s.describe()


@pytest.mark.parametrize("fault", [
    {"status": 500, "body": f'{{"error": "bad token {EM_TOKEN}"}}'.encode()},
    {"status": 400, "body": f"<html>{EM_TOKEN}</html>".encode()},
    {"status": 429, "retry_after": EM_TOKEN},
    {"respond": redirect(301, f"http://127.0.0.1:1/?t={EM_TOKEN}")},
    {"body": f'{{"carbonIntensity": "{EM_TOKEN}", "datetime": "{EM_TOKEN}"}}'.encode()},
], ids=["500-body", "400-html", "429-header", "redirect-location", "value-fields"])
def test_a_token_echoed_in_an_error_never_reaches_a_notice(api, services, caplog, fault):
    caplog.set_level("DEBUG", logger="carbon_magic")
    api.fault(LATEST, **fault)
    s = service(services, em_settings(api.url))
    s.prefetch(NOW)
    assert s.sync(10)
    texts = s.notices() + [s.describe(), json.dumps(s.at(NOW).provenance), caplog.text]
    assert texts[0].startswith("carbon_magic: Electricity Maps")
    assert EM_TOKEN not in "\n".join(texts)


def test_labels_holding_the_token_reach_no_record_export_comm_or_ledger(api, loaded, tmp_path, capsys):
    now = time.time()
    api.now = now
    hour = now - now % 3600
    echo = {"zone": EM_TOKEN, "carbonIntensity": 321.0, "datetime": iso(hour), "updatedAt": EM_TOKEN,
            "emissionFactorType": EM_TOKEN, "isEstimated": EM_TOKEN, "estimationMethod": EM_TOKEN,
            "temporalGranularity": EM_TOKEN, "source": EM_TOKEN}
    api.fault(LATEST, body=json.dumps(echo).encode())
    api.fault("/v4/carbon-intensity/history", body=json.dumps({"zone": EM_TOKEN, "history": [
        {**echo, "datetime": iso(hour - 3600 * k), "carbonIntensity": 300.0 + k} for k in range(1, 5)]}).encode())
    api.fault("/v4/carbon-intensity/forecast", status=404, body=f'{{"error": "{EM_TOKEN}"}}'.encode())
    ip = loaded(ELECTRICITYMAPS_API_TOKEN=EM_TOKEN, CARBON_MAGIC_ELECTRICITYMAPS_URL=api.url, CARBON_MAGIC_ZONE="DE")
    session = session_for(ip)
    assert session.intensity.sync(10)
    run(ip, "%%carbon -o r\nx = sum(range(1000))")
    record = ip.user_ns["r"]
    assert record.intensity_g_per_kwh == 321.0  # the value is used ...
    p = record.intensity  # ... its labels are ours
    assert (p["provider"], p["zone"], p["kind"], p["emission_factor"]) == ("electricitymaps", "DE", "live", "other")
    texts = [json.dumps(record.to_dict()), str(record), json.dumps(session.sample_message(session.sampler.snapshot()))]
    for suffix in (".json", ".csv", ".md", ".html"):
        run(ip, f"%carbon export {tmp_path / ('s' + suffix)}")
        texts.append((tmp_path / ("s" + suffix)).read_text(encoding="utf-8"))
    for code in ("%carbon table", "%carbon status", "%carbon zone", "%carbon whatif FR"):
        run(ip, code)
    out = capsys.readouterr()
    texts += [out.out, out.err]
    texts += [f.read_bytes().decode("latin-1") for f in (tmp_path / "data").rglob("*") if f.is_file()]
    assert "321" in "\n".join(texts)
    for text in texts:
        assert EM_TOKEN not in text


def test_cached_rows_are_checked_again_and_their_labels_rebuilt(tmp_path, services):
    led = Ledger(tmp_path / "l.sqlite3")
    hour = NOW - NOW % 3600
    poisoned = {"provider": EM_TOKEN, "zone": EM_TOKEN, "kind": "live", "fetched_at": iso(NOW), "source": EM_TOKEN,
                "signal": EM_TOKEN, "emission_factor": EM_TOKEN, "fallback_reason": EM_TOKEN}
    led.cache_intensity("electricitymaps/lifecycle", "DE", [
        (hour, hour + 3600, 250.0, poisoned),
        (hour - 3600, hour, 5000.0, poisoned),  # implausible value
        (hour - 7200, hour - 3600, -3.0, poisoned),
        (hour - 10800, hour - 7200, 200.0, {**poisoned, "kind": EM_TOKEN}),  # not one of our kinds
        (hour - 14400, hour - 10800, 200.0, EM_TOKEN),  # not a provenance at all
        (hour + 3600, hour, 200.0, poisoned),  # ends before it starts
        (0.0, 3600.0, 200.0, poisoned),  # 1970
    ])
    try:
        s = service(services, em_settings(refused_url()), led)
        assert s.sync(10)
        v = s.at(NOW)
        assert v.value_g_per_kwh == 250.0
        assert v.provenance == {"provider": "electricitymaps", "provider_name": "Electricity Maps", "zone": "DE",
                                "kind": "live", "fetched_at": iso(NOW)[:19] + "Z",
                                "source": "Electricity Maps API v4 (electricitymaps.com)", "signal": "average",
                                "emission_factor": "other"}
        assert len(s.for_zone("DE").series) == 1
        assert s.at(hour - 1800).provenance["kind"] == "static"
    finally:
        s.close()
        led.close()
