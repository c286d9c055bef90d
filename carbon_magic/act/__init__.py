"""Act on the grid's carbon intensity: choose when to run (Dodge et al., FAccT 2022).

* Flexible Start: `%carbon wait --within 8h --duration 2h` / `wait_for_green()` (wait.py)
* Pause-and-Resume: `green(loader, above=350, within="+50%")` (green.py) and the Lightning /
  Hugging Face callbacks (callbacks.py, imported only when used)
* the records they concern get `deferred_s`, `avoided_g`, `avoided_basis` (deferral.py)

Nothing here runs at import: the modules load on first use.
"""
from __future__ import annotations

__all__ = ["wait_for_green", "skip_wait", "green", "Pauser", "ReplayClock", "settle"]

_WHERE = {"wait_for_green": "wait", "skip_wait": "wait", "green": "green", "Pauser": "green",
          "ReplayClock": "clock", "settle": "deferral"}


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib  # noqa: PLC0415 - only this lazy loader needs it

    value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    globals()[name] = value
    return value
