"""The widgets of one live view: bqplot panels (power, grid intensity, cell marks, cumulative CO₂e),
a legend, a readout and, in the session's view, a `cell | session` toggle.

Imported only when a live view is shown, so `%load_ext carbon_magic` never imports bqplot or
ipywidgets. This module builds widgets and formats text; the updater decides what data they get.

Layout:
- above the plots: the legend, an HTML row outside the plot area (a bqplot legend sits on the
  data and on the cell marks), and in the session's view the `cell | session` toggle;
- a panel: one time scale shared by two bqplot Figures. The upper one has power on the left axis,
  W (one solid line per measured component, one dashed line per estimated one), grid intensity on
  the right axis as a step line, the axis label saying where it comes from
  (`g CO₂e/kWh · FR, Electricity Maps, live`), and the cell boundaries (dotted lines labelled
  with the cell's label or `[execution count]`, on a fixed 0..1 y scale so they span the height).
  The lower one, short, has the cumulative CO₂e from the chart's left edge as a line, in mg, g or
  kg by its size (units.mass_unit);
- the session's view has two panels in a Stack: `cell` follows the running cell (its start, a
  little context before it, up to the newest sample) or, between cells, the last one (before any
  cell: the last minute); `session` spans the whole session. The toggle switches them in the browser (`jslink`), so it works while
  the kernel is busy running the cell. A cell's own view (`%%carbon --live`) has one panel;
- colours from palette.py, shared with the JupyterLab sidebar (power blue, intensity orange).
"""
from __future__ import annotations

import html

import bqplot as bq
import ipywidgets as widgets

from .palette import CELL_COLOR, PALETTE, component_colors
from .text import co2_axis_label, intensity_axis_label, legend_html

INTENSITY_COLOR = PALETTE["intensity"]
CO2_COLOR = PALETTE["co2"]
MARGIN = {"top": 10, "bottom": 30, "left": 60, "right": 60}  # both figures: their time axes line up
TIME_FORMAT = "%H:%M:%S"  # local time, also for a few seconds (bqplot's default then is ":01 :02")
VIEW_MODES = ("cell", "session")


class Panel:
    """One time scale, two Figures: power and intensity above, cumulative CO₂e below."""

    def __init__(self, name: str, measured: list[str], estimated: list[str], colors: list[str], height: str):
        self.name = name
        self.x_scale = bq.DateScale()
        # From 0, not padded below it, to a round top the updater sets (updater.nice_top).
        self.power_scale = bq.LinearScale(min=0.0, allow_padding=False)
        self.intensity_scale = bq.LinearScale(min=0.0, allow_padding=False)
        self.co2_scale = bq.LinearScale(min=0.0, allow_padding=False)
        self.unit_scale = bq.LinearScale(min=0.0, max=1.0)  # cell marks span the plot height
        self.measured = bq.Lines(
            x=[], y=[], scales={"x": self.x_scale, "y": self.power_scale},
            labels=[f"{n} W" for n in measured] or ["measured W"], colors=colors[: len(measured)] or colors[:1],
            display_legend=False, visible=bool(measured), stroke_width=1.5,
        )
        self.estimated = bq.Lines(
            x=[], y=[], scales={"x": self.x_scale, "y": self.power_scale},
            labels=[f"{n} W (estimated)" for n in estimated] or ["estimated W"],
            colors=colors[len(measured):] or colors[:1],
            line_style="dashed", display_legend=False, visible=bool(estimated), stroke_width=1.5,
        )
        self.intensity = bq.Lines(
            x=[], y=[], scales={"x": self.x_scale, "y": self.intensity_scale}, colors=[INTENSITY_COLOR],
            interpolation="step-after", display_legend=False, stroke_width=1.5, opacities=[0.8],
        )
        self.co2 = bq.Lines(x=[], y=[], scales={"x": self.x_scale, "y": self.co2_scale}, colors=[CO2_COLOR],
                            display_legend=False, stroke_width=1.5)
        self.cell_lines = bq.Lines(
            x=[], y=[], scales={"x": self.x_scale, "y": self.unit_scale}, colors=[CELL_COLOR],
            line_style="dotted", stroke_width=1, visible=False, preserve_domain={"x": False, "y": True},
        )
        self.cell_labels = bq.Label(
            x=[], y=[], text=[], scales={"x": self.x_scale, "y": self.unit_scale}, colors=[CELL_COLOR],
            default_size=11, font_weight="normal", x_offset=3, visible=False,
        )
        self.intensity_axis = bq.Axis(scale=self.intensity_scale, side="right", label=intensity_axis_label(None),
                                      grid_lines="none", label_color=INTENSITY_COLOR,
                                      label_offset="45px")
        self.co2_axis = bq.Axis(scale=self.co2_scale, side="left", label=co2_axis_label("mg"), grid_lines="dashed",
                                label_color=CO2_COLOR, label_offset="45px", num_ticks=3,  # 0, half, top
                                tick_format=".3~g")
        axes = [bq.Axis(scale=self.x_scale, grid_lines="none", tick_format=TIME_FORMAT, num_ticks=5),
                bq.Axis(scale=self.power_scale, side="left", label="power, W", grid_lines="dashed",
                        label_offset="45px", label_color=PALETTE["power"]),
                self.intensity_axis]
        co2_axes = [bq.Axis(scale=self.x_scale, grid_lines="none", tick_format=TIME_FORMAT, num_ticks=5),
                    self.co2_axis]
        layout = dict(width="100%")
        self.figure = bq.Figure(
            marks=[self.cell_lines, self.cell_labels, self.intensity, self.measured, self.estimated],
            axes=axes, animation_duration=0, fig_margin=MARGIN, layout=widgets.Layout(height=height, **layout),
        )
        self.co2_figure = bq.Figure(marks=[self.co2], axes=co2_axes, animation_duration=0, fig_margin=MARGIN,
                                    layout=widgets.Layout(height="120px", **layout))
        self.box = widgets.VBox([self.figure, self.co2_figure], layout=widgets.Layout(width="100%"))
        self.box.add_class(f"cm-live-{name}")  # for the browser tests
        self.marks = [self.measured, self.estimated, self.intensity, self.co2, self.cell_lines, self.cell_labels]
        self.sent: dict = {}  # what the updater last pushed to this panel (cells, range, labels)
        self.widgets = [self.box, self.figure, self.co2_figure, *self.marks, *axes, *co2_axes, self.x_scale,
                        self.power_scale, self.intensity_scale, self.co2_scale, self.unit_scale]


