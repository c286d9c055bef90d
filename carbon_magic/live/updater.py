"""One updater per session: pulls new samples, decimates once, and pushes them to the live widgets.

Threads: the updater is a sampler listener, so updates run on the sampler thread at about 1 Hz
and keep coming while the main thread is busy in a cell. They only assign widget traits, each
view's marks inside their `hold_sync()` (one `update` comm message per changed widget per tick);
they never print or display. Cell records arrive on the main thread and are only queued here;
the sampler thread is the single writer of the widgets (the first push of a new view, on the
main thread, holds the same lock). If the main thread holds the lock when a tick comes, that
tick is skipped rather than making the sampler wait.

The session owns the data (the sampler's bounded deques); the updater keeps a bounded numpy copy
(`PlotStore`) so that an update costs the same after a minute or after a week.

Two kinds: the session's updater (`updater_for`, `%carbon live`) follows the kernel for as long
as it lives; a cell's updater (`LiveUpdater(session, cell=window)`, `%%carbon --live`) plots from
the cell's start, counts energy from there, and `finish(record)` freezes it when the cell ends: one
last update up to the cell's end, the readout showing the record's own numbers, then it detaches,
so its widgets never change again.
"""
from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..record import unix_from_iso
from .decimate import DEFAULT_MAX_POINTS, DEFAULT_RECENT_S, decimate_indices, step_indices
from .store import PlotStore
from .text import final_readout_html, intensity_legend, is_measured, readout_html

if TYPE_CHECKING:
    from ..session import Window

log = logging.getLogger("carbon_magic")

UPDATE_PERIOD_S = 0.75  # with the default 0.5 s sampler interval: one update per second
MAX_CELLS = 100  # cell marks kept on the chart (older ones are still in the table and ledger)
LABEL_Y = 0.97  # cell labels near the top of the plot (0..1 scale)
STOPPED_NOTE = "<div style='padding:0 8px;opacity:.75'><i>stopped: carbon_magic was unloaded</i></div>"

_UPDATERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # session -> LiveUpdater


def updater_for(session) -> LiveUpdater:
    """The session's one updater, attached on first use; detached when the session closes."""
    u = _UPDATERS.get(session)
    if u is None or not u.attached:
        u = LiveUpdater(session).attach()
        _UPDATERS[session] = u
    return u


def to_dates(unix_s) -> np.ndarray:
    """Unix seconds to datetime64[ms] (what bqplot's DateScale takes)."""
    return np.round(np.asarray(unix_s, dtype=float) * 1000.0).astype("int64").astype("datetime64[ms]")


def cell_text(label, execution_count) -> str:
    if label:
        return str(label)
    return f"[{execution_count}]" if execution_count is not None else "cell"


@dataclass
class Frame:
    """What every view shows after one update, computed once."""

    x: np.ndarray
    measured: np.ndarray  # (k_measured, n)
    estimated: np.ndarray  # (k_estimated, n)
    intensity_x: np.ndarray
    intensity: np.ndarray
    legend: str
    cells: tuple  # ((start_s, end_s or None, text), ...)
    readout: str


def _rows(y: np.ndarray) -> np.ndarray:
    """One line as a 1-D array, several as (k, n): what bqplot's Lines expects."""
    return y[0] if y.shape[0] == 1 else y


