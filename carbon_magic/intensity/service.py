"""The intensity service: I(t) from caches only, fetched by one background thread.

A *feed* is one zone's values: which provider serves it (or none: the static table), the cached
series, and how the last fetch went. ``at(t)`` reads a feed and never blocks, never raises:

1. the cached interval containing t (live, historical or forecast, as the provider said);
2. else the latest cached value within ``STALE_S`` before t, with ``fallback_reason``;
3. else the static table for the zone, with ``fallback_reason``.

``prefetch(t)`` only marks a feed as wanted and wakes the worker. The worker reads a new feed's
values back from the ledger's ``intensity_cache`` (re-checked: the file is untrusted too), fetches
(through ``transport.Http``: a total deadline per request, no redirects, a capped body), checks
the answer (``validate.clean``), merges (an actual beats a forecast for the same period), keeps
``KEEP_S`` and at most ``validate.MAX_POINTS`` values in memory and writes what changed to the
cache. Nothing on a cell's path reads the network, parses an answer or touches the cache.
``close()`` cuts the request in flight and joins the worker.
Failures back off (Retry-After honoured), become one notice per cause per session, and a
rejected credential stops that provider for the session; a zone the plan does not cover (403/404,
or a 401 once the credentials got values for another zone) stops that zone only, with one line
naming it. Secrets never leave this module: every
notice and description passes through ``_redact``.
"""
from __future__ import annotations

import logging
import threading
import time

from . import messages, validate
from .electricitymaps import ElectricityMaps
from .provider import Interval, IntensityValue, Provider, ProviderError
from .schedule import Series
from .static import has_own_figure, static_value, world_row
from .transport import Http, Limits
from .uk import UKCarbonIntensity
from .watttime import WattTime
from .zones import Zone, parse_zone

log = logging.getLogger("carbon_magic")

STALE_S = 3 * 3600.0  # a cached value this recent still prices a later time (labelled)
KEEP_S = 8 * 86400.0  # memory: drop values older than this (the sampler keeps 7 days)
ACTIVE_S = 2 * 86400.0  # keep refreshing a zone prefetched within this
AHEAD_S = 3 * 86400.0  # how far ahead cached forecasts are read back from the ledger
POLL_S = 30.0  # the worker's heartbeat when nothing wakes it
MIN_RETRY_S = 60.0
HISTORY_S = 23 * 3600.0  # older than this, only a provider's past range has values
MAX_BACKOFF_S = 1800.0


# Live providers in `auto`'s order of preference (after a provider that owns the zone).
PROVIDERS: tuple[type[Provider], ...] = (ElectricityMaps, UKCarbonIntensity, WattTime)


def choose_provider(settings, zone: Zone | None) -> tuple[str | None, str | None]:
    """(the provider for this zone or None for the static table, why a wanted one cannot serve it).

    Asked of the providers themselves (`Provider.supports`, `has_credentials`, `owns`). A named
    provider serves the zone or says why not. `auto`: the provider that owns the zone (a
    `watttime:` region, a UK region) or, for any other zone, the first in PROVIDERS that supports
    it and has its credentials (Electricity Maps with a token, then the UK API for GB); else static.
    """
    if zone is None or zone.scope == "world" or settings.provider == "static":
        return None, None
    by_name = {p.name: p for p in PROVIDERS}
    if settings.provider != "auto":
        p = by_name.get(settings.provider)
        if p is None:
            return None, None
        if not p.has_credentials(settings):
            return None, p.missing_credentials
        return (p.name, None) if p.supports(zone) else (None, "unsupported")
    owner = next((p for p in PROVIDERS if p.owns(zone)), None)
    if owner is not None:
        return (owner.name, None) if owner.has_credentials(settings) else (None, owner.missing_credentials)
    for p in PROVIDERS:
        if p.supports(zone) and p.has_credentials(settings):
            return p.name, None
    return None, None


