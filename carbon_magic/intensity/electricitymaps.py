"""Electricity Maps API v3: latest and the last 24 h (free tier), the forecast and past ranges where
the plan allows.

Every request names the zone (or, for a cloud region, the data-centre provider and region) and
sets ``shouldUseFallbackCallerLookup=false``: the API must never guess the location from the
caller's IP. Factors are lifecycle unless asked otherwise, and the basis the API reports is kept
in provenance. A 401/403 on the forecast or a past range only means "not in this plan": the
provider keeps serving latest + history and remembers not to ask again.
"""
from __future__ import annotations

import time
from typing import ClassVar

from . import validate
from .provider import Interval, IntensityValue, ProviderError, get_json, iso_seconds

PAST_RANGE_MAX_S = 10 * 86400  # the API serves hourly past ranges of at most 10 days per request
GRANULARITY_S = {"5_minutes": 300, "15_minutes": 900, "hourly": 3600, "daily": 86400}
SOURCE = "Electricity Maps API v3 (electricitymaps.com)"


class ElectricityMaps:
    name: ClassVar[str] = "electricitymaps"
    display = "Electricity Maps"
    source = SOURCE
    signal = "average"
    refresh_s = 900.0  # hourly data; the latest value is revised within the hour

    def __init__(self, base_url: str, session, token: str, timeout_s: float = 5.0,
                 emission_factor: str = "lifecycle", wall=time.time):
        self.base_url = base_url.rstrip("/")
        self._session = session
        self._token = token
        self.timeout_s = timeout_s
        self.emission_factor = emission_factor
        self._wall = wall
        self.forecast_note: str | None = None  # why no forecast, once known
        self.past_note: str | None = None  # why no past ranges, once known
        self.cache_key = f"{self.name}/{emission_factor}"

    def __repr__(self) -> str:  # never the token
        return f"ElectricityMaps({self.base_url!r}, emission_factor={self.emission_factor!r})"

    def secrets(self) -> list[str]:
        return [self._token] if self._token else []

    missing_credentials: ClassVar[str] = "no_token"

    @staticmethod
    def supports(zone) -> bool:
        return bool(zone.em_zone or zone.cloud)

    @staticmethod
    def has_credentials(settings) -> bool:
        return bool(settings.electricitymaps_token)

    @staticmethod
    def owns(zone) -> bool:
        return False  # its zones are everyone's (countries, cloud regions)

    # -- requests ------------------------------------------------------------------------
    def _params(self, zone) -> dict:
        p = {"emissionFactorType": self.emission_factor, "shouldUseFallbackCallerLookup": "false"}
        if zone.cloud:
            p["dataCenterProvider"], p["dataCenterRegion"] = zone.cloud
        elif zone.em_zone:
            p["zone"] = zone.em_zone
        else:
            raise ProviderError("unsupported", f"Electricity Maps has no zone for {zone.key}")
        return p

    def _get(self, path: str, zone, **extra):
        body = get_json(self._session, f"{self.base_url}/v3/carbon-intensity/{path}", timeout_s=self.timeout_s,
                        params={**self._params(zone), **extra}, headers={"auth-token": self._token})
        if not isinstance(body, dict):
            raise ProviderError("malformed", f"{path}: expected an object")
        return body

    def refresh(self, zone) -> list[Interval]:
        """Latest (must work), then history and forecast (each optional, degrading on 401/403)."""
        fetched = iso_seconds(self._wall())
        latest = self._interval(self._get("latest", zone), zone, "live", fetched)
        out = []  # later entries win for the same hour: history, then latest, then forecast
        try:
            out += self._series(self._get("history", zone), "history", zone, "historical", fetched)
        except ProviderError as exc:
            if exc.cause not in ("http_401", "http_403", "null"):
                raise
        out.append(latest)
        if self.forecast_note is None:
            try:
                out += self._series(self._get("forecast", zone), "forecast", zone, "forecast", fetched)
            except ProviderError as exc:
                if exc.cause not in ("http_401", "http_403", "http_404"):
                    raise
                self.forecast_note = f"not in this Electricity Maps plan (HTTP {exc.status})"
        return out

    def past_range(self, zone, start_s: float, end_s: float) -> list[Interval]:
        """Hourly values over [start_s, end_s] (older than the 24 h history), in ≤ 10-day requests.

        Returns [] and remembers why when the plan has no past ranges (401/403/404).
        """
        if self.past_note is not None:
            return []
        fetched = iso_seconds(self._wall())
        out: list[Interval] = []
        t = start_s - start_s % 3600
        while t < end_s:
            t_end = min(end_s, t + PAST_RANGE_MAX_S)
            try:
                body = self._get("past-range", zone, start=iso_seconds(t), end=iso_seconds(t_end))
            except ProviderError as exc:
                if exc.cause not in ("http_401", "http_403", "http_404"):
                    raise
                self.past_note = f"not in this Electricity Maps plan (HTTP {exc.status})"
                return out
            out += self._series(body, "data", zone, "historical", fetched)
            t = t_end
        return out

    # -- parsing -------------------------------------------------------------------------
    def _series(self, body: dict, key: str, zone, kind: str, fetched: str) -> list[Interval]:
        out = []
        for item in validate.rows(body.get(key), key):
            if isinstance(item, dict) and item.get("carbonIntensity") is None:
                continue  # documented: history entries may be null
            out.append(self._interval(item, zone, kind, fetched))
        return out

    def _interval(self, item, zone, kind: str, fetched: str) -> Interval:
        if not isinstance(item, dict):
            raise ProviderError("malformed", "expected an object per value")
        value = validate.intensity(item.get("carbonIntensity"), "carbonIntensity")
        start = validate.time_s(item.get("datetime"), "datetime")
        granularity = item.get("temporalGranularity")
        step = GRANULARITY_S.get(granularity, 3600) if isinstance(granularity, str) else 3600
        prov = validate.provenance(self, zone.key, kind, fetched, item.get("emissionFactorType") or self.emission_factor,
                                   estimated=item.get("isEstimated") is True)
        return Interval(start, start + step, IntensityValue(value, prov))
