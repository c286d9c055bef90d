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

The session's view has two panels (figure.py): `session`, the whole session, and `cell`, which
follows the running cell from a little before its start (`follow_range`) so that a 4 s cell
is not a sliver of an hour of history; between cells it keeps the last one in view.
"""
from __future__ import annotations

import logging
import math
import threading
import time
import weakref
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .decimate import DEFAULT_MAX_POINTS, DEFAULT_RECENT_S, decimate_indices, step_indices
from ..units import mass_unit
from .palette import component_colors
from .store import PlotStore
from .text import co2_axis_label, final_readout_html, intensity_axis_label, is_measured, legend_html, readout_html

if TYPE_CHECKING:
    from ..session import Window

log = logging.getLogger("carbon_magic")

UPDATE_PERIOD_S = 0.75  # with the default 0.5 s sampler interval: one update per second
MAX_CELLS = 100  # cell marks kept on the chart (older ones are still in the table and ledger)
LABEL_Y = 0.97  # cell labels near the top of the plot (0..1 scale)
CONTEXT_MIN_S = 5.0  # the `cell` panel shows at least this much before the cell's start ...
CONTEXT_SHARE = 0.2  # ... or this share of the cell's duration so far, whichever is longer
INTENSITY_HEADROOM = 1.15  # the intensity axis ends at least 15 % above its highest value: a flat
#                             line stays clear of the cell labels along the top
POWER_HEADROOM = 1.1
NICE_STEPS = (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0)
BEFORE_ANY_CELL_S = 60.0  # before the first cell, the `cell` panel shows the last minute
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


def nice_top(v: float) -> float | None:
    """The smallest 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 × 10^k at or above `v`: an axis end whose
    ticks read well; None for no positive value (bqplot's own range)."""
    if not (v > 0) or not math.isfinite(v):
        return None
    magnitude = 10.0 ** math.floor(math.log10(v))
    return next(step * magnitude for step in NICE_STEPS if step * magnitude >= v * (1 - 1e-12))


def _top(values, headroom: float) -> float | None:
    shown = values[np.isfinite(values)]
    return nice_top(float(shown.max()) * headroom) if shown.size else None


def follow_range(start_s: float, end_s: float | None, newest_s: float) -> tuple[float, float]:
    """(first, last) wall seconds the `cell` panel spans: the cell from a little before its start
    (CONTEXT_MIN_S, or CONTEXT_SHARE of its duration so far) to the newest sample."""
    span = max(0.0, (newest_s if end_s is None else end_s) - start_s)
    context = max(CONTEXT_MIN_S, CONTEXT_SHARE * span)
    return start_s - context, max(newest_s, start_s if end_s is None else end_s)


def spread_cumulative(prev_g: float, end_g: float, prev_wall, walls, power_w, intensity) -> np.ndarray:
    """Cumulative g CO₂e at each of a batch of samples, from the session's running total.

    The session keeps one running total (`end_g`, at the newest sample); a batch pulled at once
    (a view opened an hour in, a tick skipped) would otherwise plot it as one step. The increase
    since the previous row (`prev_g`) is spread over the batch in proportion to power × interval ×
    intensity, so the line has the shape of the emissions and ends exactly on the total."""
    walls = np.asarray(walls, dtype=float)
    dt = np.diff(np.r_[walls[0] if prev_wall is None else prev_wall, walls])
    w = np.nan_to_num(np.asarray(power_w, dtype=float) * np.maximum(dt, 0.0)
                      * np.asarray(intensity, dtype=float), nan=0.0)
    total = w.sum()
    if total <= 0:
        return np.full(walls.shape[0], float(end_g))
    return prev_g + (end_g - prev_g) * np.cumsum(w) / total


@dataclass
class PanelFrame:
    """What one panel shows after one update."""

    x: np.ndarray
    measured: np.ndarray  # (k_measured, n)
    estimated: np.ndarray  # (k_estimated, n)
    intensity_x: np.ndarray
    intensity: np.ndarray
    co2: np.ndarray  # cumulative CO₂e from the panel's first sample, in `co2_label`'s unit
    co2_label: str
    intensity_label: str
    cells: tuple  # ((start_s, end_s or None, text), ...)
    x_range: tuple | None  # (first, last) wall seconds; None: the data's own range
    tops: tuple = (None, None, None)  # upper ends of the power, intensity and CO₂e axes (None: bqplot's own)


@dataclass
class Frame:
    """What every view shows after one update, computed once."""

    panels: dict  # "session" (and, for the session's view, "cell") -> PanelFrame
    legend: str
    readout: str

    @property
    def session(self) -> PanelFrame:
        return self.panels["session"]


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
        self._last_g = 0.0  # the store's newest cumulative CO₂e (0 at its first row: the session's or cell's start)
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
                                             [self.names[i] for i in self.estimated_rows],
                                             follow=self.cell is None))
            view = self.views[-1]
            self._update_locked()
        return view

    # -- listeners -----------------------------------------------------------------------
    def _on_sample(self, snap) -> None:
        """Sampler thread, about every `period_s`."""
        self.update(blocking=False)

    def _on_record(self, record) -> None:
        """Main thread, after each measured cell: only queue the cell mark."""
        self._cells.append((record.start_s, record.end_s, cell_text(record.label, record.execution_count)))
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
        walls = [m["t"] for m in msgs]
        intensity = [m["intensity_g_per_kwh"] for m in msgs]
        prev_wall = self.store.t[-1] if self.store.n else None
        co2 = spread_cumulative(self._last_g, msgs[-1]["emissions_g"], prev_wall, walls,
                                [sum(m["power_w"].values()) for m in msgs], intensity)
        self.store.extend(walls, power, intensity, co2)
        self._last_g = float(co2[-1])
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
        end = record.end_s if record is not None else None
        n = st.n if end is None else int(np.searchsorted(st.t, end, side="right"))
        cols = (st.t[:n], st.power[:, :n], st.intensity[:n], st.co2[:n])
        msg = self.last_message or {}
        prov = msg.get("intensity")
        if self.cell is not None:
            # The execution count is the record's: at pre_run_cell, IPython 9 has already moved on.
            label = cell_text(self.cell.label, None if record is None else record.execution_count)
            panels = {"session": self._panel(cols, ((self.cell.start.wall, end, label),), None, prov)}
        else:
            cells = self._visible_cells(cols[0][0] if n else float("-inf"))
            panels = {"session": self._panel(cols, cells, None, prov)}
            panels["cell"] = self._cell_panel(cols, cells, prov)
        measured = [self.names[i] for i in self.measured_rows]
        estimated = [self.names[i] for i in self.estimated_rows]
        legend = legend_html(measured, estimated, component_colors(len(measured) + len(estimated)), prov)
        return Frame(panels=panels, legend=legend, readout=final_readout_html(record) if final else readout_html(msg))

    def _cell_panel(self, cols, cells: tuple, prov) -> PanelFrame:
        """The `cell` panel: the running (else the last) cell with a little context; before any
        cell, the last BEFORE_ANY_CELL_S."""
        t = cols[0]
        newest = float(t[-1]) if t.size else 0.0
        if cells:
            start, end, _ = cells[-1]
            first, last = follow_range(start, end, newest)
        else:
            first, last = newest - BEFORE_ANY_CELL_S, newest
        i = int(np.searchsorted(t, first, side="left"))
        shown = tuple(c for c in cells if c[1] is None or c[1] >= first)
        return self._panel((t[i:], cols[1][:, i:], cols[2][i:], cols[3][i:]), shown, (first, last), prov)

    def _panel(self, cols, cells: tuple, x_range, prov) -> PanelFrame:
        t, power, intensity, co2 = cols
        idx = decimate_indices(t, power, self.max_points, self.recent_s)
        sidx = step_indices(intensity)
        grams = co2[idx]
        finite = grams[np.isfinite(grams)]
        grams = grams - (finite[0] if finite.size else 0.0)  # cumulative from the panel's left edge
        factor, unit = mass_unit(float(np.nanmax(grams)) if finite.size else 0.0)
        co2 = grams / factor
        tops = (_top(power[:, idx], POWER_HEADROOM), _top(intensity, INTENSITY_HEADROOM), _top(co2, 1.0))
        return PanelFrame(
            x=to_dates(t[idx]), measured=power[self.measured_rows][:, idx],
            estimated=power[self.estimated_rows][:, idx], intensity_x=to_dates(t[sidx]),
            intensity=intensity[sidx].copy(), co2=co2, co2_label=co2_axis_label(unit),
            intensity_label=intensity_axis_label(prov), cells=cells, x_range=x_range, tops=tops,
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
            for w in (*view.marks, view.readout, view.legend):
                stack.enter_context(w.hold_sync())
            for name, panel in (("session", view.session), ("cell", view.cell)):
                if panel is not None:
                    self._push_panel(panel, frame.panels[name])
            if sent.get("legend") != frame.legend:
                view.legend.value = frame.legend
                sent["legend"] = frame.legend
            if sent.get("readout") != frame.readout:
                view.readout.value = frame.readout
                sent["readout"] = frame.readout

    def _push_panel(self, panel, pf: PanelFrame) -> None:
        sent = panel.sent
        if len(pf.x) >= 2:  # a line needs two points (and bqplot squeezes (k, 1) arrays)
            if self.measured_rows:
                panel.measured.x, panel.measured.y = pf.x, _rows(pf.measured)
            if self.estimated_rows:
                panel.estimated.x, panel.estimated.y = pf.x, _rows(pf.estimated)
            panel.intensity.x, panel.intensity.y = pf.intensity_x, pf.intensity
            panel.co2.x, panel.co2.y = pf.x, pf.co2
        for key, widget, value in (("intensity_label", panel.intensity_axis, pf.intensity_label),
                                   ("co2_label", panel.co2_axis, pf.co2_label)):
            if sent.get(key) != value:
                widget.label = value
                sent[key] = value
        if sent.get("tops") != pf.tops:
            for scale, top in zip((panel.power_scale, panel.intensity_scale, panel.co2_scale), pf.tops):
                scale.max = top
            sent["tops"] = pf.tops
        if sent.get("x_range") != pf.x_range:
            with panel.x_scale.hold_sync():
                if pf.x_range is None:
                    panel.x_scale.min = panel.x_scale.max = None
                else:
                    panel.x_scale.min, panel.x_scale.max = (to_dates([v])[0] for v in pf.x_range)
            sent["x_range"] = pf.x_range
        if sent.get("cells") != pf.cells:
            self._push_cells(panel, pf.cells)
            sent["cells"] = pf.cells

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
