"""HTTP for the providers: one GET that answers only from the configured origin, within limits.

    http = Http()                          # a requests.Session, made on first use (in the worker)
    http.get_json(url, timeout_s=5.0, headers={"auth-token": …})   # JSON, or a ProviderError
    http.abort()                           # unload: every request in flight fails now
    http.close()                           # abort, then close the session

Whatever the server does, a request keeps these promises:

- **deadline**: connect, headers and body together end within ``timeout_s``. Per-read socket
  timeouts cannot do that (a server that drips a byte every few seconds never trips them), so a
  watchdog shuts the request's socket down when the deadline passes: the blocked read returns and
  the request fails with cause ``timeout``. ``abort()`` does the same at once (cause ``cancelled``).
- **no redirects**: a 3xx is an error (cause ``redirect``); its Location is never fetched, so the
  credentials a provider puts in headers go to the configured scheme, host and port only.
- **size**: at most ``max_body_bytes`` after decoding. A Content-Length above it is refused before
  reading; gzip and deflate are inflated here, bounded, so a gzip bomb stops at the cap; anything
  longer is cut off while streaming (cause ``too_large``).
- **JSON**: strict UTF-8 JSON, parsed here (on the caller's thread: the service's worker, never a
  cell), without NaN or Infinity, non-finite floats, or integers of more than 20 digits; nesting
  deep enough to exhaust the parser is ``malformed`` like any other unreadable answer.
- **no provider text**: an error answer's body is never read, and errors carry only our cause
  word and the status code.

``requests`` and ``urllib3`` are imported on the first request, never at import.
"""
from __future__ import annotations

import functools
import json
import math
import socket
import threading
import time
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .provider import ProviderError, http_cause

MAX_INT_DIGITS = 20
MAX_RETRY_AFTER_S = 86400.0


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 5.0  # the whole request: connect + headers + body
    max_body_bytes: int = 2_000_000  # after decoding
    chunk_bytes: int = 65536


class Deadline:
    """A point in time a request must finish by (monotonic clock)."""

    def __init__(self, total_s: float, clock=time.monotonic):
        self.total_s = total_s
        self._clock = clock
        self._end = clock() + total_s

    def remaining_s(self) -> float:
        return self._end - self._clock()

    def check(self) -> None:
        if self.remaining_s() <= 0:
            raise _fired("timeout", self.total_s)


def _fired(cause: str, total_s: float) -> ProviderError:
    if cause == "timeout":
        return ProviderError("timeout", f"no complete answer within {total_s:g} s")
    return ProviderError("cancelled", "stopped: the extension is unloading")


# -- the watchdog ------------------------------------------------------------------------
_current = threading.local()  # the _Watch of the request this thread is making


class _Watch:
    """What one request is connected through; `fire` shuts it down (deadline, abort).

    A new connection is watched through a duplicate of its TCP socket's descriptor: TLS takes
    the original over while the handshake runs, and shutting the shared socket down through the
    duplicate wakes the handshake, headers or body alike. A pooled connection that is reused is
    watched through its socket.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._conns: list = []
        self._dups: list[socket.socket] = []
        self._done = False
        self.fired: str | None = None

    def attach(self, conn, sock=None) -> None:
        """Watch conn; sock: its new TCP socket (from `_new_conn`)."""
        with self._lock:
            if self._done:
                return
            if sock is not None:
                try:
                    self._dups.append(sock.dup())
                except OSError:
                    pass
            self._conns.append(conn)
            if self.fired:
                self._shut()

    def fire(self, cause: str) -> None:
        with self._lock:
            if self._done or self.fired:
                return
            self.fired = cause
            self._shut()

    def _shut(self) -> None:
        for dup in self._dups:
            _shutdown_sock(dup)
        for conn in self._conns:
            _shutdown(conn)

    def finish(self) -> None:
        with self._lock:
            self._done = True
            self._conns.clear()
            for dup in self._dups:
                dup.close()
            self._dups.clear()


def _shutdown(conn) -> None:
    """Make a read blocked on conn's socket return now (shutdown wakes it; close may not)."""
    sock = getattr(conn, "sock", None)
    if sock is not None:
        _shutdown_sock(sock)


def _shutdown_sock(sock) -> None:
    try:
        if isinstance(sock, socket.socket):  # plain or TLS: shut the descriptor, not the TLS state
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
        else:
            sock.close()
    except OSError:
        pass


if TYPE_CHECKING:  # what _Watched is mixed into (urllib3 itself is imported at the first request)
    from urllib3.connection import HTTPConnection as _Connection
else:
    _Connection = object