class LiveFigure:
    """One set of widgets. Displaying it several times shows several views of the same models.

    `follow`: the session's view, with a `cell` panel that follows the running cell and a
    `session` panel, switched by the toggle; otherwise (a cell's own view) one panel."""

    def __init__(self, measured: list[str], estimated: list[str], height: str = "260px", follow: bool = False):
        self.measured_names = list(measured)
        self.estimated_names = list(estimated)
        self.colors = component_colors(len(measured) + len(estimated))
        # `session`: everything the updater plots (the session, or for a cell's own view the cell).
        self.session = Panel("session" if follow else "own", measured, estimated, self.colors, height)
        self.cell = Panel("cell", measured, estimated, self.colors, height) if follow else None
        self.panels = [p for p in (self.cell, self.session) if p is not None]
        self.legend = widgets.HTML(value=legend_html(measured, estimated, self.colors, None))
        self.readout = widgets.HTML(value="", layout=widgets.Layout(width="230px", flex="0 0 auto"))
        self.readout.add_class("cm-live-readout")
        top: list = [self.legend]
        extra: list = []
        if follow:
            self.toggle = widgets.ToggleButtons(
                options=list(VIEW_MODES), value="cell", style={"button_width": "70px"},
                tooltips=["the running cell, or the last one, with a little context before it", "the whole session"],
                layout=widgets.Layout(flex="0 0 auto"))
            assert self.cell is not None  # made above when following
            self.stack = widgets.Stack([self.cell.box, self.session.box], selected_index=0,
                                       layout=widgets.Layout(width="100%"))
            # In the browser: switching works while the kernel is busy in the cell being followed.
            self.link = widgets.jslink((self.toggle, "index"), (self.stack, "selected_index"))
            top.insert(0, self.toggle)
            charts = [self.stack]
            extra = [self.toggle, self.stack, self.link]
        else:
            self.toggle = self.stack = self.link = None
            charts = [self.session.box]
        # The chart takes the width the readout leaves; in a narrow output the readout wraps below.
        self.chart = widgets.Box(charts, layout=widgets.Layout(flex="1 1 420px", min_width="320px"))
        self.header = widgets.HBox(top, layout=widgets.Layout(align_items="center", flex_flow="row wrap"))
        self.body = widgets.HBox([self.chart, self.readout], layout=widgets.Layout(width="100%", flex_flow="row wrap"))
        self.box = widgets.VBox([self.header, self.body], layout=widgets.Layout(width="100%"))
        self.box.add_class("cm-live")
        self.sent: dict = {}  # what the updater last pushed (legend, readout), to skip repeats
        self._all = [self.box, self.header, self.body, self.chart, self.legend, self.readout, *extra,
                     *(w for p in self.panels for w in p.widgets)]

    @property
    def marks(self) -> list:
        return [m for p in self.panels for m in p.marks]

    @property
    def alive(self) -> bool:
        """False once any of its widgets was closed (e.g. `Widget.close_all()`)."""
        return all(w.comm is not None for w in self._all)

    def close(self) -> None:
        for w in self._all:
            w.close()

    def displayable(self, text: str):
        """What to `display()`: the widget view, with a text snapshot for frontends without widgets."""
        return _WithFallback(self.box, text)


class _WithFallback:
    """The box's widget-view bundle plus text/plain and text/html (nbconvert, VS Code without widgets)."""

    def __init__(self, box, text: str):
        self.box = box
        self.text = text

    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = dict(self.box._repr_mimebundle_(include=include, exclude=exclude) or {})
        bundle["text/plain"] = self.text
        bundle["text/html"] = "<pre>" + html.escape(self.text) + "</pre>"
        return bundle
