"""The live widget: power by component against grid intensity, with cell marks and running totals.

`%carbon live` shows it; `%%carbon --live` shows it above the cell's own output (from the
pre_run_cell hook) and it keeps updating while the cell runs, because updates come from the
sampler thread. Where widgets cannot render (a terminal IPython, no ipywidgets/bqplot) a one-line
text snapshot is printed instead; nbconvert and frontends without the widget manager get the same
text inside the displayed bundle. Nothing here imports bqplot or ipywidgets until a view is shown.
"""
from __future__ import annotations

import importlib.util

from IPython.core.error import UsageError
from IPython.display import display

from .text import text_summary

__all__ = ["live_command", "live_cell_start", "widgets_can_render"]


def widgets_can_render(shell) -> bool:
    """A kernel with a comm to a frontend, and ipywidgets and bqplot installed."""
    if getattr(shell, "kernel", None) is None:
        return False
    return all(importlib.util.find_spec(m) is not None for m in ("ipywidgets", "bqplot"))


def live_command(magics, argline: str):
    """`%carbon live`: display the live widget (or a text snapshot where widgets cannot render)."""
    if argline.strip():
        raise UsageError(f"%carbon live takes no arguments (got {argline.strip()!r})")
    return show(magics)


def live_cell_start(magics):
    """Called from pre_run_cell for `%%carbon --live`: the widget goes above the cell's output."""
    return show(magics)


def show(magics):
    session = magics.session
    if not widgets_can_render(magics.shell):
        print(text_summary(_latest_message(session)) + "  (widgets need a Jupyter frontend: a snapshot)")
        return None
    from .updater import updater_for  # noqa: PLC0415

    updater = updater_for(session)
    updater.window_source = lambda: getattr(magics, "_window", None)  # the running cell's start mark
    view = updater.view()
    display(view.displayable(text_summary(updater.last_message)))
    return None


def _latest_message(session) -> dict:
    fine = session.sampler.fine
    snap = fine[-1] if fine else session.sampler.snapshot()
    return session.sample_message(snap)
