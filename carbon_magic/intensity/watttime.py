"""WattTime v3: marginal emissions (MOER), converted from lb/MWh and always labelled marginal.

``GET /login`` with HTTP Basic auth gives a token valid 30 minutes; it is renewed after 25. The
MOER series (``/v3/historical`` for the last 24 h, ``/v3/forecast``) is for subscribers (and the
``CAISO_NORTH`` preview); a free account sees only ``/v3/signal-index``, a 0-100 percentile that
cannot price energy, so that case raises ``not_allowed`` with the index attached and the service
falls back to an average figure, saying that it is not comparable with marginal values.
"""
from __future__ import annotations

import time
from typing import ClassVar

from . import validate
from .provider import Interval, IntensityValue, ProviderError, get_json, iso_seconds

G_PER_KWH_PER_LB_PER_MWH = 0.453592
TOKEN_RENEW_S = 25 * 60  # tokens live 30 min
SOURCE = "WattTime API v3 (watttime.org), co2_moer"
SIGNAL = "co2_moer"
MAX_TOKEN_CHARS = 8192


class WattTime:
    name: ClassVar[str] = "watttime"
    display = "WattTime"
    refresh_s = 300.0  # 5-minute data
    cache_key = "watttime/co2_moer"
    source = SOURCE
    signal = "marginal"
    emission_factor = "direct"

    def __init__(self, base_url: str, session, username: str, password: str, timeout_s: float = 5.0,
                 wall=time.time):
        self.base_url = base_url.rstrip("/")
        self._session = session
        self._auth = (username, password)
        self.timeout_s = timeout_s
        self._wall = wall
        self._token: str | None = None
        self._token_at = float("-inf")
        self.forecast_note: str | None = None

    def __repr__(self) -> str:  # never the credentials or the token
        return f"WattTime({self.base_url!r})"

    def secrets(self) -> list[str]:
        return [s for s in (*self._auth, self._token) if s]

    missing_credentials: ClassVar[str] = "no_credentials"

    @staticmethod
    def supports(zone) -> bool:
        return bool(zone.watttime_region)

    @staticmethod
    def has_credentials(settings) -> bool:
        return bool(settings.watttime_username and settings.watttime_password)

    @staticmethod
    def owns(zone) -> bool:
        return zone.scope == "watttime"

    # -- auth ----------------------------------------------------------------------------
    def _login(self) -> str:
        try:
            body = get_json(self._session, f"{self.base_url}/login", timeout_s=self.timeout_s, auth=self._auth)
        except ProviderError as exc:
            if exc.cause in ("http_401", "http_403"):  # rejected credentials, whatever the status
                raise ProviderError("http_401", f"login refused (HTTP {exc.status})", status=exc.status) from None
            raise
        token = body.get("token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN_CHARS \
                or not all(33 <= ord(c) < 127 for c in token):  # it goes into a header: printable ASCII only
            raise ProviderError("malformed", "login: no usable token in the answer")
        self._token, self._token_at = token, self._wall()
        return token

    def _get(self, path: str, params: dict):
        if self._token is None or self._wall() - self._token_at > TOKEN_RENEW_S:
            self._login()
        for attempt in (0, 1):
            try:
                return get_json(self._session, f"{self.base_url}{path}", timeout_s=self.timeout_s, params=params,
                                headers={"Authorization": f"Bearer {self._token}"})
            except ProviderError as exc:
                if exc.cause != "http_401" or attempt:
                    raise
                self._login()  # the token expired early: one fresh login, then give up

    # -- data ----------------------------------------------------------------------------
    def refresh(self, zone) -> list[Interval]:
        if not zone.watttime_region:
            raise ProviderError("unsupported", f"{zone.key} is not a WattTime region (use watttime:REGION)")
        region = zone.watttime_region
        now = self._wall()
        fetched = iso_seconds(now)
        out: list[Interval] = []
        denied = 0
        try:
            body = self._get("/v3/historical", {"region": region, "signal_type": SIGNAL,
                                                "start": iso_seconds(now - 86400), "end": iso_seconds(now)})
            out += self._parse(body, zone, fetched, now, forecast=False)
        except ProviderError as exc:
            if exc.cause != "http_403":
                raise
            denied += 1
        if self.forecast_note is None:
            try:
                body = self._get("/v3/forecast", {"region": region, "signal_type": SIGNAL, "horizon_hours": 24})
                out += self._parse(body, zone, fetched, now, forecast=True)
            except ProviderError as exc:
                if exc.cause != "http_403":
                    raise
                denied += 1
                self.forecast_note = "not in this WattTime account (HTTP 403)"
        if not out and denied:
            raise ProviderError("not_allowed", f"no MOER access for {region}", index=self.signal_index(region))
        return out

    def signal_index(self, region: str) -> float | None:
        """The free accounts' relative index (0-100, higher is dirtier), or None if unavailable."""
        try:
            body = self._get("/v3/signal-index", {"region": region, "signal_type": SIGNAL})
            return validate.number(body["data"][0]["value"], "signal index", 0.0, 100.0)
        except (ProviderError, KeyError, IndexError, TypeError):
            return None

    def _parse(self, body, zone, fetched: str, now: float, forecast: bool) -> list[Interval]:
        if not isinstance(body, dict):
            raise ProviderError("malformed", "expected {'data': [...], 'meta': {...}}")
        meta = body.get("meta")
        meta = meta if isinstance(meta, dict) else {}
        if meta.get("units", "lbs_co2_per_mwh") != "lbs_co2_per_mwh":
            raise ProviderError("malformed", "unexpected units")
        step = meta.get("data_point_period_seconds")
        step = 300.0 if step is None else validate.number(step, "data_point_period_seconds",
                                                          validate.MIN_STEP_S, validate.MAX_STEP_S)
        out = []
        for point in validate.rows(body.get("data"), "data"):
            if not isinstance(point, dict):
                raise ProviderError("malformed", "expected {'point_time', 'value'} per point")
            if point.get("value") is None:
                continue
            start = validate.time_s(point.get("point_time"), "point_time")
            lb = validate.number(point.get("value"), "value", 0.0, validate.MAX_G_PER_KWH / G_PER_KWH_PER_LB_PER_MWH)
            value = lb * G_PER_KWH_PER_LB_PER_MWH
            if forecast:
                kind = "forecast"
            else:
                kind = "live" if start <= now < start + step else "historical"
            prov = validate.provenance(self, zone.key, kind, fetched)
            out.append(Interval(start, start + step, IntensityValue(value, prov)))
        return out