class Feed:
    """One zone's values. Also what `for_zone()` returns: it answers like the service."""

    def __init__(self, service: IntensityService, spec: Zone | None, provider, static: IntensityValue):
        self._service = service
        self.spec = spec
        self.zone = spec.key if spec else None
        self.provider = provider
        self.static = static
        self.series = Series()
        self.last_ok_s: float | None = None
        self.last_try_s: float | None = None
        self.error: ProviderError | None = None
        self.failures = 0
        self.retry_at = float("-inf")
        self.disabled: str | None = None  # a cause that will not fix itself this session
        self.requested = False
        self.past_from: float | None = None  # earliest uncovered time wanted from a past range
        self.in_flight = False
        self.cache_pending = False  # the worker reads this feed's values back from the ledger first
        self.active_at = float("-inf")
        self._static_by_reason: dict[str, IntensityValue] = {}

    def __repr__(self) -> str:
        return f"<intensity feed {self.zone or 'world average'} via {self.provider_name}>"

    @property
    def provider_name(self) -> str:
        return self.provider.display if self.provider else "static table"

    # -- the service interface -----------------------------------------------------------
    def at(self, wall_s: float) -> IntensityValue:
        """The intensity in force at wall_s, from caches only. Never blocks, never raises."""
        try:
            if self.provider is None:
                return self.static
            iv = self.series.find(wall_s)
            if iv is not None:
                return iv.value
            reason = self.reason()
            last = self.series.last_before(wall_s, STALE_S)
            if last is not None:
                return IntensityValue(last.value.value_g_per_kwh,
                                      {**last.value.provenance, "fallback_reason": reason or "stale"})
            return self.static_for(reason or ("pending" if self.last_ok_s is None else "no_data"))
        except Exception:  # pricing must never break a cell; the static row is labelled
            log.debug("intensity lookup failed", exc_info=True)
            return self.static_for("error")

    def prefetch(self, wall_s: float) -> None:
        self._service.request(self, wall_s)

    def notices(self) -> list[str]:
        return self._service.notices()

    def describe(self) -> str:
        return self._service.describe_feed(self)

    def close(self) -> None:
        pass  # the service owns the thread

    # -- state ---------------------------------------------------------------------------
    def reason(self) -> str | None:
        """Why the provider's own value is missing (a cause code), or None if nothing failed."""
        if self.provider is None:
            return None
        return (self.disabled or self._service.disabled_cause(self.provider.name)
                or (self.error.cause if self.error else None))

    def static_for(self, reason: str) -> IntensityValue:
        v = self._static_by_reason.get(reason)
        if v is None:
            prov = {**self.static.provenance, "fallback_reason": reason}
            if self.provider is not None:
                prov["fallback_from"] = self.provider.name
            v = self._static_by_reason[reason] = IntensityValue(self.static.value_g_per_kwh, prov)
        return v

    def usable(self) -> bool:
        return not (self.provider is None or self.disabled or self._service.disabled_cause(self.provider.name))

    def needs_fetch(self, now: float, t: float) -> bool:
        if not self.usable():
            return False
        if self.in_flight or now < self.retry_at:
            return False
        if self.last_try_s is not None and now - self.last_try_s < MIN_RETRY_S:
            return False
        if self.last_ok_s is None:
            return True
        return now - self.last_ok_s >= self.provider.refresh_s or self.series.find(t) is None


