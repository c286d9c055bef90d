"""`carbon_magic.measure()`: the same records outside IPython (scripts, tests, CI jobs)."""
from __future__ import annotations

import contextlib
import sys
import threading

from .session import CarbonSession

_default: CarbonSession | None = None
_default_lock = threading.Lock()


def default_session() -> CarbonSession:
    """One session per process, created on first use and closed at interpreter exit."""
    global _default
    with _default_lock:
        if _default is None:
            import atexit  # noqa: PLC0415

            _default = CarbonSession()
            atexit.register(_default.close)
        return _default


class Measurement:
    def __init__(self):
        self.record = None


@contextlib.contextmanager
def measure(label=None, zone=None, session=None, scope=None):
    session = session or default_session()
    if scope is not None:
        from .attribution import parse_scope  # noqa: PLC0415

        scope = parse_scope(scope)  # ValueError (one line) before the block runs
    m = Measurement()
    window = session.begin(label=label, zone=zone, scope=scope, scope_source="measure(scope=...)")
    status = "ok"
    try:
        yield m
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    except BaseException:
        status = "error"
        raise
    finally:
        try:
            m.record = session.end(window, status)
        except Exception as exc:  # noqa: BLE001 - measuring must not replace the block's own error
            print(f"carbon_magic: could not record {label or 'block'} ({exc})", file=sys.stderr)
