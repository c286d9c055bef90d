"""Per-unit figures and the Software Carbon Intensity, `SCI = (E·I + M) per R`.

The Green Software Foundation's SCI specification (https://sci.greensoftware.foundation/):
E·I is the operational emissions (here each cell's integral of energy × grid intensity, the
record's `emissions_g`), M the embodied emissions of the hardware for the time it was used (the
record's `embodied_g`, a time share, always estimated: report/embodied.py), R the functional unit
(`%%carbon --per 60000 samples` gives the record's `units`). Where M is unknown the SCI is not
given: E·I per unit alone is shown as such, never as an SCI.
"""
from __future__ import annotations

import math
import re

from ..record import MAX_QUANTITY, UNIT_RE
from ..units import J_PER_KWH

# The common words (plural, as typed) with their singular for "per …"; any other simple word is
# accepted as typed (`--per 12 epochs`, `--per 1 run`).
UNIT_WORDS = {
    "samples": "sample", "tokens": "token", "images": "image", "requests": "request",
    "queries": "query", "predictions": "prediction", "inferences": "inference", "sequences": "sequence",
    "documents": "document", "batches": "batch", "steps": "step", "epochs": "epoch", "items": "item",
    "rows": "row", "records": "record", "files": "file", "pages": "page", "words": "word",
    "characters": "character", "frames": "frame", "users": "user", "calls": "call", "runs": "run",
}
PER_USAGE = "--per N UNIT (N a positive number, UNIT a word such as samples, tokens, images, requests)"
_COUNT_RE = re.compile(r"[0-9][0-9_]*(\.[0-9_]*)?([eE][+-]?[0-9]+)?\Z|\.[0-9]+([eE][+-]?[0-9]+)?\Z")


def parse_units(count_text: str, unit: str) -> dict:
    """`{"count": 60000, "unit": "samples"}` from `--per 60000 samples`; ValueError (one line) else.

    The count is a positive finite number (`60000`, `6e4`, `60_000`, `0.5`), an integer where it
    is one; the unit a word of letters, digits, `-` or `_` (32 characters at most).
    """
    text = str(count_text).strip()
    if not _COUNT_RE.match(text):
        raise ValueError(f"--per needs a positive number of units, not {text[:40]!r}")
    count = float(text.replace("_", ""))
    if not math.isfinite(count) or count <= 0 or count > MAX_QUANTITY:
        raise ValueError(f"--per needs a positive number of units up to {MAX_QUANTITY:g}, not {text[:40]!r}")
    word = str(unit).strip()
    if not UNIT_RE.match(word):
        raise ValueError(f"--per needs a unit word (letters, digits, - or _), not {word[:40]!r}")
    return {"count": int(count) if count.is_integer() else count, "unit": word}


def singular(unit: str) -> str:
    return UNIT_WORDS.get(unit, unit)


def per_unit(record) -> dict | None:
    """The record's figures per unit of work, or None without `units`.

    Keys: unit (singular), count, energy_j, emissions_g (E·I per unit), embodied_g (M per unit or
    None), sci_g (SCI or None), uncertainty_j (energy per unit), estimated_m (M is an estimate).
    """
    units = getattr(record, "units", None)
    if not units:
        return None
    n = float(units["count"])
    m = getattr(record, "embodied_g", None)
    return {
        "unit": singular(units["unit"]), "count": units["count"],
        "energy_j": record.energy_j / n, "uncertainty_j": record.uncertainty_j / n,
        "emissions_g": record.emissions_g / n,
        "embodied_g": None if m is None else m / n,
        "sci_g": None if m is None else (record.emissions_g + m) / n,
    }


_PREFIXES = ((1.0, ""), (1e-3, "m"), (1e-6, "µ"), (1e-9, "n"), (1e-12, "p"))


def fmt_small(value: float, symbol: str) -> str:
    """A quantity that may be tiny (per-unit figures): `3.2 µg`, `41 mJ`; 3 significant digits."""
    v = float(value)
    if v == 0:
        return f"0 {symbol}"
    if v >= 1000:
        return f"{v / 1000:.3g} k{symbol}" if v < 1e6 else f"{v:.3g} {symbol}"
    for factor, prefix in _PREFIXES:
        if v >= factor:
            return f"{v / factor:.3g} {prefix}{symbol}"
    return f"{v:.3g} {symbol}"


def per_unit_text(record) -> str:
    """`1.2 mJ · 0.41 µg CO₂e per sample`, or '' without units."""
    p = per_unit(record)
    if p is None:
        return ""
    return f"{fmt_small(p['energy_j'], 'J')} · {fmt_small(p['emissions_g'], 'g')} CO₂e per {p['unit']}"


def sci_text(record) -> str:
    """`SCI 0.52 µg CO₂e per sample (M estimated)`, or '' without units or without M."""
    p = per_unit(record)
    if p is None or p["sci_g"] is None:
        return ""
    return f"SCI {fmt_small(p['sci_g'], 'g')} CO₂e per {p['unit']} (M estimated)"


def summary_line(record) -> str:
    """The line the cell summary adds for `--per`: per-unit energy and CO₂e, and the SCI."""
    parts = [x for x in (per_unit_text(record), sci_text(record)) if x]
    if not parts:
        return ""
    u = record.units
    return f"  {' · '.join(parts)} ({u['count']:g} {u['unit']})"


def csv_fields(record) -> dict:
    """CodeCarbon-style units (kWh, kg) of the per-unit figures, '' where not applicable."""
    p = per_unit(record)
    m = getattr(record, "embodied_g", None)
    return {
        "unit": (record.units or {}).get("unit", "") if p else "",
        "unit_count": p["count"] if p else "",
        "energy_kwh_per_unit": p["energy_j"] / J_PER_KWH if p else "",
        "emissions_kg_per_unit": p["emissions_g"] / 1000.0 if p else "",
        "embodied_kg": "" if m is None else m / 1000.0,
        "sci_kg_per_unit": p["sci_g"] / 1000.0 if p and p["sci_g"] is not None else "",
    }
