"""A real HTTP server on 127.0.0.1 that answers like the three intensity APIs, faults on demand.

Shapes follow ../shared/notes/measurement.md §4 (UK Carbon Intensity API, WattTime v3) and, for
Electricity Maps API v4, the answers recorded in maurobdata/electricity-grid-lab `fixtures/`
(`carbon-intensity__{latest,history,forecast}.json`; see carbon_magic/intensity/electricitymaps.py).
Electricity Maps is served under `/v4/carbon-intensity/` only (a `/v3/carbon-intensity/` request is a
404 here: the client must not use the legacy API). `em_zones` is what the key's plan covers (None:
every zone; others get `em_refusal`, 403 by default); `em_history_key`, `em_forecast_key` and
`em_row_granularity` switch to the other attested shapes. Series are generated around `api.now` so
a test controls time. Every request is recorded (path, query, headers) so tests can check what was
sent, e.g. that the zone is always named and the caller-IP lookup is off.

Faults: a status, a delay, a body, or `respond`, a function that writes the raw response itself
(`trickle`, `drip_headers`, `raw_response`, `redirect` build the usual hostile ones). `Listener`
is a bare TCP port that records every connection and its first bytes (a redirect target).
"""
from __future__ import annotations

import base64
import gzip
import json
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

EM_TOKEN = "em-secret-token-7f3a9c"
WT_USER, WT_PASSWORD = "wt-user-b81", "wt-password-c4d2e"
WT_JWT = "wt-jwt-eyJhbGciOi-0d9e8f"
UK_REGIONS = {3: "North West England", 13: "London"}


