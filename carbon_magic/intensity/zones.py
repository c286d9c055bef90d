"""Zone names: what a user may type, validated offline against the embedded tables.

| you type | canonical | meaning |
| --- | --- | --- |
| `FR`, `fra` | `FR` | a country, ISO 3166 alpha-2 or alpha-3 (`UK` means `GB`; names are only suggested) |
| `US-MIDA-PJM`, `dk-dk1` | `US-MIDA-PJM`, `DK-DK1` | an Electricity Maps zone |
| `uk:13`, `uk:london`, `uk:north-west-england` | `uk:london` | a UK Carbon Intensity API region (ids 1-17) |
| `uk:RG10` | `uk:RG10` | a UK outward postcode (the API resolves its region) |
| `aws:us-east-1`, `gcp:europe-west1`, `azure:westeurope` | the same, lower case | a cloud region |
| `watttime:CAISO_NORTH` | the same | a WattTime region (needs WattTime credentials) |
| `WLD`, `world` | `WLD` | the world average, on purpose |

A name that is none of these raises ValueError with one line that suggests the closest names.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from .static import tables

CLOUDS = ("aws", "gcp", "azure")
_POSTCODE = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]?$")
_FULL_POSTCODE = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]?\s*[0-9][A-Z]{2}$")
_WATTTIME_REGION = re.compile(r"^[A-Za-z0-9_]{2,64}$")
ALIASES = {"UK": "GB", "WORLD": "WLD"}


@dataclass(frozen=True)
class Zone:
    key: str  # canonical name, as stored in provenance
    scope: str  # country | em | uk | cloud | watttime | world
    name: str  # for people: "France", "PJM", "London", "US East (N. Virginia)"
    country: str | None = None  # ISO2 whose annual average is the static fallback
    em_zone: str | None = None  # the Electricity Maps zone to ask for
    uk_region: int | None = None
    uk_postcode: str | None = None
    cloud: tuple[str, str] | None = None  # ("aws", "us-east-1")
    watttime_region: str | None = None

    @property
    def in_gb(self) -> bool:
        """Covered by the UK Carbon Intensity API (Great Britain: not Northern Ireland)."""
        return self.scope == "uk" or self.key == "GB"


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


@cache
def _uk_slugs() -> dict[str, int]:
    return {_slug(name): rid for rid, name in tables().uk_regions.items()}


def parse_zone(text: str) -> Zone:
    """The Zone for a name a user typed; ValueError (one line, with suggestions) otherwise."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("empty zone: use a country code (FR), an Electricity Maps zone (US-MIDA-PJM), "
                         "a UK region (uk:london) or a cloud region (aws:us-east-1)")
    raw = text.strip().strip("\"'").strip()
    t = tables()
    prefix, sep, rest = raw.partition(":")
    if sep:
        return _parse_prefixed(raw, prefix.strip().lower(), rest.strip())
    up = ALIASES.get(raw.upper(), raw.upper())
    if up == "WLD":
        return Zone("WLD", "world", "World")
    if len(up) == 3 and ("country", up) in t.static:
        up = t.static[("country", up)].iso2 or up
    if up in t.by_iso2:
        row = t.by_iso2[up]
        return Zone(up, "country", row.name, country=up, em_zone=up if up in t.em_zones else None)
    if up in t.em_zones:
        iso2, name = t.em_zones[up]
        scope = "country" if up == iso2 else "em"
        return Zone(up, scope, name, country=iso2, em_zone=up)
    raise ValueError(_unknown(raw, _suggest(raw, _plain_names())))


