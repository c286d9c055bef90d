"""An SVG badge ("CO₂e | 12.3 g") for a README, in the flat shields.io style.

Widths are estimated from character counts (no font metrics needed); all text is escaped.
"""
from __future__ import annotations

from ..units import fmt_mass_g
from .display import html_text, measured_text
from .model import Report

_CHAR_PX = 7.0
_PAD_PX = 10
ESTIMATED_COLOUR = "#757575"


def _width(text: str) -> int:
    return int(round(len(text) * _CHAR_PX)) + 2 * _PAD_PX


def svg(label: str, value: str, title: str | None = None, colour: str = "#2e7d32") -> str:
    e = html_text
    lw, vw = _width(label), _width(value)
    w = lw + vw
    title = title or f"{label}: {value}"
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="20" role="img" '
            f'aria-label="{e(title)}"><title>{e(title)}</title>'
            f'<rect width="{lw}" height="20" fill="#555"/><rect x="{lw}" width="{vw}" height="20" fill="{colour}"/>'
            '<g fill="#fff" text-anchor="middle" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11">'
            f'<text x="{lw / 2:g}" y="14">{e(label)}</text><text x="{lw + vw / 2:g}" y="14">{e(value)}</text>'
            "</g></svg>\n")


def estimate_word(totals: dict) -> str | None:
    """`estimated` when no energy came from hardware, `partly estimated` when some did not, else None."""
    cells_j = totals.get("cells_energy_j") or 0.0
    if cells_j <= 0:
        return None
    hardware = (totals.get("measured_energy_j") or 0.0) + (totals.get("sampled_energy_j") or 0.0)
    if hardware / cells_j <= 0.0005:
        return "estimated"
    return None if hardware / cells_j >= 0.9995 else "partly estimated"


def render(report: Report) -> str:
    """The badge says `estimated` (and turns grey) when the energy behind it is a model's."""
    value = fmt_mass_g(report.totals["emissions_g"])
    word = estimate_word(report.totals)
    shown = f"{value} {word}" if word else value
    scopes = {r.scope for r in report.records}
    share = ""
    if "process" in scopes:
        share = " (this kernel's share of shared devices)" if scopes == {"process"} else (
            " (partly this kernel's share of shared devices)")
    title = f"CO₂e of {report.project_name}: {value} ({measured_text(report.totals)}){share}"
    return svg("CO₂e", shown, title=title, colour=ESTIMATED_COLOUR if word == "estimated" else "#2e7d32")
