"""Text of the live view: the readout's HTML and the one-line summary. No widget imports here,
so the text fallback works where ipywidgets or bqplot are missing. User text is escaped."""
from __future__ import annotations

import html

from ..record import HARDWARE_METHODS, method_word
from ..units import fmt_duration, fmt_energy, fmt_intensity, fmt_mass_g, fmt_power, fmt_provenance
from .palette import CELL_COLOR, PALETTE

INTENSITY_COLOR = PALETTE["intensity"]
CO2_COLOR = PALETTE["co2"]


# A number keyed to its line by a coloured bar, in the theme's text colour (orange or brown text
# would be hard to read on a white or a dark background).
_KEYED = "border-left:3px solid {};padding-left:5px"


def intensity_legend(prov: dict | None) -> str:
    return f"grid intensity, g CO₂e/kWh ({fmt_provenance(prov)})"


def intensity_axis_label(prov: dict | None) -> str:
    """The right axis: its unit and where the values come from."""
    return f"g CO₂e/kWh · {fmt_provenance(prov)}"


def co2_axis_label(unit: str) -> str:
    return f"{unit} CO₂e"


def _swatch(color: str, style: str) -> str:
    return (f"<span style='display:inline-block;width:18px;margin-right:4px;vertical-align:middle;"
            f"border-top:2px {style} {color}'></span>")


def legend_html(measured: list[str], estimated: list[str], colors: list[str], prov: dict | None) -> str:
    """The chart's legend, outside the plot area (above it): one entry per line drawn, escaped."""
    entries = [(colors[i], "solid", f"{n} W, measured") for i, n in enumerate(measured)]
    entries += [(colors[len(measured) + i], "dashed", f"{n} W, estimated") for i, n in enumerate(estimated)]
    entries += [(INTENSITY_COLOR, "solid", intensity_legend(prov)),
                (CO2_COLOR, "solid", "CO₂e, cumulative from the left edge (lower panel)"),
                (CELL_COLOR, "dotted", "cell start and end")]
    items = "".join(f"<span style='white-space:nowrap;margin-right:12px'>{_swatch(c, st)}{html.escape(text)}</span>"
                    for c, st, text in entries)
    return f"<div class='cm-live-legend' style='font-size:11px;line-height:1.6;padding:0 8px'>{items}</div>"


def is_measured(method: str) -> bool:
    """Read from hardware (a counter or sampled power): drawn as a solid line."""
    return method in HARDWARE_METHODS


def readout_html(msg: dict) -> str:
    """The compact readout: current W, energy so far, g CO₂e so far, intensity now (all escaped)."""
    powers = msg.get("power_w") or {}
    methods = msg.get("methods") or {}
    total_w = sum(powers.values())
    rows = "".join(
        f"<div style='opacity:.75'>{html.escape(name)} {html.escape(fmt_power(w))}"
        f"{'' if is_measured(methods.get(name, '')) else ' <i>est.</i>'}</div>"
        for name, w in powers.items()
    )
    prov = html.escape(fmt_provenance(msg.get("intensity")))
    return (
        "<div style='font-size:12px;line-height:1.5;padding:4px 8px'>"
        f"<div><b style='font-size:15px'>{html.escape(fmt_power(total_w))}</b> now</div>{rows}"
        f"<div style='margin-top:4px'><b>{html.escape(fmt_energy(msg.get('energy_j', 0.0)))}</b> so far</div>"
        f"<div style='{_KEYED.format(CO2_COLOR)}'><b>{html.escape(fmt_mass_g(msg.get('emissions_g', 0.0)))}</b>"
        " CO₂e so far</div>"
        f"<div style='margin-top:4px;{_KEYED.format(INTENSITY_COLOR)}'>"
        f"<b>{html.escape(fmt_intensity(msg.get('intensity_g_per_kwh')))}</b> grid intensity now"
        f"<div style='opacity:.75'>{prov}</div></div></div>"
    )


def text_summary(msg: dict | None) -> str:
    """One line for places where widgets cannot render (terminal IPython, nbconvert, no ipywidgets)."""
    if not msg:
        return "carbon_magic live: no samples yet"
    powers = msg.get("power_w") or {}
    methods = msg.get("methods") or {}
    parts = " · ".join(
        f"{name} {fmt_power(w)} {method_word(methods.get(name, ''))}"
        for name, w in powers.items()
    )
    return (f"carbon_magic live: {fmt_power(sum(powers.values()))} now ({parts}) · "
            f"{fmt_energy(msg.get('energy_j', 0.0))} · {fmt_mass_g(msg.get('emissions_g', 0.0))} CO₂e so far · "
            f"{fmt_intensity(msg.get('intensity_g_per_kwh'))} ({fmt_provenance(msg.get('intensity'))})")


_ENDED = {"ok": "cell ended", "error": "cell ended with an error", "interrupted": "cell interrupted"}


def final_text(record) -> str:
    """A finished cell's numbers, the record's own: `final: 55.0 J · 6.99 mg CO₂e · 4.00 s (cell ended)`."""
    if record is None:
        return "final: not recorded (cell ended)"
    return (f"final: {record.energy_text()} · {fmt_mass_g(record.emissions_g)} CO₂e · "
            f"{fmt_duration(record.duration_s)} ({_ENDED.get(record.status, 'cell ended')})")


def final_readout_html(record) -> str:
    """The readout of a cell's view once the cell ended: frozen on the record's numbers."""
    if record is None:
        return ("<div style='font-size:12px;line-height:1.5;padding:4px 8px'>"
                f"<div><b>{html.escape(final_text(None))}</b></div></div>")
    rows = "".join(
        f"<div style='opacity:.75'>{html.escape(c.name)} {html.escape(fmt_energy(c.energy_j))} "
        f"{html.escape(c.how())}</div>" for c in record.components
    )
    return (
        "<div style='font-size:12px;line-height:1.5;padding:4px 8px'>"
        f"<div>final: <b style='font-size:15px'>{html.escape(record.energy_text())}</b></div>{rows}"
        f"<div style='margin-top:4px;{_KEYED.format(CO2_COLOR)}'><b>{html.escape(fmt_mass_g(record.emissions_g))}</b>"
        " CO₂e</div>"
        f"<div>{html.escape(fmt_duration(record.duration_s))}</div>"
        f"<div style='margin-top:4px;{_KEYED.format(INTENSITY_COLOR)}'>"
        f"<b>{html.escape(fmt_intensity(record.intensity_g_per_kwh))}</b> grid intensity</div>"
        f"<div style='opacity:.75'><i>({html.escape(_ENDED.get(record.status, 'cell ended'))})</i></div></div>"
    )
