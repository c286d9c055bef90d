"""The colours of the live views: one meaning each, the same in the JupyterLab sidebar.

power is every power line (the first component; further components take the other shades of
COMPONENT_COLORS, none of which is the intensity's or the CO₂'s colour), intensity is the grid's
g/kWh, co2 is grams CO₂e. labextension/src/palette.ts holds the same three values;
tests/test_palette.py reads both files and fails if they differ.
"""
from __future__ import annotations

PALETTE = {
    "power": "#1f77b4",
    "intensity": "#ff7f0e",
    "co2": "#5d4037",
}
COMPONENT_COLORS = [PALETTE["power"], "#17becf", "#9467bd", "#2ca02c", "#e377c2", "#7f7f7f", "#bcbd22", "#393b79"]
CELL_COLOR = "#7f7f7f"
