"""Display strings shared by the table, the receipt, the badge and the CLI.

Every total shown anywhere goes through these (and `units.fmt_*`), so all outputs round the
same way.
"""
from __future__ import annotations

import html

from ..record import utc_seconds
# DASH and fmt_intensity are the contract's (units.py); the table, receipt and CLI import them from here.
from ..units import DASH, fmt_duration, fmt_energy, fmt_intensity, fmt_mass_g
from .equivalents import equivalents
from .model import measured_share


def fmt_optional_energy(energy_j: float | None) -> str:
    return DASH if energy_j is None else fmt_energy(energy_j)


def fmt_optional_mass(grams: float | None) -> str:
    return DASH if grams is None else f"{fmt_mass_g(grams)} CO₂e"


# The session's three totals (`CarbonSession.totals`): one name and one meaning in every view.
TOTALS_MEANING = {
    "cells": "the measured cells",
    "idle": "between measured cells",
    "session": "since the extension loaded (cells + idle)",
}


def totals_lines(totals: dict) -> list[tuple[str, str, str, str]]:
    """(name, energy, CO₂e, meaning) for cells, idle and session, as `%carbon status` and the
    table's footer show them (the sidebar renders the same names from the comm's `totals`)."""
    n = totals["cells"]
    out = []
    for name in ("cells", "idle", "session"):
        meaning = TOTALS_MEANING[name]
        if name == "cells":
            meaning = f"{n} measured cell{'s' if n != 1 else ''}"
            if totals.get("nested"):
                meaning += f" (+{totals['nested']} nested, counted in their cells)"
        out.append((name, fmt_optional_energy(totals.get(f"{name}_energy_j")),
                    fmt_optional_mass(totals.get(f"{name}_emissions_g")), meaning))
    return out


def fmt_start(unix_s: float | None) -> str:
    """A record time for a table: `2026-09-21 14:03:07` (UTC, the second its ISO text shows)."""
    if unix_s is None:
        return DASH
    return utc_seconds(unix_s, " ")


# C0 and C1 controls (ESC starts terminal escape sequences), DEL, and the invisible marks that
# reorder or hide text: bidi embeddings/overrides/isolates, line and paragraph separators.
_CONTROL = {i: "?" for i in [*range(0, 32), 127, *range(128, 160), 0x200E, 0x200F, *range(0x202A, 0x202F),
                             *range(0x2066, 0x206A), 0x2028, 0x2029, 0x061C, 0xFEFF]}


def printable(text: str) -> str:
    """Control characters (terminal escape sequences, bidi overrides) replaced by '?'."""
    return str(text).translate(_CONTROL)


def printable_lines(text: str) -> str:
    """`printable` for each line, the line breaks kept: for text written to a terminal."""
    return "\n".join(printable(line) for line in str(text).split("\n"))


def html_text(text, quote: bool = True) -> str:
    """User text for HTML or SVG: control characters replaced (XML forbids most of them, and a
    terminal showing the file would run escape sequences), then escaped."""
    return html.escape(printable(text), quote=quote)


def one_line(text: str | None, limit: int = 60) -> str:
    """User text on one line, cut to `limit` characters (escaping is the renderer's job)."""
    if not text:
        return ""
    s = printable(" ".join(str(text).split()))
    return s if len(s) <= limit else s[: limit - 1] + "…"


def measured_text(totals: dict) -> str:
    share = measured_share(totals)
    if share is None:
        return "no energy recorded"
    sampled = (totals.get("sampled_energy_j") or 0.0) / totals["cells_energy_j"]
    if share >= 0.9995:
        return "all measured by hardware energy counters"
    if share + sampled <= 0.0005:
        return "all estimated, no hardware sensor"
    if sampled > 0.0005:
        rest = "" if share + sampled >= 0.9995 else ", the rest estimated"
        return (f"{share * 100:.0f} % measured by hardware energy counters, {sampled * 100:.0f} % from sampled "
                f"power{rest}")
    return f"{share * 100:.0f} % measured by hardware energy counters, the rest estimated"


def measured_label(totals: dict) -> str:
    """Short form for table footers: `100 % measured`, `12 % measured`."""
    share = measured_share(totals)
    return DASH if share is None else f"{share * 100:.0f} % measured"


def footprint_sentence(report) -> str:
    """One sentence summarising the footprint, e.g. for a paper's appendix."""
    t = report.totals
    if not t["cells"]:
        return f"No cells of {report.project_name} were measured, so no footprint can be given."
    eq = equivalents(t["emissions_g"])
    how = measured_text(t)
    return (f"The {t['cells']} measured cell{'s' if t['cells'] != 1 else ''} of {report.project_name} used "
            f"{fmt_energy(t['cells_energy_j'])} in {fmt_duration(t['duration_s'])} ({how}), emitting "
            f"{fmt_mass_g(t['emissions_g'])} CO₂e at {fmt_intensity(t['intensity_g_per_kwh'])}, "
            f"about {eq[0].text()} or {eq[1].text()}.")
