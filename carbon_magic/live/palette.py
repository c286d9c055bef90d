"""The colours of the live views: one meaning each, the same in the JupyterLab sidebar.

power is every power line (the first component; further components take the other shades of
COMPONENT_COLORS, none of which is the intensity's or the CO₂'s colour), intensity is the grid's
g/kWh, co2 is grams CO₂e. labextension/src/palette.ts holds the same three values;
tests/test_palette.py reads both files and fails if they differ. Each colour keeps a contrast
of at least 3:1 on JupyterLab's light and dark backgrounds (white, #111111), as lines need.
"""
from __future__ import annotations

PALETTE = {
    "power": "#1f77b4",
    "intensity": "#ff7f0e",
    "co2": "#8c564b",
}
COMPONENT_COLORS = [PALETTE["power"], "#17becf", "#9467bd", "#2ca02c", "#e377c2", "#7f7f7f", "#bcbd22", "#393b79"]
CELL_COLOR = "#7f7f7f"


def component_colors(n: int) -> list[str]:
    """Colours for `n` power lines, measured first then estimated (COMPONENT_COLORS, repeated)."""
    return (COMPONENT_COLORS * (1 + n // len(COMPONENT_COLORS)))[: max(n, 1)]
