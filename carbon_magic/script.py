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
            import atexit  # noqa: PLC0415 - only when the default session is made

            _default = CarbonSession().start()
            atexit.register(_default.close)
        return _default


def active_session() -> CarbonSession | None:
    """The session of the IPython extension loaded in this process (`%load_ext carbon_magic`), if
    any: `measure()` then prices with its zone (`%carbon zone FR`) and its records join its table."""
    ipython = sys.modules.get("IPython")  # never import IPython for a plain script
    if ipython is None:
        return None
    try:
        shell = ipython.get_ipython()
        if shell is None:
            return None
        from .extension import session_for  # noqa: PLC0415 - the extension imports IPython: only inside a shell

        return session_for(shell)
    except Exception:  # noqa: BLE001 - no usable shell: measure on our own session
        return None


class Measurement:
    def __init__(self):
        self.record = None


@contextlib.contextmanager
def measure(label=None, zone=None, session=None, scope=None):
    if scope is not None:
        from .attribution import parse_scope  # noqa: PLC0415

        scope = parse_scope(scope)  # ValueError (one line) before the block runs
    session = session or active_session() or default_session()
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
            for notice in session.drain_notices():  # each said once (the ledger's, the providers')
                print(notice, file=sys.stderr)
        except Exception as exc:  # noqa: BLE001 - measuring must not replace the block's own error
            print(f"carbon_magic: could not record {label or 'block'} ({exc})", file=sys.stderr)
