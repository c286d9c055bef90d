"""Human formatting of SI quantities (J, g, s). Pure functions, shared by every output."""
from __future__ import annotations

J_PER_WH = 3600.0
J_PER_KWH = 3.6e6


def fmt_energy(energy_j: float) -> str:
    e = float(energy_j)
    if e == 0:
        return "0 J"
    if e < 1.0:
        return f"{e * 1000:.3g} mJ"
    if e < 1000.0:  # from 1 kJ on, Wh: `.3g` would print 2530 J as "2.53e+03 J"
        return f"{e:.3g} J"
    if e < J_PER_KWH:
        return f"{e / J_PER_WH:.3g} Wh"
    return f"{e / J_PER_KWH:.3g} kWh"


def fmt_mass_g(grams: float) -> str:
    g = float(grams)
    if g < 1.0:
        return f"{g * 1000:.3g} mg"
    if g < 1000.0:
        return f"{g:.3g} g"
    return f"{g / 1000:.3g} kg"


def fmt_duration(seconds: float) -> str:
    s = float(seconds)
    if s < 60:
        return f"{s:.3g} s" if s >= 1 else f"{s * 1000:.3g} ms"
    if s < 3600:
        m, sec = divmod(int(round(s)), 60)
        return f"{m} min {sec:02d} s"
    h, rem = divmod(int(round(s)), 3600)
    return f"{h} h {rem // 60:02d} min"


def fmt_power(power_w: float) -> str:
    p = float(power_w)
    return f"{p:.3g} W" if p < 1000 else f"{p / 1000:.3g} kW"
