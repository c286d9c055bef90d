"""What the intensity service says: notices (one per cause per session) and the status line.

Pure functions of a provider, a feed and an error; the service decides when to say them and
redacts every secret before anything leaves it. Nothing here quotes a provider: an error's
``detail`` and ``status`` are our own words and the status code.
"""
from __future__ import annotations

import sys
from datetime import datetime, timezone



class Hint(str):
    """A notice that is advice, not a fault: shown once as plain output (stdout), never as an error."""


def say(notice: str) -> None:
    """Print a notice: a Hint as plain output, anything else (a fault, a fallback) on stderr."""
    print(notice, file=sys.stdout if isinstance(notice, Hint) else sys.stderr)


NO_ZONE_HINT = ("Hint: no grid zone set, so CO₂e uses the world average ({value:.0f} g/kWh, {source}); "
                "set yours with %carbon zone FR (or CARBON_MAGIC_ZONE).")


def bad_env_zone_text(raw: str, problem: str, world_g_per_kwh: float) -> str:
    """CARBON_MAGIC_ZONE is not a zone: said once, at load, with what is used instead."""
    return (f"carbon_magic: CARBON_MAGIC_ZONE={raw!r} is not used ({problem}); CO₂e uses the world average "
            f"({world_g_per_kwh:.0f} g/kWh) until you set a zone: %carbon zone FR")


def no_own_data_text(spec, world_g_per_kwh: float) -> str:
    """A known zone the offline table has no figure for (e.g. XX, Northern Cyprus)."""
    return (f"carbon_magic: zone {spec.key} ({spec.name}) has no figure of its own in the offline table, so its "
            f"CO₂e is priced at the world average ({world_g_per_kwh:.0f} g/kWh); ELECTRICITYMAPS_API_TOKEN "
            "gives its live value.")


def _after(p) -> str:
    tail = "CO₂e uses the last cached value, else the static table"
    if p.name == "watttime":
        tail += " (an average figure, not comparable with WattTime's marginal values)"
    return tail


def credentials_text(p, exc) -> str:
    what = ("the API token (it is wrong or has expired); check ELECTRICITYMAPS_API_TOKEN" if p.name == "electricitymaps"
            else "the login; check WATTTIME_USERNAME and WATTTIME_PASSWORD")
    return (f"carbon_magic: {p.display} rejected {what} (HTTP {exc.status or exc.cause[5:]}). "
            f"It is not asked again this session; {_after(p)}.")


def plan_refusal(p, exc) -> bool:
    """Whether a refused latest value means the plan does not cover the zone (Electricity Maps: a
    free-tier key covers one zone and answers 403/404, or 401, for the others)."""
    return exc.cause in getattr(p, "plan_causes", ())


def plan_text(p, feed, exc, works_for: str | None) -> str:
    """One line: the zone is not in the plan, what prices it instead, and what to do."""
    v = feed.static
    year = v.provenance.get("year")
    instead = f"the static table's {v.value_g_per_kwh:.0f} g/kWh" + (f" ({year} annual average)" if year else "")
    if works_for and works_for != feed.zone:
        todo = f"use your plan's zone with %carbon zone {works_for} (or %%carbon --zone {works_for} for one cell)"
    else:
        todo = "use your plan's zone with %carbon zone <ZONE>, or a token whose plan covers it"
    return (f"carbon_magic: Electricity Maps: zone {feed.zone} is not in your plan (HTTP {exc.status or exc.cause[5:]}); "
            f"using {instead} for {feed.zone}. To get live values, {todo}. Not asked again this session.")


def legacy_url_text(p) -> str:
    """The URL setting names the legacy API (…/v3): it is used as the host for API v4."""
    return ("carbon_magic: CARBON_MAGIC_ELECTRICITYMAPS_URL ends in /v3, Electricity Maps' legacy API; "
            "carbon_magic asks API v4 at the same address (…/v4/carbon-intensity/…). Set the URL without "
            "the version to silence this.")


