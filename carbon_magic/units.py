"""Human formatting of SI quantities (J, g, W, s, g/kWh) and of intensity provenance. Pure
functions, shared by every output: the summary line, the table, the receipt, the live view.

This is the one formatting contract. The JupyterLab extension (labextension/src/format.ts)
renders with the same rules, and tests/data/format_cases.json holds the cases both test suites
check (pytest: tests/test_format_contract.py; jest: src/__tests__/format.spec.ts), so a badge
shows `3.91 J · 0.497 mg CO₂e` where the summary line shows it.

The rules:
- three significant digits, rounded half away from zero on the exact binary value (what
  JavaScript's toPrecision does, and what Python's `.3g` does not: it rounds half to even),
  trailing zeros dropped, never an exponent; from 1000 on, the whole number (`1234 kWh`);
- the unit is chosen on the rounded number, so 999.7 J is `0.278 Wh`, never `1e+03 J`:
  energy mJ < 1 J ≤ J < 1000 J ≤ Wh < 1000 Wh ≤ kWh; mass mg < 1 g ≤ g < 1000 g ≤ kg < 1000 kg ≤ t;
  power W < 1000 W ≤ kW; duration ms < 1 s ≤ s < 60 s ≤ `4 min 02 s` < 1 h ≤ `1 h 03 min`;
- intensity as a whole number of g/kWh; anything missing or not finite is an en dash;
- provenance `zone, provider name, kind[, marginal][, fallback: …]`, the provider's display name
  (`Electricity Maps`, not `electricitymaps`) even for records written before `provider_name`.
"""
from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Context, Decimal

J_PER_WH = 3600.0
J_PER_KWH = 3.6e6
DASH = "–"

# The intensity providers' display names by key (each provider class's `display`; a test checks
# they agree), for records that carry only the key.
PROVIDER_NAMES = {
    "electricitymaps": "Electricity Maps",
    "uk": "UK Carbon Intensity API",
    "watttime": "WattTime",
    "static": "static",
}

_SIG3 = Context(prec=3, rounding=ROUND_HALF_UP)
_WIDE = Context(prec=60, rounding=ROUND_HALF_UP)


def round3(x: float) -> float:
    """`x` rounded to three significant digits, half away from zero (JavaScript's toPrecision(3))."""
    x = float(x)
    if x == 0 or not math.isfinite(x):
        return x
    return float(_SIG3.plus(Decimal(x)))


def _whole(a: float) -> int:
    """`a` >= 0 rounded to an integer, half up (JavaScript's Math.round and toFixed(0))."""
    return int(Decimal(a).quantize(Decimal(1), rounding=ROUND_HALF_UP, context=_WIDE))


def fmt_number(x: float) -> str:
    """Three significant digits, no exponent, trailing zeros dropped; whole numbers from 1000 on."""
    x = float(x)
    if not math.isfinite(x):
        return DASH
    if x == 0:
        return "0"
    a = abs(x)
    return ("-" if x < 0 else "") + _digits(a, _SIG3.plus(Decimal(a)))


def _digits(a: float, d: Decimal) -> str:
    """`a` > 0 written from `d`, its value rounded to three significant digits (as fmt_number)."""
    if d.adjusted() >= 3:
        return str(_whole(a))
    text = f"{d:f}"  # d's digits in fixed point: `0.00170`, `5`, `100`, `12.5`
    return text.rstrip("0").rstrip(".") if "." in text else text


def _scaled(x: float, units: tuple) -> str:
    """`x` in the first of `units` ((factor, name, below), ...) whose rounded value is below `below`.

    Each candidate is rounded once, and the text written from that rounding (what
    `round3(a / factor) < below` then `fmt_number(x / factor)` gave, at half the cost)."""
    x = float(x)
    if not math.isfinite(x):
        return DASH
    a = abs(x)
    sign = "-" if x < 0 else ""
    for factor, name, below in units:
        q = a / factor
        d = _SIG3.plus(Decimal(q))
        if float(d) < below:
            return f"{sign + _digits(q, d) if q else '0'} {name}"
    factor, name, _ = units[-1]
    return f"{fmt_number(x / factor)} {name}"


