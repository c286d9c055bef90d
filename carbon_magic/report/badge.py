"""An SVG badge ("CO₂e | 12.3 g") for a README, in the flat shields.io style.

Widths are estimated from character counts (no font metrics needed); all text is escaped.
"""
from __future__ import annotations

from ..units import fmt_mass_g
from .display import html_text
from .model import Report

_CHAR_PX = 7.0
_PAD_PX = 10


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


def render(report: Report) -> str:
    value = fmt_mass_g(report.totals["emissions_g"])
    scopes = {r.scope for r in report.records}
    share = ""
    if "process" in scopes:
        share = " (this kernel's share of shared devices)" if scopes == {"process"} else (
            " (partly this kernel's share of shared devices)")
    return svg("CO₂e", value, title=f"CO₂e of {report.project_name}: {value}{share}")