class LiveUpdater:
    def __init__(self, session, max_points: int = DEFAULT_MAX_POINTS, recent_s: float = DEFAULT_RECENT_S,
                 period_s: float = UPDATE_PERIOD_S, store: PlotStore | None = None, cell=None):
        self.session = session
        self.cell = cell  # the running cell's Window for a cell's view; None: the session's view
        self.finished = False  # a cell's view after finish(): frozen
        # A cell's readout counts from its start: the session's running totals then.
        self._base_j = session.cumulative_energy_j if cell is not None else 0.0
        self._base_g = session.cumulative_emissions_g if cell is not None else 0.0
        sources = list(session.sampler.sources)
        self.names = [s.name for s in sources]
        self.measured_rows = [i for i, s in enumerate(sources) if is_measured(s.method)]
        self.estimated_rows = [i for i, s in enumerate(sources) if not is_measured(s.method)]
        self.store = store or PlotStore(len(self.names), recent_s=recent_s)
        self.max_points = max_points
        self.recent_s = recent_s
        self.period_s = period_s
        self.views: list = []
        self.last_message: dict | None = None
        self.window_source: Callable[[], Window | None] | None = None  # the running cell's open Window
        self.attached = False
        self.updates = 0
        self.skipped = 0  # ticks dropped because the main thread was updating
        self.cpu_s = 0.0  # CPU time spent in updates, on whichever thread ran them (the kernel's cost)
        self._lock = threading.Lock()
        self._last_t = float("-inf")  # monotonic time of the newest sample in the store
        self._first = cell.start if cell is not None else session.sampler.first  # the store's first row
        self._cells: list[tuple] = []  # finished cells (start_s, end_s, text); appended on the main thread
        # Bound once: Sampler.remove_listener compares by identity.
        self._listener = self._on_sample
        self._record_listener = self._on_record
        self._close_listener = self.detach

    # -- wiring --------------------------------------------------------------------------
    def attach(self) -> LiveUpdater:
        if self.attached or self.finished:
            return self
        for rec in (self.session.records if self.cell is None else ()):
            self._on_record(rec)
        with self._lock:
            self._pull()
        self.session.sampler.add_listener(self._listener, period_s=self.period_s)
        self.session.record_listeners.append(self._record_listener)
        self.session.close_listeners.append(self._close_listener)
        self.attached = True
        return self

    def detach(self) -> None:
        """Stop updating (the session closes, e.g. on %unload_ext). Displayed views keep their last data."""
        self.session.sampler.remove_listener(self._listener)
        for lst, fn in ((self.session.record_listeners, self._record_listener),
                        (self.session.close_listeners, self._close_listener)):
            if fn in lst:
                lst.remove(fn)
        self.attached = False
        if _UPDATERS.get(self.session) is self:
            del _UPDATERS[self.session]
        with self._lock:  # waits for an update in flight on the sampler thread, then says so
            if self.finished:
                return  # a finished cell's view already says it ended
            for v in self.views:
                if v.alive:
                    v.readout.value = v.sent.get("readout", "") + STOPPED_NOTE

    def finish(self, record=None) -> None:
        """A cell's view, when its cell ends: one last update with the samples up to the cell's end
        and the record's numbers in the readout (`final: 55 J · … (cell ended)`), then detached.
        `record` None: the cell's record could not be made; the view still stops."""
        with self._lock:
            if self.finished:
                return
            try:
                self._pull()
                self.views = [v for v in self.views if v.alive]
                if self.views:
                    frame = self.frame(final=True, record=record)
                    for v in self.views:
                        self._push(v, frame)
            finally:
                self.finished = True  # whatever happened above, no update after this
        self.detach()

    def view(self):
        """The live widgets (built on first use, or again if closed), brought up to date now."""
        from .figure import LiveFigure  # noqa: PLC0415 - widgets are imported only when shown

        with self._lock:
            self.views = [v for v in self.views if v.alive]
            if not self.views:
                self.views.append(LiveFigure([self.names[i] for i in self.measured_rows],
                                             [self.names[i] for i in self.estimated_rows]))
            view = self.views[-1]
            self._update_locked()
        return view

    # -- listeners -----------------------------------------------------------------------
    def _on_sample(self, snap) -> None:
        """Sampler thread, about every `period_s`."""
        self.update(blocking=False)

    def _on_record(self, record) -> None:
        """Main thread, after each measured cell: only queue the cell mark."""
        try:
            span = (unix_from_iso(record.started_at), unix_from_iso(record.ended_at),
                    cell_text(record.label, record.execution_count))
        except (TypeError, ValueError):
            return
        self._cells.append(span)
        if len(self._cells) > 2 * MAX_CELLS:
            del self._cells[:-MAX_CELLS]

    # -- updating ------------------------------------------------------------------------
    def update(self, blocking: bool = True) -> bool:
        if not self._lock.acquire(blocking=blocking):
            self.skipped += 1
            return False
        t0 = time.thread_time()
        try:
            if self.finished:  # a tick already on its way when the cell ended
                return False
            self._update_locked()
            return True
        finally:
            self.cpu_s += time.thread_time() - t0
            self._lock.release()

    def _update_locked(self) -> None:
        self._pull()
        self.views = [v for v in self.views if v.alive]
        if self.views:
            frame = self.frame()
            for v in self.views:
                self._push(v, frame)
        self.updates += 1

    def _pull(self) -> None:
        """Move the samples the store has not seen from the sampler's deques into the store."""
        sampler = self.session.sampler
        new = sampler.window(max(self._last_t, self._first.t), float("inf"))  # coarse first where fine moved on
        if self._last_t < self._first.t:
            new.insert(0, self._first)  # the session's (or the cell's) first reading
        if not new:
            return
        msgs = [self._message(s) for s in new]
        nan = float("nan")
        power = [[m["power_w"].get(name, nan) for m in msgs] for name in self.names]
        self.store.extend([m["t"] for m in msgs], power, [m["intensity_g_per_kwh"] for m in msgs])
        self._last_t = new[-1].t
        self.last_message = msgs[-1]

    def _message(self, snap) -> dict:
        """The session's sample message; for a cell's view, energy and CO₂e counted from the cell's start."""
        msg = self.session.sample_message(snap)
        if self.cell is not None:
            msg["energy_j"] = max(0.0, msg["energy_j"] - self._base_j)
            msg["emissions_g"] = max(0.0, msg["emissions_g"] - self._base_g)
        return msg

    def frame(self, final: bool = False, record=None) -> Frame:
        """What the views show now; `final`: a finished cell's last frame (up to its record's end)."""
        st = self.store
        end = unix_from_iso(record.ended_at) if record is not None else None
        n = st.n if end is None else int(np.searchsorted(st.t, end, side="right"))
        t, power, intensity = st.t[:n], st.power[:, :n], st.intensity[:n]
        idx = decimate_indices(t, power, self.max_points, self.recent_s)
        sidx = step_indices(intensity)
        msg = self.last_message or {}
        if self.cell is not None:
            # The execution count is the record's: at pre_run_cell, IPython 9 has already moved on.
            label = cell_text(self.cell.label, None if record is None else record.execution_count)
            cells = ((self.cell.start.wall, end, label),)
        else:
            cells = self._visible_cells(t[0] if n else float("-inf"))
        return Frame(
            x=to_dates(t[idx]), measured=power[self.measured_rows][:, idx],
            estimated=power[self.estimated_rows][:, idx], intensity_x=to_dates(t[sidx]),
            intensity=intensity[sidx].copy(), legend=intensity_legend(msg.get("intensity")),
            cells=cells, readout=final_readout_html(record) if final else readout_html(msg),
        )

    def _visible_cells(self, t0: float) -> tuple:
        cells = [c for c in list(self._cells) if c[1] >= t0][-MAX_CELLS:]
        window = self.window_source() if self.window_source else None
        if window is not None:
            cells.append((window.start.wall, None, cell_text(window.label, window.execution_count)))
        return tuple(cells)

    def _push(self, view, frame: Frame) -> None:
        """Assign the frame to one view's widgets: at most one update message per widget."""
        sent = view.sent
        with ExitStack() as stack:
            for w in (*view.marks, view.readout):
                stack.enter_context(w.hold_sync())
            if len(frame.x) >= 2:  # a line needs two points (and bqplot squeezes (k, 1) arrays)
                if self.measured_rows:
                    view.measured.x, view.measured.y = frame.x, _rows(frame.measured)
                if self.estimated_rows:
                    view.estimated.x, view.estimated.y = frame.x, _rows(frame.estimated)
                view.intensity.x, view.intensity.y = frame.intensity_x, frame.intensity
            if sent.get("legend") != frame.legend:
                view.intensity.labels = [frame.legend]
                sent["legend"] = frame.legend
            if sent.get("cells") != frame.cells:
                self._push_cells(view, frame.cells)
                sent["cells"] = frame.cells
            if sent.get("readout") != frame.readout:
                view.readout.value = frame.readout
                sent["readout"] = frame.readout

    @staticmethod
    def _push_cells(view, cells: tuple) -> None:
        edges = [c[0] for c in cells] + [c[1] for c in cells if c[1] is not None]
        if not edges:
            view.cell_lines.visible = view.cell_labels.visible = False
            return
        xs = to_dates(edges)
        view.cell_lines.x = np.stack([xs, xs], axis=1)
        view.cell_lines.y = np.tile([0.0, 1.0], (len(edges), 1))
        view.cell_labels.x = to_dates([c[0] for c in cells])
        view.cell_labels.y = np.full(len(cells), LABEL_Y)
        view.cell_labels.text = np.array([c[2] for c in cells])
        view.cell_lines.visible = view.cell_labels.visible = True
