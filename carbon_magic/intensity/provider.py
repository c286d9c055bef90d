"""The provider contract: values with provenance, one error type, one HTTP helper.

A provider takes its base URL and a ``requests.Session`` (injected: tests point the URL at a
server on 127.0.0.1), puts a timeout on every call, and raises only ``ProviderError``::

    ProviderError(cause)       every failure of a provider call; ``cause`` is one of
      ├─ timeout               no answer within the timeout
      ├─ refused / connection  nothing listening / no route, DNS failure, TLS error (offline)
      ├─ http_401, http_403    credentials rejected, or not in the plan (Electricity Maps: a zone
      │                        outside the plan is 403/404, and 401 once the token worked elsewhere)
      ├─ http_404, http_4xx    unknown zone or region (or not in the plan), other client error
      ├─ http_429              rate-limited (``retry_after_s`` when the server says)
      ├─ http_5xx              server error
      ├─ redirect              a 3xx: never followed, so credentials go to the configured origin only
      ├─ too_large             an answer over the size cap (after decoding)
      ├─ malformed             not JSON, not the documented shape, or implausible values
      ├─ null                  the documented shape, but no value for this zone and time
      ├─ not_allowed           the account can see only a relative index (WattTime free)
      ├─ unsupported           this provider cannot serve this zone
      └─ cancelled             the session is closing (unload): the request was cut

The service turns any of them into a fallback (recent cached value, then the static table) and
one notice per cause per session. The HTTP limits (deadline, no redirects, size) live in
``transport.py``; what an answer may contain is checked in ``validate.py``. An error's ``detail``
is our own words, never text a provider sent.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import ClassVar, NamedTuple, Protocol, runtime_checkable


@dataclass(frozen=True)
class IntensityValue:
    value_g_per_kwh: float
    provenance: dict  # provider, zone, kind, fetched_at, source, signal, emission_factor (+ fallback_reason)


class Interval(NamedTuple):
    """One value of a series, in force from start_s to end_s (unix seconds)."""

    start_s: float
    end_s: float
    value: IntensityValue


class ProviderError(Exception):
    def __init__(self, cause: str, detail: str = "", retry_after_s: float | None = None,
                 status: int | None = None, index: float | None = None):
        super().__init__(f"{cause}: {detail}" if detail else cause)
        self.cause = cause
        self.detail = detail
        self.retry_after_s = retry_after_s
        self.status = status
        self.index = index  # WattTime signal index (0-100) when only that is available


@runtime_checkable
class IntensitySource(Protocol):
    """What a measuring session needs of grid intensity. `IntensityService` implements it; a test
    injects its own (tests/fakes.py `StepIntensity`) instead of a network."""

    @property
    def zone(self) -> str | None: ...

    def at(self, wall_s: float) -> IntensityValue:
        """The value in force at `wall_s` (unix seconds), with its provenance; never blocks."""

    def prefetch(self, wall_s: float) -> None:
        """Ask for values around `wall_s` in the background."""

    def notices(self) -> list[str]:
        """One-time messages for the user (fallbacks, rejected credentials)."""

    def close(self) -> None:
        """Stop fetching (unload)."""


class Provider(Protocol):
    """What the service needs of a live provider (Electricity Maps, the UK API, WattTime).

    The class-level part (`supports`, `has_credentials`, `owns`) is what `choose_provider` asks
    before any provider is made, so that choosing needs no credentials and no network.
    """

    name: ClassVar[str]
    cache_key: str  # the ledger cache's key (a provider may keep several signals apart)
    missing_credentials: ClassVar[str]  # the cause when the settings lack them: no_token, no_credentials

    @staticmethod
    def supports(zone) -> bool:
        """Whether this provider has data for the zone."""

    @staticmethod
    def has_credentials(settings) -> bool:
        """Whether the settings hold what this provider needs to be asked at all."""

    @staticmethod
    def owns(zone) -> bool:
        """Whether the zone is written in this provider's own terms (`watttime:…`, a UK region):
        then in `auto` it is the only provider for it."""

    def secrets(self) -> list[str]:
        """Strings that must never appear in anything shown or stored (tokens, passwords)."""

    def refresh(self, zone) -> list[Interval]:
        """The current values (and forecast where there is one); raises only ProviderError."""


def http_cause(status: int) -> str:
    if status in (401, 403, 404, 429):
        return f"http_{status}"
    return "http_5xx" if status >= 500 else "http_4xx"


def get_json(session, url: str, *, timeout_s: float, params=None, headers=None, auth=None):
    """GET url and return its JSON body within the transport's limits; every failure is a ProviderError.

    session: a ``transport.Http`` (the service's), or a bare ``requests.Session`` (wrapped here).
    """
    from .transport import Http  # noqa: PLC0415 - transport imports this module

    http = session if isinstance(session, Http) else Http(session)
    return http.get_json(url, timeout_s=timeout_s, params=params, headers=headers, auth=auth)


def iso_minute(unix_s: float) -> str:
    """The `YYYY-MM-DDThh:mmZ` form the UK API takes in paths."""
    return datetime.fromtimestamp(unix_s, tz=timezone.utc).strftime("%Y-%m-%dT%H:%MZ")


def iso_seconds(unix_s: float) -> str:
    return datetime.fromtimestamp(unix_s, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
