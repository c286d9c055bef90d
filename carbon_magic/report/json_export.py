"""JSON export: the v1 records with session totals, sensors and methods, intensity sources, versions.

`parse(text)` reads it back (records as CellRecord), for round-trip tests and other tools.
"""
from __future__ import annotations

import json
import math
import platform

from .. import __version__
from ..record import CellRecord, iso_utc
from .equivalents import EPA_URL, equivalents
from .model import Report, cell_name, components_used, intensity_sources, now_iso
from .sci import per_unit

SCHEMA = "carbon_magic.export/1"


def document(report: Report) -> dict:
    host = report.host
    return {
        "schema": SCHEMA,
        "generated_at": now_iso(),
        "project_name": report.project_name,
        "session_id": report.session_id,
        "experiment_id": report.experiment_id or None,
        "totals": report.totals,
        "versions": {"carbon_magic": host.get("carbon_magic_version", __version__),
                     "python": host.get("python_version", platform.python_version())},
        "host": {k: v for k, v in host.items() if k not in ("sensors", "skipped")},
        "sensors": host.get("sensors", []),
        "skipped": host.get("skipped", []),
        "components": components_used(report.records),
        "intensity_sources": intensity_sources(report.records),
        "equivalents": [{"what": e.what, "amount": e.amount, "basis": e.basis, "source": e.source,
                         "year": e.year, "url": EPA_URL} for e in equivalents(report.totals["emissions_g"])],
        "per_unit": per_unit_rows(report),
        "records": [r.to_dict() for r in report.records],
    }


def per_unit_rows(report: Report) -> list[dict]:
    """Each record given `--per N UNIT`: its figures per unit and its SCI, (E·I + M) / R, in g and J."""
    rows = []
    for r in report.records:
        p = per_unit(r)
        if p is None or r.units is None:  # per_unit is None without units
            continue
        rows.append({"cell": cell_name(r), "cell_id": r.cell_id, "started_at": iso_utc(r.start_s), "unit": r.units["unit"],
                     "count": r.units["count"], "energy_j_per_unit": p["energy_j"],
                     "energy_uncertainty_j_per_unit": p["uncertainty_j"], "emissions_g_per_unit": p["emissions_g"],
                     "embodied_g_per_unit": p["embodied_g"], "sci_g_per_unit": p["sci_g"],
                     "embodied": "estimated" if p["embodied_g"] is not None else None})
    return rows


def finite(value):
    """`value` with every NaN or infinity (from a forged or damaged source) as null: strict JSON
    has no NaN, and a reader must not take one for a measurement."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def render(report: Report) -> str:
    return json.dumps(finite(document(report)), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def parse(text: str) -> tuple[dict, list[CellRecord]]:
    doc = json.loads(text)
    if doc.get("schema") != SCHEMA:
        raise ValueError(f"not a carbon_magic export (schema={doc.get('schema')!r})")
    return doc, [CellRecord.from_dict(d) for d in doc["records"]]
