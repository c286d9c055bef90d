"""Electricity Maps API v4: latest and the recent history (every plan), the forecast and past ranges
where the plan allows.

Every request names the zone (or, for a cloud region, the data-centre provider and region) and sets
``disableCallerLookup=true``: the API must never guess the location from the caller's IP (v4's name
for v3's ``shouldUseFallbackCallerLookup=false``, which is no longer sent). Factors are lifecycle
unless asked otherwise, and the basis the API reports is kept in provenance.

Plans. A 401/403/404 on the forecast or a past range only means "not in this plan": the provider
keeps serving latest + history and remembers not to ask again. A 403/404 on *latest* means the plan
does not cover the zone (a free-tier key covers one zone): the service says so in one line naming
the zone and stops asking for that zone (``service.py``). The base URL is the API's host; a setting
that still ends in the version (``…/v3`` from the legacy API, or ``…/v4``) is cut back to the host
(``api_root``), and ``url_note`` says that a ``/v3`` one was moved to v4.

What the shapes are based on (stored public code; no official reference was available offline):

- paths ``/v4/carbon-intensity/{latest,history,forecast,past-range}``, the ``auth-token`` header and
  ``disableCallerLookup=true``: maurobdata/electricity-grid-lab ``docs/electricity-maps-api.md``
  (checked against the live API with a free-tier key, Aug 2026); robintra/perf-sentinel
  ``crates/sentinel-core/src/score/electricity_maps/config.rs`` (v4 current, v3 "legacy mode").
- latest: one object ``{zone, carbonIntensity, datetime, updatedAt, createdAt, emissionFactorType,
  flowTraced, isEstimated, estimationMethod, temporalGranularity}``: maurobdata/electricity-grid-lab
  ``fixtures/carbon-intensity__latest.json`` (a recorded v4 answer).
- history: ``{zone, history: [rows like latest, without temporalGranularity], temporalGranularity}``,
  24 hourly rows ending with the current hour: ``fixtures/carbon-intensity__history.json`` (same
  repository). Its ``docs/electricity-maps-api.md`` says history answers use ``data`` instead, so
  both keys are read (``history`` first).
- forecast: ``{zone, forecast: [{carbonIntensity, datetime}], updatedAt, temporalGranularity}``,
  starting with the *current* hour: ``fixtures/carbon-intensity__forecast.json``; ``data`` is read
  too (the same document says "most forecast" answers use it). The current hour's forecast row must
  not replace the latest value, so ``refresh`` lists the forecast first (later rows win).
- past-range: ``{zone, data: [rows]}``: how several unrelated public v4 clients and their tests
  read ``/v4/carbon-intensity/past-range`` (their repository names were not available to us), and
  the same document's "most endpoints" envelope; ``history`` is read too. Not verified live by any
  source we found (that document's free-tier key got 401 there); windows are capped at 10 days
  hourly (the same document: documented, not exercisable on its plan).
- ``temporalGranularity`` is on the answer in v4 and on each row in v3: a row's own wins, else the
  answer's, else hourly. No ``temporalGranularity`` or ``horizonHours`` is sent: the defaults
  (hourly; the forecast's default horizon) are what the recorded answers show.
- 401 vs 403/404: the API answers 401 for a bad token and, according to the same document, also
  for an endpoint a valid token's plan lacks; error bodies are never read here (transport.py), so
  the service tells them apart by whether the token already worked this session.
"""
from __future__ import annotations

import time
from typing import ClassVar

from . import validate
from .provider import Interval, IntensityValue, ProviderError, get_json, iso_seconds

API = "v4"
PAST_RANGE_MAX_S = 10 * 86400  # the API serves hourly past ranges of at most 10 days per request
GRANULARITY_S = {"5_minutes": 300, "15_minutes": 900, "hourly": 3600, "daily": 86400}
SOURCE = "Electricity Maps API v4 (electricitymaps.com)"
PLAN_CAUSES = ("http_401", "http_403", "http_404")  # on the forecast or a past range: not in this plan
LIST_KEYS = {"history": ("history", "data"), "forecast": ("forecast", "data"), "past-range": ("data", "history")}


def api_root(base_url: str) -> tuple[str, str | None]:
    """(the base URL without a trailing API version, the version that was cut off: 'v3', 'v4' or None)."""
    root = base_url.rstrip("/")
    for version in ("v3", "v4"):
        if root.lower().endswith("/" + version):
            return root[: -len(version) - 1], version
    return root, None