def iso_ms(t: float) -> str:
    return datetime.fromtimestamp(t, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso_min(t: float) -> str:
    return datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y-%m-%dT%H:%MZ")


def parse_iso(s: str) -> float:
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()


def parse_min(s: str) -> float:
    return datetime.strptime(s, "%Y-%m-%dT%H:%MZ").replace(tzinfo=timezone.utc).timestamp()


@dataclass
class Fault:
    prefix: str
    status: int = 200
    delay_s: float = 0.0
    body: bytes | None = None
    retry_after: str | None = None
    respond: object = None  # callable(wfile, stop: threading.Event): writes the whole raw response


class FakeAPI:
    def __init__(self, now: float = 1_790_000_000.0):
        self.now = now
        self.requests: list[tuple[str, dict, dict]] = []
        self.faults: list[Fault] = []
        self.em_forecast_allowed = True
        self.em_past_allowed = True
        self.em_zones: set[str] | None = None  # the zones the key's plan covers; None: all
        self.em_refusal = 403  # the answer for a zone outside the plan (403 or 404; the API also uses 401)
        self.em_history_key = "history"  # recorded; "data" per the same repository's API notes
        self.em_forecast_key = "forecast"  # recorded; "data" as above
        self.em_row_granularity = False  # True: temporalGranularity on each row (v3's place), not the answer
        self.em_step_s = 3600  # the series' granularity (3600 hourly, 900 for 15_minutes, 300 for 5_minutes)
        self.wt_moer_regions = {"CAISO_NORTH"}  # the free preview region
        # values per period start (unix s); tests replace these
        self.em_value = lambda start: 100.0 + (start // 3600) % 24
        self.uk_actual = lambda start: 200.0 + ((start // 1800) % 10) * 10
        self.uk_forecast = lambda start: 205.0 + ((start // 1800) % 10) * 10
        self.wt_moer_lb = lambda start: 1000.0
        self.stop = threading.Event()  # set on exit: raw responders that trickle end
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self._server.shutdown()
        self._server.server_close()

    def fault(self, prefix: str, **kw) -> None:
        self.faults.append(Fault(prefix, **kw))

    def paths(self) -> list[str]:
        return [p for p, _, _ in self.requests]

    # -- the three APIs ------------------------------------------------------------------
    def answer(self, path: str, query: dict, headers: dict):
        if path.startswith("/v4/carbon-intensity/"):
            return self._em(path.rsplit("/", 1)[-1], query, headers)
        if path.startswith("/v3/carbon-intensity/"):
            return 404, {"error": "this fake serves Electricity Maps API v4 only"}
        if path.startswith(("/intensity/", "/regional/")):
            return self._uk(path)
        if path == "/login" or path.startswith("/v3/"):
            return self._wt(path, query, headers)
        return 404, {"error": "no such endpoint"}

    def _em(self, what, q, headers):
        if headers.get("auth-token") != EM_TOKEN:
            return 401, {"error": "Invalid auth-token"}
        zone = q.get("zone") or (f"{q.get('dataCenterProvider')}:{q.get('dataCenterRegion')}"
                                 if q.get("dataCenterProvider") else None)
        if zone is None:
            return 400, {"error": "zone missing"}
        if self.em_zones is not None and zone not in self.em_zones:
            return self.em_refusal, {"error": f"Request unauthorized for zoneKey={zone} ({EM_TOKEN})"}
        step = self.em_step_s
        now_start = self.now - self.now % step
        ef = q.get("emissionFactorType", "lifecycle")
        granularity = {300: "5_minutes", 900: "15_minutes", 3600: "hourly"}[step]
        per_day = 86400 // step

        def entry(start, value):  # as recorded: a history row is the latest object less its granularity
            row = {"zone": zone, "carbonIntensity": value, "datetime": iso_ms(start), "updatedAt": iso_ms(self.now),
                   "createdAt": iso_ms(start), "emissionFactorType": ef, "flowTraced": True, "isEstimated": False,
                   "estimationMethod": None}
            if self.em_row_granularity:
                row["temporalGranularity"] = granularity
            return row

        def envelope(body):
            if not self.em_row_granularity:
                body["temporalGranularity"] = granularity
            return body

        if what == "latest":
            return 200, {**entry(now_start, self.em_value(now_start)), "temporalGranularity": granularity}
        if what == "history":  # the last 24 h, ending with the current period (as recorded)
            hist = [entry(now_start - k * step, self.em_value(now_start - k * step)) for k in range(per_day - 1, -1, -1)]
            hist[0]["carbonIntensity"] = None  # documented (v3): history values can be null
            return 200, envelope({"zone": zone, self.em_history_key: hist})
        if what == "past-range":
            if not self.em_past_allowed:
                return 401, {"error": "You do not have access to this specific endpoint for this specific zone."}
            start, end = parse_iso(q["start"]), parse_iso(q["end"])
            first = start - start % 3600
            return 200, {"zone": zone, "data": [entry(t, self.em_value(t)) for t in range(int(first), int(end), 3600)]}
        if what == "forecast":  # minimal rows, starting with the current period (as recorded)
            if not self.em_forecast_allowed:
                return 403, {"error": "Forecast is not included in your plan"}
            return 200, envelope({"zone": zone, self.em_forecast_key: [
                {"carbonIntensity": self.em_value(now_start + k * step), "datetime": iso_ms(now_start + k * step)}
                for k in range(per_day + 1)], "updatedAt": iso_ms(self.now)})
        return 404, {"error": "unknown"}

    def _uk(self, path):
        parts = path.strip("/").split("/")
        regional = parts[0] == "regional"
        if regional:  # /regional/intensity/{from}/{window}/{regionid|postcode}/{x}
            parts = parts[1:]
        frm, window = parse_min(parts[1]), parts[2]
        if window == "pt24h":
            starts = [frm - k * 1800 for k in range(48, 0, -1)]
        else:
            starts = [frm + k * 1800 for k in range(96)]
        periods = []
        for s in starts:
            closed = s + 1800 <= self.now
            if regional:
                iv = {"forecast": self.uk_forecast(s), "index": "moderate"}
            else:
                iv = {"forecast": self.uk_forecast(s), "actual": self.uk_actual(s) if closed else None,
                      "index": "moderate"}
            periods.append({"from": iso_min(s), "to": iso_min(s + 1800), "intensity": iv,
                            "generationmix": [{"fuel": "gas", "perc": 43.6}, {"fuel": "wind", "perc": 56.4}]})
        if not regional:
            return 200, {"data": periods}
        if parts[3] == "regionid":
            rid = int(parts[4])
            return 200, {"data": {"regionid": rid, "dnoregion": "UKPN", "shortname": UK_REGIONS.get(rid, "?"),
                                  "data": periods}}
        return 200, {"data": [{"regionid": 3, "dnoregion": "Electricity North West", "shortname": UK_REGIONS[3],
                               "postcode": parts[4], "data": periods}]}

    def _wt(self, path, q, headers):
        if path == "/login":
            expected = "Basic " + base64.b64encode(f"{WT_USER}:{WT_PASSWORD}".encode()).decode()
            if headers.get("Authorization") != expected:
                return 403, {"error": "invalid credentials"}
            return 200, {"token": WT_JWT}
        if headers.get("Authorization") != f"Bearer {WT_JWT}":
            return 401, {"error": "token expired"}
        region = q.get("region")
        meta = {"region": region, "signal_type": "co2_moer", "model": {"date": "2026-03-01"},
                "units": "lbs_co2_per_mwh", "warnings": [], "data_point_period_seconds": 300}
        step = self.now - self.now % 300
        if path == "/v3/signal-index":
            return 200, {"data": [{"point_time": iso_ms(step), "value": 37.0}], "meta": {**meta, "units": "percentile"}}
        if region not in self.wt_moer_regions:
            return 403, {"error": "subscription required"}
        if path == "/v3/historical":
            pts = [step - k * 300 for k in range(288, -1, -1)]
        elif path == "/v3/forecast":
            pts = [step + k * 300 for k in range(1, 289)]
            meta["generated_at"] = iso_ms(step)
        else:
            return 404, {"error": "unknown"}
        return 200, {"data": [{"point_time": iso_ms(t), "value": self.wt_moer_lb(t)} for t in pts], "meta": meta}

    def _handler(self):
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                u = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(u.query).items()}
                api.requests.append((u.path, query, dict(self.headers)))
                fault = next((f for f in api.faults if u.path.startswith(f.prefix)), None)
                if fault is not None:
                    time.sleep(fault.delay_s)
                if fault is not None and fault.respond is not None:
                    try:
                        fault.respond(self.wfile, api.stop)
                    except OSError:
                        pass  # the client gave up or cut us off: what a deadline is for
                    self.close_connection = True
                    return
                if fault is not None and (fault.status != 200 or fault.body is not None):
                    status, body = fault.status, fault.body if fault.body is not None else b'{"error": "fault"}'
                else:
                    status, payload = api.answer(u.path, query, dict(self.headers))
                    body = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    if fault is not None and fault.retry_after:
                        self.send_header("Retry-After", fault.retry_after)
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

        return Handler


def refused_url() -> str:
    """A URL on 127.0.0.1 where nothing listens."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}"


# -- hostile raw responses ---------------------------------------------------------------
def raw_response(body: bytes, status: str = "200 OK", headers: dict | None = None):
    """A responder writing exactly this status line, these headers and this body."""
    def respond(wfile, stop):
        head = f"HTTP/1.1 {status}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        wfile.write(head.encode("latin-1") + b"Connection: close\r\n\r\n" + body)
        wfile.flush()
    return respond


def redirect(status: int, location: str):
    return raw_response(b"", f"{status} Moved", {"Location": location, "Content-Length": "0"})


def streamed(chunk: bytes, total_bytes: int, headers: dict | None = None):
    """A body of total_bytes (chunk repeated), written as fast as the client reads it."""
    def respond(wfile, stop):
        head = "HTTP/1.1 200 OK\r\n" + "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        wfile.write(head.encode("latin-1") + b"Connection: close\r\n\r\n")
        sent = 0
        while sent < total_bytes and not stop.is_set():
            wfile.write(chunk)
            sent += len(chunk)
    return respond


def chunked(chunk: bytes, total_bytes: int):
    """Transfer-Encoding: chunked, no length, total_bytes in all."""
    def respond(wfile, stop):
        wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
        sent = 0
        while sent < total_bytes and not stop.is_set():
            wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent += len(chunk)
        wfile.write(b"0\r\n\r\n")
    return respond


def trickle(every_s: float, content_length: int = 100_000):
    """Headers at once, then one body byte every every_s seconds (never finishing in a test)."""
    def respond(wfile, stop):
        wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n[" % content_length)
        wfile.flush()
        while not stop.wait(every_s):
            wfile.write(b" ")
            wfile.flush()
    return respond


def drip_headers(every_s: float):
    """The status line, then one header byte every every_s seconds (slowloris, server side)."""
    def respond(wfile, stop):
        wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
        wfile.flush()
        while not stop.wait(every_s):
            wfile.write(b"a")
            wfile.flush()
    return respond


def gzip_bomb(decoded_bytes: int) -> bytes:
    """gzip of decoded_bytes zeros (about 1,000:1)."""
    return gzip.compress(b"\0" * decoded_bytes, compresslevel=9)


class Listener:
    """A TCP port on 127.0.0.1 that records each connection's first bytes; then it answers
    nothing, or (drip_s) writes `drip` and one more byte every drip_s seconds until stopped."""

    def __init__(self, drip_s: float | None = None, drip: bytes = b""):
        self.drip_s, self.drip = drip_s, drip
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(8)
        self._sock.settimeout(0.05)
        self.received: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def port(self) -> int:
        return self._sock.getsockname()[1]

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(2)
        self._sock.close()

    def _serve(self):
        while True:  # until stopped and nothing is waiting to be accepted
            try:
                conn, _ = self._sock.accept()
            except OSError:
                if self._stop.is_set():
                    return
                continue
            with conn:
                conn.settimeout(0.5)
                try:
                    self.received.append(conn.recv(65536))
                    if self.drip_s is not None:
                        conn.sendall(self.drip)
                        while not self._stop.wait(self.drip_s):
                            conn.sendall(b"\0")
                except OSError:
                    self.received.append(b"")


class Wall:
    """A wall clock stepped by hand, which the fake API's `now` follows (from `t`, or the API's now)."""

    def __init__(self, api, t=None):
        self.api, self.t = api, api.now if t is None else t
        api.now = self.t

    def __call__(self):
        return self.t

    def advance(self, s):
        self.t += s
        self.api.now = self.t