class _Watched(_Connection):
    """Mixed into urllib3's connection classes: each connection joins the current request's watch
    as soon as its TCP socket exists (so a TLS handshake that drips is cut too)."""

    def _new_conn(self):
        sock = super()._new_conn()
        watch = getattr(_current, "watch", None)
        if watch is not None:
            watch.attach(self, sock)
        return sock

    def request(self, *args, **kwargs):
        _attach(self)
        return super().request(*args, **kwargs)


def _attach(conn) -> None:
    watch = getattr(_current, "watch", None)
    if watch is not None:
        watch.attach(conn)


@functools.cache
def _pool_classes() -> dict:
    from urllib3.connection import HTTPConnection, HTTPSConnection  # noqa: PLC0415 - on the first request: importing stays cheap
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool  # noqa: PLC0415 - as above

    class WatchedHTTPConnection(_Watched, HTTPConnection):
        pass

    class WatchedHTTPSConnection(_Watched, HTTPSConnection):
        pass

    class WatchedHTTPPool(HTTPConnectionPool):
        ConnectionCls = WatchedHTTPConnection

    class WatchedHTTPSPool(HTTPSConnectionPool):
        ConnectionCls = WatchedHTTPSConnection

    return {"http": WatchedHTTPPool, "https": WatchedHTTPSPool}


@functools.cache
def _adapter_class():
    from requests.adapters import HTTPAdapter  # noqa: PLC0415 - on the first request: importing stays cheap

    class WatchedAdapter(HTTPAdapter):
        """requests' adapter with connections the watchdog can reach (direct and via HTTP proxies)."""

        def init_poolmanager(self, *args, **kwargs):
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = _pool_classes()

        def proxy_manager_for(self, proxy, **kwargs):
            manager = super().proxy_manager_for(proxy, **kwargs)
            if not proxy.lower().startswith("socks"):  # SOCKS pools are their own
                manager.pool_classes_by_scheme = _pool_classes()
            return manager

    return WatchedAdapter


def _equip(session) -> None:
    """Mount the watched adapter on a requests.Session (once)."""
    cls = _adapter_class()
    if not isinstance(session.get_adapter("https://x"), cls) or not isinstance(session.get_adapter("http://x"), cls):
        adapter = cls()
        session.mount("http://", adapter)
        session.mount("https://", adapter)


# -- the client --------------------------------------------------------------------------
class Http:
    """GET with the promises above. session: a requests.Session (tests); default: made on first use."""

    def __init__(self, session=None, limits: Limits = Limits(), user_agent: str | None = None):
        self._session = session
        self._own = session is None
        self.limits = limits
        self._user_agent = user_agent
        self._lock = threading.Lock()
        self._watches: set[_Watch] = set()
        self._closed = False

    def _get_session(self):
        if self._session is None:
            import requests  # noqa: PLC0415 - lazy: importing the package must stay cheap

            self._session = requests.Session()
            if self._user_agent:
                self._session.headers["User-Agent"] = self._user_agent
        _equip(self._session)
        return self._session

    def get_json(self, url: str, *, timeout_s: float | None = None, params=None, headers=None, auth=None):
        """GET url and return its JSON; every failure is a ProviderError (see the module doc)."""
        return parse_json(self.get_bytes(url, timeout_s=timeout_s, params=params, headers=headers, auth=auth))

    def get_bytes(self, url: str, *, timeout_s: float | None = None, params=None, headers=None, auth=None) -> bytes:
        import requests  # noqa: PLC0415 - on the first request: importing stays cheap

        total_s = self.limits.timeout_s if timeout_s is None else timeout_s
        deadline = Deadline(total_s)
        watch = _Watch()
        with self._lock:
            if self._closed:
                raise _fired("cancelled", total_s)
            self._watches.add(watch)
        timer = threading.Timer(total_s, watch.fire, ("timeout",))
        timer.daemon = True
        timer.name = "carbon_magic-deadline"
        timer.start()
        _current.watch = watch
        response = None
        try:
            session = self._get_session()
            sent = {"Accept": "application/json", "Accept-Encoding": "gzip, deflate", **(headers or {})}
            response = session.get(url, params=params, headers=sent, auth=auth, timeout=(total_s, total_s),
                                   stream=True, allow_redirects=False)
            _check_status(response)
            body = self._read(response, deadline, watch)
            if watch.fired:  # a read-until-close body cut short by the watchdog looks complete
                raise _fired(watch.fired, total_s)
            return body
        except ProviderError:
            if watch.fired:
                raise _fired(watch.fired, total_s) from None
            raise
        except requests.exceptions.RequestException as exc:
            if watch.fired:
                raise _fired(watch.fired, total_s) from None
            raise _request_error(exc, total_s) from None
        except Exception:  # noqa: BLE001 - urllib3/http.client errors while streaming; never their text
            if watch.fired:
                raise _fired(watch.fired, total_s) from None
            raise ProviderError("connection", "the connection failed while reading the answer") from None
        finally:
            _current.watch = None
            timer.cancel()
            watch.finish()
            with self._lock:
                self._watches.discard(watch)
            if response is not None:
                try:
                    response.close()
                except Exception:  # noqa: BLE001
                    pass

    def _read(self, response, deadline: Deadline, watch: _Watch) -> bytes:
        """The body, decoded, at most max_body_bytes; stops as soon as it is over."""
        cap = self.limits.max_body_bytes
        ctype = (response.headers.get("Content-Type") or "").lower()
        if "html" in ctype:
            raise ProviderError("malformed", "the answer is a web page, not JSON")
        length = response.headers.get("Content-Length")
        if length is not None:
            try:
                if int(length.split(",")[0].strip()) > cap:
                    raise ProviderError("too_large", f"the answer would exceed {cap} bytes")
            except ValueError:
                raise ProviderError("malformed", "unreadable Content-Length") from None
        inflate = _decoder(response.headers.get("Content-Encoding"))
        out = bytearray()
        while True:
            chunk = response.raw.read(self.limits.chunk_bytes, decode_content=False)
            if watch.fired:
                raise _fired(watch.fired, deadline.total_s)
            deadline.check()
            if not chunk:
                break
            if inflate is not None:
                try:
                    chunk = inflate.decompress(chunk, cap + 1 - len(out))  # never more than one byte over
                except zlib.error:
                    raise ProviderError("malformed", "the compressed answer is corrupt") from None
            out += chunk
            if len(out) > cap:
                raise ProviderError("too_large", f"the answer exceeds {cap} bytes")
        if inflate is not None and not inflate.eof:
            raise ProviderError("malformed", "the compressed answer is cut short")
        return bytes(out)

    def abort(self) -> None:
        """Fail every request in flight now, and any later one (unload, session end)."""
        with self._lock:
            self._closed = True
            watches = list(self._watches)
        for w in watches:
            w.fire("cancelled")

    def close(self) -> None:
        self.abort()
        if self._own and self._session is not None:
            try:
                self._session.close()
            except Exception:  # noqa: BLE001
                pass


