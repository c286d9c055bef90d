"""The live widget: power by component against grid intensity, with cell marks and running totals.

`%carbon live` shows the session's view, which follows the kernel for as long as it lives.
`%%carbon --live` shows the cell's own view above its output (from the pre_run_cell hook): it
plots and counts from the cell's start, keeps updating while the cell runs (updates come from the
sampler thread), and when the cell ends it freezes on the cell's record (`final: 55 J · …
(cell ended)`) and stops updating. Where widgets cannot render (a terminal IPython, no
ipywidgets/bqplot) a one-line text snapshot is printed instead; nbconvert and frontends without
the widget manager get the same text inside the displayed bundle (a cell's: its final numbers).
Nothing here imports bqplot or ipywidgets until a view is shown.
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


def live_cell_start(magics, window):
    """Called from pre_run_cell for `%%carbon --live`: the cell's own view goes above its output.

    Returns a `CellView` whose `finish(record)` the post_run_cell hook calls (None where widgets
    cannot render: then a text snapshot was printed)."""
    session = magics.session
    if not widgets_can_render(magics.shell):
        print(text_summary(_latest_message(session)) + "  (widgets need a Jupyter frontend: a snapshot)")
        return None
    from .updater import LiveUpdater  # noqa: PLC0415 - numpy and the chart only when one is shown

    updater = LiveUpdater(session, cell=window).attach()
    view = updater.view()
    handle = display(view.displayable(text_summary(updater.last_message)), display_id=True)
    return CellView(updater, view, handle)


class CellView:
    """A `%%carbon --live` cell's view while its cell runs."""

    def __init__(self, updater, view, handle):
        self.updater, self.view, self.handle = updater, view, handle

    def finish(self, record) -> None:
        """The cell ended: freeze the widgets on `record` (None: no record) and stop updating; the
        displayed text fallback (nbconvert, frontends without widgets) gets the final numbers too."""
        from .text import final_text  # noqa: PLC0415 - only at the end of a live cell

        self.updater.finish(record)
        if self.handle is not None:
            self.handle.update(self.view.displayable("carbon_magic live: " + final_text(record)))


def show(magics):
    session = magics.session
    if not widgets_can_render(magics.shell):
        print(text_summary(_latest_message(session)) + "  (widgets need a Jupyter frontend: a snapshot)")
        return None
    from .updater import updater_for  # noqa: PLC0415 - numpy and the chart only when one is shown

    updater = updater_for(session)
    updater.window_source = lambda: getattr(magics, "_window", None)  # the running cell's start mark
    view = updater.view()
    display(view.displayable(text_summary(updater.last_message)))
    return None


def _latest_message(session) -> dict:
    fine = session.sampler.fine
    snap = fine[-1] if fine else session.sampler.snapshot()
    return session.sample_message(snap)
