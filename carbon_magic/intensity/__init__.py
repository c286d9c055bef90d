"""Grid carbon intensity: a service that answers I(t) for the record builder without blocking.

Placeholder until the providers land: the static world average (OWID, based on Ember and the
Energy Institute, 2025: 458.29 g CO2e/kWh, CC BY 4.0), provenance ``static``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

WORLD_G_PER_KWH = 458.29
WORLD_SOURCE = "Our World in Data (Ember; Energy Institute), World 2025, CC BY 4.0"


@dataclass(frozen=True)
class IntensityValue:
    value_g_per_kwh: float
    provenance: dict  # provider, zone, kind, fetched_at, source, signal


class StaticWorldService:
    """Always the world average; flagged so that the summary can hint to set a zone."""

    def __init__(self, zone: str | None = None):
        self.zone = zone
        self._value = IntensityValue(WORLD_G_PER_KWH, {
            "provider": "static", "zone": None, "kind": "static", "fetched_at": None,
            "source": WORLD_SOURCE, "signal": "average", "flag": "no zone set: world average",
        })

    def prefetch(self, wall_s: float) -> None:
        pass

    def at(self, wall_s: float) -> IntensityValue:
        return self._value

    def notices(self) -> list[str]:
        return []

    def set_zone(self, zone: str | None) -> None:
        self.zone = zone

    def close(self) -> None:
        pass


_ZONE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9:_\-]*$")


def normalize_zone(zone: str) -> str:
    zone = zone.strip()
    if not _ZONE_RE.match(zone):
        raise ValueError(f"unknown zone {zone!r}: use a country code (FR), an Electricity Maps zone "
                         "(US-MIDA-PJM), a UK region or a cloud region (aws:us-east-1)")
    return zone


def make_service(settings, ledger=None):
    return StaticWorldService(settings.zone)