class ElectricityMaps:
    name: ClassVar[str] = "electricitymaps"
    display = "Electricity Maps"
    source = SOURCE
    signal = "average"
    refresh_s = 900.0  # hourly data; the latest value is revised within the hour

    def __init__(self, base_url: str, session, token: str, timeout_s: float = 5.0,
                 emission_factor: str = "lifecycle", wall=time.time):
        self.base_url, cut = api_root(base_url)
        self.url_note: str | None = "v3" if cut == "v3" else None  # a legacy URL setting, moved to v4
        self._session = session
        self._token = token
        self.timeout_s = timeout_s
        self.emission_factor = emission_factor
        self._wall = wall
        self.forecast_note: str | None = None  # why no forecast, once known
        self.past_note: str | None = None  # why no past ranges, once known
        self.cache_key = f"{self.name}/{emission_factor}"  # the same values as v3's: the cache carries over

    def __repr__(self) -> str:  # never the token
        return f"ElectricityMaps({self.base_url!r}, emission_factor={self.emission_factor!r})"

    def secrets(self) -> list[str]:
        return [self._token] if self._token else []

    missing_credentials: ClassVar[str] = "no_token"
    # Refusals of `latest` that mean the key's plan does not cover the zone (messages.plan_refusal).
    plan_causes: ClassVar[tuple[str, ...]] = PLAN_CAUSES

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
        p = {"emissionFactorType": self.emission_factor, "disableCallerLookup": "true"}
        if zone.cloud:
            p["dataCenterProvider"], p["dataCenterRegion"] = zone.cloud
        elif zone.em_zone:
            p["zone"] = zone.em_zone
        else:
            raise ProviderError("unsupported", f"Electricity Maps has no zone for {zone.key}")
        return p

    def _get(self, path: str, zone, **extra):
        body = get_json(self._session, f"{self.base_url}/{API}/carbon-intensity/{path}", timeout_s=self.timeout_s,
                        params={**self._params(zone), **extra}, headers={"auth-token": self._token})
        if not isinstance(body, dict):
            raise ProviderError("malformed", f"{path}: expected an object")
        return body

    def refresh(self, zone) -> list[Interval]:
        """Latest (must work), then history and forecast (each optional, degrading where the plan lacks them)."""
        fetched = iso_seconds(self._wall())
        latest = self._interval(self._get("latest", zone), zone, "live", fetched)
        history: list[Interval] = []
        try:
            history = self._series(self._get("history", zone), "history", zone, "historical", fetched)
        except ProviderError as exc:
            if exc.cause not in (*PLAN_CAUSES, "null"):
                raise
        forecast: list[Interval] = []
        if self.forecast_note is None:
            try:
                forecast = self._series(self._get("forecast", zone), "forecast", zone, "forecast", fetched)
            except ProviderError as exc:
                if exc.cause not in PLAN_CAUSES:
                    raise
                self.forecast_note = f"not in your Electricity Maps plan (HTTP {exc.status})"
        # Later entries win for the same period: v4's forecast starts with the current hour and its
        # history ends with it, and the latest value is the one to keep for it.
        return forecast + history + [latest]

    def past_range(self, zone, start_s: float, end_s: float) -> list[Interval]:
        """Hourly values over [start_s, end_s] (older than the recent history), in ≤ 10-day requests.

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
                if exc.cause not in PLAN_CAUSES:
                    raise
                self.past_note = f"not in your Electricity Maps plan (HTTP {exc.status})"
                return out
            out += self._series(body, "past-range", zone, "historical", fetched)
            t = t_end
        return out

    # -- parsing -------------------------------------------------------------------------
    def _series(self, body: dict, what: str, zone, kind: str, fetched: str) -> list[Interval]:
        key = next((k for k in LIST_KEYS[what] if isinstance(body.get(k), list)), LIST_KEYS[what][0])
        step_s = _step_s(body.get("temporalGranularity"), 3600)
        out = []
        for item in validate.rows(body.get(key), f"{what}: {key}"):
            if isinstance(item, dict) and item.get("carbonIntensity") is None:
                continue  # documented: history entries may be null
            out.append(self._interval(item, zone, kind, fetched, step_s))
        return out

    def _interval(self, item, zone, kind: str, fetched: str, default_step_s: float = 3600) -> Interval:
        if not isinstance(item, dict):
            raise ProviderError("malformed", "expected an object per value")
        value = validate.intensity(item.get("carbonIntensity"), "carbonIntensity")
        start = validate.time_s(item.get("datetime"), "datetime")
        step = _step_s(item.get("temporalGranularity"), default_step_s)
        prov = validate.provenance(self, zone.key, kind, fetched, item.get("emissionFactorType") or self.emission_factor,
                                   estimated=item.get("isEstimated") is True)
        return Interval(start, start + step, IntensityValue(value, prov))


def _step_s(granularity, default_s: float) -> float:
    return GRANULARITY_S.get(granularity, default_s) if isinstance(granularity, str) else default_s
