"""carbon_magic: energy and CO₂e of every notebook cell, measured where a sensor exists.

    %load_ext carbon_magic
    %%carbon
    train()

Importing this package is cheap and touches no network and no hardware: sources are
discovered when the extension loads (or `measure()` is first used).
"""
from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["CellRecord", "measure", "load_ipython_extension", "unload_ipython_extension", "__version__"]

import logging as _logging  # noqa: E402

from .record import CellRecord  # noqa: E402  (light: stdlib only)

# The sampler thread never prints: log records go nowhere unless the user configures logging.
_logging.getLogger("carbon_magic").addHandler(_logging.NullHandler())


def _jupyter_labextension_paths():
    return [{"src": "labextension", "dest": "carbon-magic-labextension"}]


def load_ipython_extension(ip):
    from .extension import load  # noqa: PLC0415

    load(ip)


def unload_ipython_extension(ip):
    from .extension import unload  # noqa: PLC0415

    unload(ip)


def measure(label=None, zone=None, session=None, scope=None):
    """Context manager for plain scripts: `with measure(label="train") as m: ...; m.record`.

    scope: "machine" (what the devices drew), "process" (this process's share) or "auto"
    (the session's setting, CARBON_MAGIC_SCOPE, by default).
    """
    from .script import measure as _measure  # noqa: PLC0415

    return _measure(label=label, zone=zone, session=session, scope=scope)
