"""Where a grid zone is, in CodeCarbon's location columns.

Zones are a country (`FR`), an Electricity Maps zone (`US-MIDA-PJM`, country first), or a
cloud region (`aws:us-east-1`). Country names and ISO 3166 alpha-3 codes come from
`data/countries.csv` (iso2, iso3, name; the rows of the project's offline intensity table,
Our World in Data / pycountry). Nothing is geolocated.
"""
from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path

CLOUD_PROVIDERS = ("aws", "azure", "gcp")


@lru_cache(maxsize=1)
def _countries() -> dict[str, tuple[str, str]]:
    """iso2 and iso3 (upper case) -> (iso3, name)."""
    out: dict[str, tuple[str, str]] = {}
    path = Path(__file__).with_name("data") / "countries.csv"
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):  # Namibia's iso2 is the string "NA": read as text
            out[row["iso2"].upper()] = (row["iso3"], row["country"])
            out[row["iso3"].upper()] = (row["iso3"], row["country"])
    return out


def zone_location(zone: str | None) -> dict:
    """CodeCarbon's location fields for a zone; unknown parts are empty strings."""
    loc = {"country_name": "", "country_iso_code": "", "region": "", "cloud_provider": "",
           "cloud_region": "", "on_cloud": "N"}
    if not zone:
        return loc
    zone = str(zone).strip()
    provider, sep, region = zone.partition(":")
    if sep and provider.lower() in CLOUD_PROVIDERS:
        loc.update(cloud_provider=provider.lower(), cloud_region=region, on_cloud="Y")
        return loc
    head = zone.split("-", 1)[0].upper()
    found = _countries().get(head)
    if found:
        loc["country_iso_code"], loc["country_name"] = found
        if "-" in zone:
            loc["region"] = zone  # the sub-national grid zone, as the user named it
    else:
        loc["region"] = zone
    return loc
