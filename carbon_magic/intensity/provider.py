"""The provider contract: values with provenance, one error type, one HTTP helper.

A provider takes its base URL and a ``requests.Session`` (injected: tests point the URL at a
server on 127.0.0.1), puts a timeout on every call, and raises only ``ProviderError``::

    ProviderError(cause)       every failure of a provider call; ``cause`` is one of
      ├─ timeout               no answer within the timeout
      ├─ refused / connection  nothing listening / no route, DNS failure, TLS error (offline)
      ├─ http_401, http_403    credentials rejected, or not in the plan
      ├─ http_404, http_4xx    unknown zone or region, other client error
      ├─ http_429              rate-limited (``retry_after_s`` when the server says)
      ├─ http_5xx              server error
      ├─ malformed             not JSON, or not the documented shape
      ├─ null                  the documented shape, but no value for this zone and time
      ├─ not_allowed           the account can see only a relative index (WattTime free)
      └─ unsupported           this provider cannot serve this zone

The service turns any of them into a fallback (recent cached value, then the static table) and
one notice per cause per session. ``requests`` is imported on the first call, never at import.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import NamedTuple


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


def http_cause(status: int) -> str:
    if status in (401, 403, 404, 429):
        return f"http_{status}"
    return "http_5xx" if status >= 500 else "http_4xx"


def get_json(session, url: str, *, timeout_s: float, params=None, headers=None, auth=None):
    """GET url and return its JSON body; every failure becomes a ProviderError."""
    import requests  # noqa: PLC0415 - lazy: importing the package must stay cheap

    try:
        r = session.get(url, params=params, headers=headers, auth=auth, timeout=timeout_s)
    except requests.exceptions.Timeout:
        raise ProviderError("timeout", f"no answer within {timeout_s:g} s") from None
    except requests.exceptions.ConnectionError as exc:
        if "refused" in str(exc).lower():
            raise ProviderError("refused", "connection refused") from None
        raise ProviderError("connection", "could not connect") from None
    except requests.exceptions.RequestException as exc:
        raise ProviderError("connection", type(exc).__name__) from None
    if r.status_code != 200:
        retry = r.headers.get("Retry-After")
        try:
            retry_s = float(retry) if retry else None
        except ValueError:
            retry_s = None
        raise ProviderError(http_cause(r.status_code), f"HTTP {r.status_code}", retry_after_s=retry_s,
                            status=r.status_code)
    try:
        return r.json()
    except ValueError:
        raise ProviderError("malformed", "the response is not JSON") from None


def parse_time(text) -> float:
    """Unix seconds from the providers' ISO 8601 forms (…Z, …+00:00, with or without seconds)."""
    if not isinstance(text, str) or not text:
        raise ProviderError("malformed", f"expected a time, got {text!r}")
    s = text.strip()
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        raise ProviderError("malformed", f"not an ISO time: {text!r}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def iso_minute(unix_s: float) -> str:
    """The `YYYY-MM-DDThh:mmZ` form the UK API takes in paths."""
    return datetime.fromtimestamp(unix_s, tz=timezone.utc).strftime("%Y-%m-%dT%H:%MZ")


def iso_seconds(unix_s: float) -> str:
    return datetime.fromtimestamp(unix_s, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def number(value, what: str) -> float:
    """A finite non-negative number from JSON, or the right ProviderError (null vs malformed)."""
    if value is None:
        raise ProviderError("null", f"{what} is null")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ProviderError("malformed", f"{what} is not a number: {value!r}")
    v = float(value)
    if not (0.0 <= v < 1e5):  # also rejects NaN and infinities
        raise ProviderError("malformed", f"{what} is out of range: {value!r}")
    return v