def zone_text(p, feed, exc) -> str:
    """A cause that will not change this session for this zone."""
    if exc.cause == "not_allowed":
        idx = f" (now {exc.index:.0f}/100)" if exc.index is not None else ""
        return (f"carbon_magic: this WattTime account sees only the relative signal index for "
                f"{feed.spec.watttime_region}{idx}, not emission rates; CO₂e uses the static table's "
                "average figure, which is not comparable with marginal (MOER) values.")
    if exc.cause == "http_403":
        why = f"has no access to zone {feed.zone} (HTTP 403: not in this plan?)"
    elif exc.cause == "http_404":
        why = f"does not know zone {feed.zone} (HTTP 404)"
    else:
        why = f"cannot serve zone {feed.zone} ({exc.detail})"
    return f"carbon_magic: {p.display} {why}; CO₂e for {feed.zone} uses the static table."


def transient_text(p, feed, exc, backoff_s: float, timeout_s: float) -> str:
    what = {
        "timeout": f"did not answer within {timeout_s:g} s",
        "refused": "refused the connection",
        "connection": "could not be reached (offline?)",
        "http_429": f"is rate-limiting requests (HTTP 429); retrying in {backoff_s:.0f} s",
        "http_5xx": f"answered with a server error (HTTP {exc.status})",
        "http_4xx": f"rejected the request (HTTP {exc.status})",
        "malformed": f"sent an answer that could not be read ({exc.detail})",
        "redirect": (f"answered with a redirect (HTTP {exc.status}), which is not followed (credentials go only to "
                     "the configured address); check its URL setting"),
        "too_large": f"sent an answer over the size limit ({exc.detail})",
        "null": f"has no value for {feed.zone} right now",
    }.get(exc.cause, exc.cause)
    return f"carbon_magic: {p.display} {what}; {_after(p)}."


def choice_text(spec, reason: str, provider_setting: str) -> str:
    """Why the provider the settings ask for cannot serve this zone."""
    if reason == "no_token":
        return ("carbon_magic: CARBON_MAGIC_PROVIDER=electricitymaps needs ELECTRICITYMAPS_API_TOKEN in the "
                "environment; CO₂e uses the static table.")
    if reason == "no_credentials":
        return (f"carbon_magic: {spec.key} needs WattTime credentials (WATTTIME_USERNAME and "
                "WATTTIME_PASSWORD in the environment); CO₂e uses the static table.")
    which = {"uk": "the UK Carbon Intensity API covers Great Britain only",
             "watttime": "WattTime needs a WattTime region (watttime:CAISO_NORTH)",
             "electricitymaps": "Electricity Maps has no such zone"}.get(provider_setting, "")
    return f"carbon_magic: {which}, not {spec.key}; CO₂e uses the static table."


def describe_feed(feed, stopped: bool) -> str:
    """One line for `%carbon status` and `%carbon zone`. stopped: the provider is off this session."""
    v = feed.static
    static = f"{v.value_g_per_kwh:.0f} g/kWh ({v.provenance['source']})"
    if feed.spec is None:
        return f"static table, world average {static}; no zone set (%carbon zone FR)"
    if feed.provider is None:
        extra = [v.provenance["flag"]] if v.provenance.get("flag") else []
        if v.provenance.get("fallback_reason"):
            extra.append(f"wanted provider unusable: {v.provenance['fallback_reason']}")
        return f"static table for {feed.zone}: {static}" + "".join(f"; {e}" for e in extra)
    p = feed.provider
    parts = [f"{p.display} for {feed.zone}"]
    if p.name == "electricitymaps":
        parts.append(f"{p.emission_factor} factors")
    if p.name == "watttime":
        parts.append("marginal (MOER) signal")
    if stopped and feed.disabled in getattr(p, "plan_causes", ()):
        parts.append(f"not used this session: zone {feed.zone} is not in your plan "
                     f"(HTTP {feed.disabled[5:]}); static {static}")
    elif stopped:
        parts.append(f"not used this session ({feed.reason()}); static {static}")
    else:
        if feed.last_ok_s is not None:
            parts.append(f"last update {_hhmm(feed.last_ok_s)} UTC, {len(feed.series)} values cached")
        elif feed.in_flight or feed.requested:
            parts.append("first fetch under way")
        elif len(feed.series):
            parts.append(f"{len(feed.series)} values cached from earlier sessions")
        if feed.error is not None:
            parts.append(f"last try failed ({feed.error.cause}): cached values, else static {static}")
    if getattr(p, "forecast_note", None):
        parts.append(f"forecast {p.forecast_note}")
    return ", ".join(parts[:2]) + "".join(f"; {x}" for x in parts[2:])


def _hhmm(unix_s: float) -> str:
    return datetime.fromtimestamp(unix_s, tz=timezone.utc).strftime("%H:%M")
