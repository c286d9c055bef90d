"""Relatable equivalents of a mass of CO₂e, each constant with its source and vintage.

Source: US EPA, Greenhouse Gas Equivalencies Calculator, "Calculations and References"
(https://www.epa.gov/energy/greenhouse-gases-equivalencies-calculator-calculations-and-references),
values based on eGRID2022 data as published on the page revised in 2024. EPA revises these
almost every year: check the page and update `EPA_YEAR` and the values together.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

M_PER_MILE = 1609.344
EPA_SOURCE = "US EPA Greenhouse Gas Equivalencies Calculator"
EPA_URL = "https://www.epa.gov/energy/greenhouse-gases-equivalencies-calculator-calculations-and-references"
EPA_YEAR = 2024

# 3.93e-4 t CO2e per mile driven by an average gasoline passenger vehicle.
CAR_G_PER_KM = 3.93e-4 * 1e6 / (M_PER_MILE / 1000.0)  # ≈ 244 g/km
# 1.24e-5 t CO2 per smartphone charge (delivered electricity incl. T&D losses).
PHONE_CHARGE_G = 1.24e-5 * 1e6  # 12.4 g


@dataclass(frozen=True)
class Equivalent:
    what: str  # "km driven by an average gasoline car": `amount` is in this unit (JSON export)
    amount: float
    basis: str  # the constant, in words
    source: str
    year: int
    distance_km: bool = False  # shown in km, m, cm or mm, whichever reads best

    def text(self) -> str:
        if self.distance_km:
            return f"{fmt_distance_km(self.amount)} {self.what.removeprefix('km ')}"
        return f"{fmt_amount(self.amount)} {self.what}"


def fmt_amount(x: float) -> str:
    """A count for people: `1,234`, `12.3`, `0.012`, `less than 0.001`; never `1.2e-05`."""
    x = float(x)
    if x == 0:
        return "0"
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 1:
        return f"{x:.3g}"
    if x < 0.001:
        return "less than 0.001"
    decimals = 1 - math.floor(math.log10(x))  # two significant digits, positional
    return f"{x:.{decimals}f}".rstrip("0").rstrip(".")


def fmt_distance_km(km: float) -> str:
    """A distance in the unit that keeps the number readable: km, m, cm or mm."""
    km = max(0.0, float(km))
    if km == 0:
        return "0 m"
    for unit, per_km in (("km", 1.0), ("m", 1e3), ("cm", 1e5)):
        if km * per_km >= 1:
            return f"{fmt_amount(km * per_km)} {unit}"
    return f"{fmt_amount(km * 1e6)} mm"


def equivalents(emissions_g: float) -> list[Equivalent]:
    g = max(0.0, float(emissions_g))
    return [
        Equivalent("km driven by an average gasoline passenger car", g / CAR_G_PER_KM,
                   f"{CAR_G_PER_KM:.0f} g CO₂e/km (3.93×10⁻⁴ t/mile)", EPA_SOURCE, EPA_YEAR, distance_km=True),
        Equivalent("smartphone charges", g / PHONE_CHARGE_G,
                   f"{PHONE_CHARGE_G:.1f} g CO₂ per charge (1.24×10⁻⁵ t)", EPA_SOURCE, EPA_YEAR),
    ]
