"""One palette on both sides: the live widget (Python) and the JupyterLab sidebar (TypeScript)
give power, intensity and CO₂ the same colours."""
from __future__ import annotations

import re
from pathlib import Path

from carbon_magic.live.palette import COMPONENT_COLORS, PALETTE

TS_PALETTE = Path(__file__).resolve().parent.parent / "labextension" / "src" / "palette.ts"


def ts_palette() -> dict[str, str]:
    body = TS_PALETTE.read_text(encoding="utf-8").split("export const PALETTE", 1)[1].split("}", 1)[0]
    return {k: v.lower() for k, v in re.findall(r"(\w+)\s*:\s*'(#[0-9A-Fa-f]{6})'", body)}


def test_sidebar_and_live_widget_use_the_same_colours():
    assert ts_palette() == {k: v.lower() for k, v in PALETTE.items()}
    assert set(PALETTE) == {"power", "intensity", "co2"}


def test_each_colour_has_one_meaning():
    assert len(set(PALETTE.values())) == 3
    assert COMPONENT_COLORS[0] == PALETTE["power"]
    assert PALETTE["intensity"] not in COMPONENT_COLORS and PALETTE["co2"] not in COMPONENT_COLORS


def test_the_live_widget_draws_with_the_palette():
    from carbon_magic.live.figure import LiveFigure

    fig = LiveFigure(["cpu:package-0", "gpu:0"], ["ram"])
    try:
        assert fig.session.measured.colors[0] == PALETTE["power"]
        assert fig.session.intensity.colors == [PALETTE["intensity"]]
        assert PALETTE["intensity"] not in fig.session.measured.colors + fig.session.estimated.colors
    finally:
        fig.close()
