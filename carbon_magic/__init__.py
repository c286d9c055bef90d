"""carbon_magic: energy and CO₂e of every notebook cell, measured where a sensor exists.

    %load_ext carbon_magic
    %%carbon
    train()

Importing this package is cheap and touches no network and no hardware: sources are
discovered when the extension loads (or `measure()` is first used).
"""
from __future__ import annotations

try:  # written by the build (hatch's version hook, from labextension/package.json)
    from ._version import __version__
except ImportError:  # a source tree that was never installed
    __version__ = "0+unknown"
__all__ = ["CellRecord", "measure", "wait_for_green", "skip_wait", "green", "load_ipython_extension",
           "unload_ipython_extension", "__version__"]

import logging as _logging

from .record import CellRecord  # light: stdlib only

# The sampler thread never prints: log records go nowhere unless the user configures logging.
_logging.getLogger("carbon_magic").addHandler(_logging.NullHandler())


def _jupyter_labextension_paths():
    return [{"src": "labextension", "dest": "carbon-magic-labextension"}]


def load_ipython_extension(ip):
    from .extension import load  # noqa: PLC0415 - importing carbon_magic stays cheap (no IPython)

    load(ip)


def unload_ipython_extension(ip):
    from .extension import unload  # noqa: PLC0415 - as above

    unload(ip)


def measure(label=None, zone=None, session=None, scope=None):
    """Context manager for plain scripts: `with measure(label="train") as m: ...; m.record`.

    In a kernel where `%load_ext carbon_magic` ran, it measures on that session: its zone
    (`%carbon zone FR`) prices the block and the record joins `%carbon table`.

    scope: "machine" (what the devices drew), "process" (this process's share) or "auto"
    (the session's setting, CARBON_MAGIC_SCOPE, by default)."""
    from .script import measure as _measure  # noqa: PLC0415 - importing carbon_magic stays cheap

    return _measure(label=label, zone=zone, session=session, scope=scope)


def wait_for_green(within="8h", duration="1h", zone=None, **kwargs):
    """Block until the greenest `duration` window within `within` starts, by the zone's forecast
    (`%carbon wait`). Without a forecast it says so and returns at once. See carbon_magic.act.wait."""
    from .act.wait import wait_for_green as _wait  # noqa: PLC0415 - importing carbon_magic stays cheap

    return _wait(within, duration, zone, **kwargs)


def skip_wait() -> bool:
    """End a running `wait_for_green` / `%carbon wait` now (from another thread)."""
    from .act.wait import skip_wait as _skip  # noqa: PLC0415 - as above

    return _skip()


def green(iterable, above, within="+50%", **kwargs):
    """`for batch in green(loader, above=350, within="+50%")`: pause while the grid is above `above`
    g/kWh (checkpoint hook first), resume when it falls or the deadline forces it. See carbon_magic.act.green."""
    from .act.green import green as _green  # noqa: PLC0415 - importing carbon_magic stays cheap

    return _green(iterable, above, within, **kwargs)