class IntensityService:
    """The session's intensity: a default zone (``zone``, ``set_zone``) and any other via ``for_zone``."""

    def __init__(self, settings, ledger=None, *, wall=time.time, timeout_s: float = 5.0, http=None):
        self.settings = settings
        self._ledger = ledger
        self._wall = wall
        self.timeout_s = timeout_s
        from .. import __version__  # noqa: PLC0415 - the User-Agent's version

        limits = Limits(timeout_s=timeout_s)
        self._http = http if isinstance(http, Http) else Http(http, limits, user_agent=f"carbon_magic/{__version__}")
        self._providers: dict[str, Provider] = {}
        self._disabled: dict[str, str] = {}  # provider name -> cause (rejected credentials)
        self._works_for: dict[str, str] = {}  # provider name -> a zone its credentials got values for
        self._feeds: dict[str | None, Feed] = {}
        self._lock = threading.RLock()
        self._notices: list[str] = []
        self._said: set = set()
        self.load_notices: list[str] = []  # about the settings, for the caller to say at once
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._thread: threading.Thread | None = None
        zone = settings.zone
        if zone:
            try:
                zone = parse_zone(zone).key
            except ValueError as exc:
                # Said at load (`load_notices`), not after the first cell; it already says what is
                # used instead, so the no-zone hint would only contradict it.
                self.load_notices.append(self._redact(messages.bad_env_zone_text(
                    zone, str(exc), world_row().g_co2e_per_kwh)))
                self._said.add(("zone", "none"))
                zone = None
        settings.zone = zone
        self._feed = self._feed_for(zone)
        with self._lock:  # what the settings alone cause (no data for the zone, no token) is said at load
            self.load_notices += self._notices
            self._notices = []
        if self._feed.provider is not None:  # start fetching at load: values are there by the first cell
            self.request(self._feed, wall())

    def __repr__(self) -> str:
        return f"<IntensityService zone={self.zone!r} provider={self._feed.provider_name!r}>"

    # -- the service interface (the default zone) ----------------------------------------
    @property
    def zone(self) -> str | None:
        return self._feed.zone

    def at(self, wall_s: float) -> IntensityValue:
        return self._feed.at(wall_s)

    def prefetch(self, wall_s: float) -> None:
        self.request(self._feed, wall_s)

    def set_zone(self, zone: str | None) -> None:
        """Change the session's zone (ValueError for an unknown one) and start fetching its values."""
        feed = self._feed_for(parse_zone(zone).key if zone else None)
        self._feed = feed
        self.settings.zone = feed.zone
        self.request(feed, self._wall())

    def for_zone(self, zone: str | None) -> Feed:
        """The feed for a zone (`%%carbon --zone Z`, what-if; None: the session's): it answers
        `at`, `prefetch`, `notices`, `describe` like the service."""
        return self._feed if zone is None else self._feed_for(parse_zone(zone).key)

    def notices(self) -> list[str]:
        with self._lock:
            out, self._notices = self._notices, []
        return out

    def describe(self) -> str:
        return self.describe_feed(self._feed)

    def close(self) -> None:
        """Stop the worker: the request in flight is cut (its socket shut), the thread joined."""
        self._stop.set()
        self._wake.set()
        self._http.abort()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=1.0)
        self._http.close()

    # -- for commands and tests ----------------------------------------------------------
    def now(self) -> float:
        return self._wall()

    def sync(self, timeout_s: float) -> bool:
        """Wait until no fetch is wanted or running (tests, `%carbon forecast`); True if so."""
        return self._idle.wait(timeout_s)

    def refresh_now(self, feed: Feed, wait_s: float) -> None:
        """Fetch `feed` now, fresh or not (backoff aside), and wait up to wait_s (explicit commands)."""
        if feed.usable():
            self._want(feed)
            self._idle.wait(wait_s)

    def disabled_cause(self, provider_name: str) -> str | None:
        return self._disabled.get(provider_name)

    # -- feeds ---------------------------------------------------------------------------
    def _feed_for(self, key: str | None) -> Feed:
        with self._lock:
            feed = self._feeds.get(key)
            if feed is not None:
                return feed
            spec = parse_zone(key) if key else None
            name, reason = choose_provider(self.settings, spec)
            provider = self._provider(name) if name else None
            feed = Feed(self, spec, provider, static_value(spec, fallback_reason=reason))
            if provider is None and not has_own_figure(spec):
                self._notice(("zone", "no_data", key),
                             messages.Hint(messages.no_own_data_text(spec, world_row().g_co2e_per_kwh)))
            if reason:
                self._notice((self.settings.provider, reason, key),
                             messages.choice_text(spec, reason, self.settings.provider))
            self._feeds[key] = feed
            if provider is not None and self._ledger is not None:
                feed.cache_pending = True  # read on the worker: never on a cell's path
                self._idle.clear()
        if feed.cache_pending:
            self._wake.set()
            self._ensure_worker()
        return feed

    def _provider(self, name: str):
        p = self._providers.get(name)
        if p is None:
            s, kw = self.settings, {"timeout_s": self.timeout_s, "wall": self._wall}
            if name == "electricitymaps":
                p = ElectricityMaps(s.electricitymaps_url, self._http, s.electricitymaps_token, **kw)
            elif name == "uk":
                p = UKCarbonIntensity(s.uk_url, self._http, **kw)
            else:
                p = WattTime(s.watttime_url, self._http, s.watttime_username, s.watttime_password, **kw)
            self._providers[name] = p
            if getattr(p, "url_note", None):
                self._notice((name, "url"), messages.Hint(messages.legacy_url_text(p)))
        return p

    def _load_cache(self, feed: Feed) -> None:
        """(worker) The feed's cached values, re-checked like an answer; bad rows are skipped."""
        feed.cache_pending = False
        if feed.zone is None:  # a feed has a provider (and a cache) only for a zone: `_feed_for`
            return
        now = self._wall()
        try:
            rows = self._ledger.cached_intensity(feed.provider.cache_key, feed.zone, now - KEEP_S, now + AHEAD_S)
            cached = validate.from_cache(rows, feed.provider, feed.zone, now)
        except Exception:  # an unreadable cache is an empty cache
            log.debug("intensity cache unreadable", exc_info=True)
            return
        if cached:
            feed.series, _ = feed.series.merged(cached, now - KEEP_S, validate.MAX_POINTS)

    # -- fetching ------------------------------------------------------------------------
    def request(self, feed: Feed, wall_s: float, keep_fresh: bool = True) -> None:
        """Mark `feed` as wanted if its cache is stale for wall_s; never waits. (prefetch)

        keep_fresh: also refresh it in the background for the next ACTIVE_S (a zone being
        measured), rather than once (a zone a command only looks at).
        """
        now = self._wall()
        if keep_fresh:
            feed.active_at = now
        if feed.spec is None:
            row = world_row()
            self._notice(("zone", "none"), messages.Hint(messages.NO_ZONE_HINT.format(
                value=row.g_co2e_per_kwh, source=f"OWID {row.year}")))
            return
        if self._wants_past(feed, now, wall_s):
            feed.past_from = wall_s if feed.past_from is None else min(feed.past_from, wall_s)
            self._want(feed)
        elif feed.needs_fetch(now, wall_s) and not feed.requested:
            self._want(feed)

    @staticmethod
    def _wants_past(feed: Feed, now: float, wall_s: float) -> bool:
        """A time older than the provider's recent history, not cached, from a provider with past ranges."""
        return (wall_s < now - HISTORY_S and feed.usable() and hasattr(feed.provider, "past_range")
                and getattr(feed.provider, "past_note", None) is None and feed.series.find(wall_s) is None)

    def _want(self, feed: Feed) -> None:
        """Queue a fetch of `feed` for the worker, starting the worker if needed."""
        with self._lock:
            feed.requested = True
            self._idle.clear()
        self._wake.set()
        self._ensure_worker()

    def _ensure_worker(self) -> None:
        with self._lock:
            if self._stop.is_set() or (self._thread is not None and self._thread.is_alive()):
                return
            self._thread = threading.Thread(target=self._run, name="carbon_magic-intensity", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            with self._lock:
                pending = [f for f in self._feeds.values() if f.cache_pending]
            for feed in pending:
                if self._stop.is_set():
                    return
                self._load_cache(feed)
            for feed in self._due():
                if self._stop.is_set():
                    return
                self._refresh(feed)
            with self._lock:
                if not any(f.requested or f.cache_pending for f in self._feeds.values()):
                    self._idle.set()
            self._wake.wait(POLL_S)

    def _due(self) -> list[Feed]:
        now = self._wall()
        with self._lock:
            feeds = list(self._feeds.values())
        out = []
        for f in feeds:
            if f.requested and not f.usable():
                f.requested = False
            if f.requested or (now - f.active_at <= ACTIVE_S and f.needs_fetch(now, now)):
                out.append(f)
        return out

    def _refresh(self, feed: Feed) -> None:
        now = self._wall()
        feed.in_flight, feed.requested, feed.last_try_s = True, False, now
        past_from, feed.past_from = feed.past_from, None
        try:
            intervals = feed.provider.refresh(feed.spec)
            if past_from is not None:
                try:  # optional: a failure here must not throw away the fresh values
                    intervals = feed.provider.past_range(feed.spec, past_from, now - HISTORY_S) + intervals
                except ProviderError as exc:
                    log.debug("past range for %s failed: %s", feed.zone, exc.cause)
            intervals = validate.clean(intervals, now)
        except ProviderError as exc:
            if not self._stop.is_set():  # cut by close(): nothing to say
                self._failed(feed, exc, now)
        except Exception as exc:  # a parser bug must not kill the thread; labelled
            log.debug("intensity provider %s crashed", feed.provider.name, exc_info=True)
            self._failed(feed, ProviderError("malformed", type(exc).__name__), now)
        else:
            series, changed = feed.series.merged(intervals, now - KEEP_S, validate.MAX_POINTS)
            feed.series = series
            feed.last_ok_s, feed.error, feed.failures, feed.retry_at = now, None, 0, float("-inf")
            if feed.zone is not None:  # a feed has a provider only for a zone: `_feed_for`
                self._works_for.setdefault(feed.provider.name, feed.zone)
            self._store(feed, changed)
        finally:
            feed.in_flight = False

    def _store(self, feed: Feed, changed: list[Interval]) -> None:
        if self._ledger is None or not changed:
            return
        try:
            self._ledger.cache_intensity(feed.provider.cache_key, feed.zone, [
                (i.start_s, i.end_s, i.value.value_g_per_kwh, i.value.provenance) for i in changed])
        except Exception:  # the memory cache still has them
            log.debug("intensity cache write failed", exc_info=True)

    def _failed(self, feed: Feed, exc: ProviderError, now: float) -> None:
        p = feed.provider
        feed.error = exc
        feed.failures += 1
        log.debug("%s for %s failed: %s", p.name, feed.zone, self._redact(str(exc)))
        works_for = self._works_for.get(p.name)
        # A 401 is the token, unless the same token got values for another zone this session and
        # never for this one: then, as Electricity Maps also answers 401 there, it is the plan.
        token_401 = exc.cause == "http_401" and not (
            works_for and feed.last_ok_s is None and messages.plan_refusal(p, exc))
        if token_401:
            self._disabled[p.name] = exc.cause  # credentials are per provider: stop asking
            self._notice((p.name, "credentials"), messages.credentials_text(p, exc))
        elif exc.cause in ("http_401", "http_403", "http_404", "unsupported", "not_allowed"):
            # Will not change this session for this zone: a zone outside the plan (a 401 too, once
            # the same credentials got values for another zone), unknown, or not served.
            feed.disabled = exc.cause
            text = (messages.plan_text(p, feed, exc, works_for) if messages.plan_refusal(p, exc)
                    else messages.zone_text(p, feed, exc))
            self._notice((p.name, exc.cause, feed.zone), text)
        else:
            backoff = min(MIN_RETRY_S * 2 ** (feed.failures - 1), MAX_BACKOFF_S)
            if exc.retry_after_s:
                backoff = max(backoff, min(exc.retry_after_s, MAX_BACKOFF_S))
            feed.retry_at = now + backoff
            self._notice((p.name, exc.cause), messages.transient_text(p, feed, exc, backoff, self.timeout_s))

    # -- words ---------------------------------------------------------------------------
    def _notice(self, key, text: str) -> None:
        with self._lock:
            if key in self._said:
                return
            self._said.add(key)
            shown = self._redact(text)
            self._notices.append(messages.Hint(shown) if isinstance(text, messages.Hint) else shown)

    def _redact(self, text: str) -> str:
        s = self.settings
        secrets = [s.electricitymaps_token, s.watttime_username, s.watttime_password]
        for p in self._providers.values():
            secrets += p.secrets()
        for secret in sorted({x for x in secrets if x and len(x) >= 3}, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text

    def describe_feed(self, feed: Feed) -> str:
        """One line for `%carbon status` and `%carbon zone`."""
        return self._redact(messages.describe_feed(feed, stopped=feed.provider is not None and not feed.usable()))
