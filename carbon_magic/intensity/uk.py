"""UK Carbon Intensity API (NESO, no key, CC BY 4.0): half-hourly, national and regional.

National: ``/intensity/{from}/pt24h`` (the last 24 h, ``actual`` where the half-hour has closed)
and ``/intensity/{from}/fw48h`` (the 48 h forecast). ``actual`` is null for the open and future
half-hours, so those use ``forecast`` and are labelled ``forecast``. Regional
(``/regional/intensity/{from}/{pt24h|fw48h}/regionid/{1-17}`` or ``/postcode/{RG10}``) publishes
forecasts only, so every regional value is labelled ``forecast``. The API's figures are direct
(operational) emissions, unlike Electricity Maps' lifecycle default; provenance says which.
"""
from __future__ import annotations

import time
from typing import ClassVar

from . import validate
from .provider import Interval, IntensityValue, ProviderError, get_json, iso_minute, iso_seconds

SOURCE = "NESO Carbon Intensity API (carbonintensity.org.uk), CC BY 4.0"
HALF_HOUR_S = 1800


class UKCarbonIntensity:
    name: ClassVar[str] = "uk"
    display = "UK Carbon Intensity API"
    refresh_s = 1800.0
    cache_key = "uk"
    source = SOURCE
    signal = "average"
    emission_factor = "direct"
    forecast_note = None  # the forecast is free

    def __init__(self, base_url: str, session, timeout_s: float = 5.0, wall=time.time):
        self.base_url = base_url.rstrip("/")
        self._session = session
        self.timeout_s = timeout_s
        self._wall = wall

    def __repr__(self) -> str:
        return f"UKCarbonIntensity({self.base_url!r})"

    def secrets(self) -> list[str]:
        return []

    missing_credentials: ClassVar[str] = ""  # needs none

    @staticmethod
    def supports(zone) -> bool:
        return zone.in_gb

    @staticmethod
    def has_credentials(settings) -> bool:
        return True

    @staticmethod
    def owns(zone) -> bool:
        return zone.scope == "uk"  # a UK region: Electricity Maps has none

    def _path(self, zone, window: str, start_s: float) -> str:
        frm = iso_minute(start_s)
        if zone.uk_region:
            return f"/regional/intensity/{frm}/{window}/regionid/{zone.uk_region}"
        if zone.uk_postcode:
            return f"/regional/intensity/{frm}/{window}/postcode/{zone.uk_postcode}"
        if zone.key == "GB":
            return f"/intensity/{frm}/{window}"
        raise ProviderError("unsupported", f"the UK API covers Great Britain only, not {zone.key}")

    def refresh(self, zone) -> list[Interval]:
        now = self._wall()
        fetched = iso_seconds(now)
        half = now - now % HALF_HOUR_S  # the open half-hour's start, so fw48h includes it
        out: list[Interval] = []
        for window in ("pt24h", "fw48h"):
            body = get_json(self._session, self.base_url + self._path(zone, window, half),
                            timeout_s=self.timeout_s)
            out += self._parse(body, zone, fetched, now)
        if not out:
            raise ProviderError("null", f"no values for {zone.key}")
        return out

    def _parse(self, body, zone, fetched: str, now: float) -> list[Interval]:
        if not isinstance(body, dict) or "data" not in body:
            raise ProviderError("malformed", "expected {'data': ...}")
        data = body["data"]
        regional = zone.key != "GB"
        if regional:  # {"data": {"regionid":…, "data":[…]}} or {"data": [{…, "data":[…]}]}
            if isinstance(data, list):
                data = data[0] if data else {}
            if not isinstance(data, dict):
                raise ProviderError("malformed", "regional: expected an object")
            data = data.get("data")
        out = []
        for period in validate.rows(data, "half-hours"):
            if not isinstance(period, dict) or not isinstance(period.get("intensity"), dict):
                raise ProviderError("malformed", "expected {'from', 'to', 'intensity'} per half-hour")
            iv = period["intensity"]
            start, end = validate.time_s(period.get("from"), "from"), validate.time_s(period.get("to"), "to")
            actual = None if regional else iv.get("actual")
            if actual is not None:
                value = validate.intensity(actual, "actual")
                kind = "historical" if end <= now else "live"
            elif iv.get("forecast") is not None:
                value, kind = validate.intensity(iv.get("forecast"), "forecast"), "forecast"
            else:
                continue  # a half-hour with neither: skip it, keep the rest
            prov = validate.provenance(self, zone.key, kind, fetched)
            out.append(Interval(start, end, IntensityValue(value, prov)))
        return out