def _parse_prefixed(raw: str, prefix: str, rest: str) -> Zone:
    t = tables()
    if prefix == "uk":
        if rest.isdigit() and int(rest) in t.uk_regions:
            rid = int(rest)
            return Zone(f"uk:{_slug(t.uk_regions[rid])}", "uk", t.uk_regions[rid], country="GB",
                        em_zone="GB", uk_region=rid)
        slug = _slug(rest)
        if slug in _uk_slugs():
            rid = _uk_slugs()[slug]
            return Zone(f"uk:{slug}", "uk", t.uk_regions[rid], country="GB", em_zone="GB", uk_region=rid)
        pc = rest.upper()
        if _FULL_POSTCODE.match(pc):
            raise ValueError(f"uk:{rest}: give only the outward part of the postcode (e.g. uk:RG10), "
                             "which is all the API uses")
        if _POSTCODE.match(pc):
            return Zone(f"uk:{pc}", "uk", f"postcode {pc}", country="GB", em_zone="GB", uk_postcode=pc)
        names = [f"uk:{s}" for s in _uk_slugs()] + [f"uk:{rid}" for rid in t.uk_regions]
        raise ValueError(_unknown(raw, _suggest(raw.lower(), names),
                                  "UK regions are uk:1 to uk:17, uk:NAME or an outward postcode uk:RG10"))
    if prefix in CLOUDS:
        region = rest.lower()
        if (prefix, region) in t.static:
            row = t.static[(prefix, region)]
            return Zone(f"{prefix}:{region}", "cloud", row.name, cloud=(prefix, region))
        names = [f"{s}:{k}" for (s, k) in t.static if s == prefix]
        raise ValueError(_unknown(raw, _suggest(f"{prefix}:{region}", names)))
    if prefix in ("watttime", "wt"):
        if _WATTTIME_REGION.match(rest):
            return Zone(f"watttime:{rest.upper()}", "watttime", rest.upper(), watttime_region=rest.upper())
        raise ValueError(f"unknown zone {raw!r}: a WattTime region looks like watttime:CAISO_NORTH")
    kinds = ["uk", *CLOUDS, "watttime"]
    import difflib  # noqa: PLC0415 - only for a zone that does not parse

    guess = difflib.get_close_matches(prefix, kinds, n=1, cutoff=0.5)
    hint = f"; did you mean {guess[0]}:{rest}?" if guess else f"; known prefixes: {', '.join(kinds)}"
    raise ValueError(f"unknown zone {raw!r}: no zone kind {prefix!r}{hint}")


def normalize_zone(zone: str) -> str:
    """The canonical spelling of a zone (see the module table); ValueError with suggestions."""
    return parse_zone(zone).key


@cache
def _plain_names() -> dict[str, tuple[str, str]]:
    """Lower-case spelling -> (canonical key, what to suggest): codes, zone keys, country names."""
    t = tables()
    out: dict[str, tuple[str, str]] = {}
    for key, (_iso2, name) in t.em_zones.items():
        out[key.lower()] = (key, key)
        out.setdefault(name.lower(), (key, f"{key} ({name})"))
    for (scope, key), row in t.static.items():
        if scope == "country":
            code = row.iso2 or key
            out.setdefault(key.lower(), (code, code))
            out.setdefault(row.name.lower(), (code, f"{code} ({row.name})"))
    return out


def _suggest(query: str, names) -> list[str]:
    import difflib  # noqa: PLC0415 - only for a name that was not found

    if isinstance(names, dict):
        hits = difflib.get_close_matches(query.lower(), list(names), n=6, cutoff=0.6)
        seen, out = set(), []
        for h in hits:
            key, shown = names[h]
            if key not in seen:
                seen.add(key)
                out.append(shown)
        return out[:3]
    return difflib.get_close_matches(query, list(names), n=3, cutoff=0.6)


def _unknown(raw: str, suggestions: list[str], fallback: str | None = None) -> str:
    if suggestions:
        return f"unknown zone {raw!r}; did you mean {', '.join(suggestions)}?"
    return f"unknown zone {raw!r}; " + (fallback or "use a country code (FR), an Electricity Maps zone "
                                        "(US-MIDA-PJM), a UK region (uk:london) or a cloud region "
                                        "(aws:us-east-1)")