def _decoder(encoding: str | None):
    enc = (encoding or "").strip().lower()
    if enc in ("", "identity"):
        return None
    if enc in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if enc == "deflate":
        return zlib.decompressobj(zlib.MAX_WBITS)
    raise ProviderError("malformed", "the answer uses a compression we did not ask for")


def _check_status(response) -> None:
    status = response.status_code
    if 200 <= status < 300:
        return
    if 300 <= status < 400:
        raise ProviderError("redirect", f"HTTP {status}: redirects are not followed", status=status)
    raise ProviderError(http_cause(status), f"HTTP {status}", status=status,
                        retry_after_s=_retry_after_s(response.headers.get("Retry-After")))


def _retry_after_s(value) -> float | None:
    try:
        s = float(value) if value else None
    except ValueError:
        return None  # the HTTP-date form: our own backoff applies
    return s if s is not None and math.isfinite(s) and 0 <= s <= MAX_RETRY_AFTER_S else None


def _request_error(exc, total_s: float) -> ProviderError:
    import requests  # noqa: PLC0415 - on the first request: importing stays cheap

    if isinstance(exc, requests.exceptions.Timeout):
        return ProviderError("timeout", f"no answer within {total_s:g} s")
    if isinstance(exc, requests.exceptions.ConnectionError):
        if "refused" in str(exc).lower():
            return ProviderError("refused", "connection refused")
        return ProviderError("connection", "could not connect")
    return ProviderError("connection", type(exc).__name__)


# -- JSON --------------------------------------------------------------------------------
def parse_json(body: bytes):
    """Strict JSON from UTF-8 bytes, or ProviderError('malformed')."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ProviderError("malformed", "the answer is not UTF-8 text") from None
    try:
        return json.loads(text.lstrip("\ufeff"), parse_constant=_no_constant, parse_float=_finite_float,
                          parse_int=_bounded_int)
    except (ValueError, RecursionError):
        raise ProviderError("malformed", "the answer is not JSON") from None


def _no_constant(name: str):
    raise ValueError("NaN and Infinity are not JSON numbers")


def _finite_float(text: str) -> float:
    v = float(text)
    if not math.isfinite(v):
        raise ValueError("a number too large for a float")
    return v


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise ValueError("an integer too long to be plausible")
    return int(text)
