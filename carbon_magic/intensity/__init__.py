"""Grid carbon intensity: I(t) for the record builder, without ever blocking a cell.

    service = make_service(settings, ledger)   # what CarbonSession uses
    service.prefetch(t)       # a cell starts: fetch in the background if the cache is stale
    service.at(t)             # IntensityValue(g/kWh, provenance), from caches only
    service.for_zone("FR")    # the same interface for another zone (%%carbon --zone FR)

Providers (Electricity Maps, UK Carbon Intensity API, WattTime) live behind one contract
(``provider.py``); the static table (``data/``, sources in ``data/ATTRIBUTION.md``) answers when
they cannot. Importing this package reads no file and opens no connection.
"""
from __future__ import annotations

from .provider import IntensityValue, Interval, ProviderError
from .zones import Zone, normalize_zone, parse_zone

__all__ = ["IntensityValue", "Interval", "ProviderError", "Zone", "normalize_zone", "parse_zone", "make_service"]


def make_service(settings, ledger=None, **kwargs):
    """The intensity service for a session: the settings' zone and provider, the ledger's cache.

    kwargs (tests, benchmarks): wall (clock), timeout_s, http (a requests.Session).
    """
    from .service import IntensityService  # noqa: PLC0415 - the service (requests, a thread) on first use

    return IntensityService(settings, ledger, **kwargs)
