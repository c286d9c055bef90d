"""The widgets of one live view: a bqplot Figure (power, grid intensity, cell marks) and a readout.

Imported only when a live view is shown, so `%load_ext carbon_magic` never imports bqplot or
ipywidgets. This module builds widgets and formats text; the updater decides what data they get.

Layout of the Figure:
- left axis, W: one solid line per measured component (RAPL/NVML counters, sampled power) in one
  mark, one dashed line per estimated component in another, so the two are told apart at a glance;
- right axis, g CO₂e/kWh: the grid intensity as a step line, its provenance in the legend;
- colours from palette.py, shared with the JupyterLab sidebar (power blue, intensity orange);
- cell boundaries: a dotted vertical line at each cell's start and end, labelled with the cell's
  label or `[execution count]` (on a fixed 0..1 y scale, so they span the plot height).
"""
from __future__ import annotations

import html

import bqplot as bq
import ipywidgets as widgets

from .palette import CELL_COLOR, COMPONENT_COLORS, PALETTE
from .text import intensity_legend

INTENSITY_COLOR = PALETTE["intensity"]


class LiveFigure:
    """One set of widgets. Displaying it several times shows several views of the same models."""

    def __init__(self, measured: list[str], estimated: list[str], height: str = "300px"):
        self.measured_names = list(measured)
        self.estimated_names = list(estimated)
        self.x_scale = bq.DateScale()
        self.power_scale = bq.LinearScale(min=0.0)
        self.intensity_scale = bq.LinearScale(min=0.0)
        self.unit_scale = bq.LinearScale(min=0.0, max=1.0)  # cell marks span the plot height
        colors = COMPONENT_COLORS * (1 + (len(measured) + len(estimated)) // len(COMPONENT_COLORS))
        self.measured = bq.Lines(
            x=[], y=[], scales={"x": self.x_scale, "y": self.power_scale},
            labels=[f"{n} W" for n in measured] or ["measured W"], colors=colors[: max(1, len(measured))],
            display_legend=bool(measured), visible=bool(measured), stroke_width=1.5,
        )
        self.estimated = bq.Lines(
            x=[], y=[], scales={"x": self.x_scale, "y": self.power_scale},
            labels=[f"{n} W (estimated)" for n in estimated] or ["estimated W"],
            colors=colors[len(measured): len(measured) + max(1, len(estimated))],
            line_style="dashed", display_legend=bool(estimated), visible=bool(estimated), stroke_width=1.5,
        )
        self.intensity = bq.Lines(
            x=[], y=[], scales={"x": self.x_scale, "y": self.intensity_scale},
            labels=[intensity_legend(None)], colors=[INTENSITY_COLOR], interpolation="step-after",
            display_legend=True, stroke_width=1.5, opacities=[0.8],
        )
        self.cell_lines = bq.Lines(
            x=[], y=[], scales={"x": self.x_scale, "y": self.unit_scale}, colors=[CELL_COLOR],
            line_style="dotted", stroke_width=1, visible=False, preserve_domain={"x": False, "y": True},
        )
        self.cell_labels = bq.Label(
            x=[], y=[], text=[], scales={"x": self.x_scale, "y": self.unit_scale}, colors=[CELL_COLOR],
            default_size=11, font_weight="normal", x_offset=3, visible=False,
        )
        axes = [
            bq.Axis(scale=self.x_scale, label="time", grid_lines="none"),
            bq.Axis(scale=self.power_scale, side="left", label="W", grid_lines="dashed"),
            bq.Axis(scale=self.intensity_scale, side="right", label="g CO₂e/kWh",
                    grid_lines="none", color=INTENSITY_COLOR, label_color=INTENSITY_COLOR),
        ]
        self.figure = bq.Figure(
            marks=[self.cell_lines, self.cell_labels, self.intensity, self.measured, self.estimated],
            axes=axes, animation_duration=0, legend_location="top-left",
            fig_margin={"top": 20, "bottom": 40, "left": 55, "right": 60},
            layout=widgets.Layout(flex="1 1 auto", width="auto", height=height, min_width="320px"),
        )
        self.readout = widgets.HTML(value="", layout=widgets.Layout(width="230px", flex="0 0 auto"))
        self.box = widgets.HBox([self.figure, self.readout], layout=widgets.Layout(width="100%"))
        self.marks = [self.measured, self.estimated, self.intensity, self.cell_lines, self.cell_labels]
        self.sent: dict = {}  # what the updater last pushed (legend, cells, readout), to skip repeats
        self._all = [self.box, self.figure, self.readout, *self.marks, *axes, self.x_scale,
                     self.power_scale, self.intensity_scale, self.unit_scale]

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