_ENERGY = ((1e-3, "mJ", 1000.0), (1.0, "J", 1000.0), (J_PER_WH, "Wh", 1000.0), (J_PER_KWH, "kWh", math.inf))
_MASS = ((1e-3, "mg", 1000.0), (1.0, "g", 1000.0), (1e3, "kg", 1000.0), (1e6, "t", math.inf))
_POWER = ((1.0, "W", 1000.0), (1e3, "kW", math.inf))


def fmt_energy(energy_j: float) -> str:
    """`0.5 mJ`, `3.91 J`, `41.2 Wh`, `2.5 kWh`."""
    e = float(energy_j)
    if e == 0:
        return "0 J"
    return _scaled(e, _ENERGY if round3(abs(e)) < 1 else _ENERGY[1:])


def fmt_mass_g(grams: float) -> str:
    """`0.497 mg`, `15.6 g`, `1.2 kg` (callers add `CO₂e`)."""
    g = float(grams)
    if g == 0:
        return "0 g"
    return _scaled(g, _MASS if round3(abs(g)) < 1 else _MASS[1:])


def mass_unit(grams: float) -> tuple[float, str]:
    """(grams per unit, unit) that `fmt_mass_g(grams)` writes in: the CO₂e axis of the live chart
    is scaled by its largest value, so its ticks read like the numbers next to it."""
    g = abs(float(grams)) if math.isfinite(float(grams)) else 0.0
    units = _MASS if round3(g) < 1 else _MASS[1:]
    factor, name, _ = next(u for u in units if round3(g / u[0]) < u[2])
    return factor, name


def fmt_power(power_w: float) -> str:
    """`12.5 W`, `1.2 kW`."""
    return _scaled(power_w, _POWER)


def fmt_duration(seconds: float) -> str:
    """`420 ms`, `4.2 s`, `4 min 02 s`, `1 h 03 min`."""
    s = float(seconds)
    if not math.isfinite(s) or s < 0:
        return DASH
    if s == 0:
        return "0 s"
    r = round3(s)
    if r < 1:
        return f"{fmt_number(s * 1000)} ms"
    if r < 60:
        return f"{fmt_number(s)} s"
    total = _whole(s)
    h, rem = divmod(total, 3600)
    m, sec = divmod(rem, 60)
    return f"{h} h {m:02d} min" if h else f"{m} min {sec:02d} s"


def fmt_intensity(g_per_kwh: float | None) -> str:
    """`379 g/kWh`; an en dash when unknown."""
    if g_per_kwh is None or isinstance(g_per_kwh, bool):
        return DASH
    g = float(g_per_kwh)
    if not math.isfinite(g):
        return DASH
    return f"{'-' if g < 0 else ''}{_whole(abs(g))} g/kWh"


def provider_display(prov: dict | None) -> str:
    """The provider's display name: `provider_name`, else the name its key stands for, else the key."""
    p = prov or {}
    name = p.get("provider_name") or p.get("provider")
    if not name:
        return ""
    return PROVIDER_NAMES.get(str(name), str(name))


def fmt_provenance(prov: dict | None) -> str:
    """`FR, Electricity Maps, live`, `world average, static`, `DE, static, fallback: …`."""
    p = prov or {}
    parts = [p.get("zone") or "world average"]
    provider = provider_display(p)
    if provider:
        parts.append(provider)
    if p.get("kind") and p.get("kind") != provider:
        parts.append(p["kind"])
    if p.get("signal") == "marginal":
        parts.append("marginal")
    if p.get("fallback_reason"):
        parts.append(f"fallback: {p['fallback_reason']}")
    elif p.get("flag") and p.get("zone"):
        parts.append(str(p["flag"]))
    return ", ".join(str(x) for x in parts)
