"""CSV in CodeCarbon's emissions.csv shape: one row per cell, CodeCarbon's columns and units first.

Columns and units follow CodeCarbon 3.3's `EmissionsData` dataclass, its 38 fields in order
(mlco2/codecarbon `codecarbon/output_methods/emissions_data.py`, the 3.x version with
`water_consumed`, the utilisation fields and `wue`, as of release 3.3.0, 2026-08-04; earlier
versions, e.g. commit 11887393, had 32) and its output documentation (docs/reference/output.md):
emissions in kg CO₂e, emissions_rate in kg/s, power in W (mean over the cell), energy in kWh,
duration in s, ram_total_size in GB, water_consumed in L, wue in L/kWh. Energies include PUE, as
our `energy_j` does, so cpu + gpu + ram energy = energy_consumed.

Filled as follows: project_name = the notebook name (or "notebook"), run_id = our session id,
experiment_id as given (empty by default), timestamp = the cell's end (UTC, to the second),
location from the grid zone (no geolocation: longitude/latitude stay empty), and
`codecarbon_version` is left EMPTY: the file was not written by CodeCarbon; our version is in the
extra column `carbon_magic_version`. DRAM and RAM sources both go to ram_*. tracking_mode is the
record's scope, in CodeCarbon's words: "machine" (what the devices drew) or "process" (this
kernel's share of them); the energies are the billed ones, and the scope columns (SCOPE_COLUMNS)
keep the other figure: device_energy_kwh, the kernel's share per kind (blank where it cannot be
told) and how it was found (attribution). The utilisation columns stay empty (not measured), and
so do water_consumed and wue where no WUE is set (unknown is not zero; see report/water.py).

Our own fields follow CodeCarbon's, in extra columns (listed in EXTRA_COLUMNS).

A record nested in a cell (`measure()` inside `%%carbon`) is the row right under its cell, with
`parent` (the cell's label or `In [n]`) and `parent_started_at` filled; its energy and emissions are
already in the cell's row, so a sum over the file adds the rows whose `parent` is empty.
"""
from __future__ import annotations

import csv
import io

from ..record import CellRecord, iso_utc, utc_seconds
from ..units import J_PER_KWH
from .location import zone_location
from . import embodied, water
from .model import Report, cell_name, grouped, mark, methods_by_kind
from .sci import csv_fields

# CodeCarbon 3.3, codecarbon/output_methods/emissions_data.py, `EmissionsData` fields in order.
CODECARBON_COLUMNS = (
    "timestamp", "project_name", "run_id", "experiment_id", "duration", "emissions", "emissions_rate",
    "cpu_power", "gpu_power", "ram_power", "cpu_energy", "gpu_energy", "ram_energy", "energy_consumed",
    "water_consumed", "country_name", "country_iso_code", "region", "cloud_provider", "cloud_region", "os",
    "python_version", "codecarbon_version", "cpu_count", "cpu_model", "gpu_count", "gpu_model", "longitude",
    "latitude", "ram_total_size", "tracking_mode", "cpu_utilization_percent", "gpu_utilization_percent",
    "ram_utilization_percent", "ram_used_gb", "on_cloud", "pue", "wue",
)
# The scope's other figure (the devices' energy beside the billed one, the kernel's share per kind):
# the last of our own columns, before the carbon-aware ones.
SCOPE_COLUMNS = ("scope_reason", "device_energy_kwh", "cpu_share", "gpu_share", "ram_share", "attribution")
EXTRA_COLUMNS = (
    "carbon_magic_version", "cell_id", "execution_count", "label", "status", "started_at", "ended_at",
    "measured", "cpu_method", "gpu_method", "ram_method", "intensity_g_per_kwh", "intensity_provider",
    "intensity_zone", "intensity_kind", "intensity_signal", "intensity_source", "intensity_fetched_at",
    "energy_uncertainty_kwh", "sensor_status", "parent", "parent_started_at",
    # --per N UNIT, SCI and the estimates (all labelled; '' where not applicable)
    "unit", "unit_count", "energy_kwh_per_unit", "emissions_kg_per_unit", "embodied_kg", "sci_kg_per_unit",
    "embodied_method", "water_method",
    *SCOPE_COLUMNS,
)
# A carbon-aware wait or pause (carbon_magic.act): empty for cells without one.
DEFERRAL_COLUMNS = ("deferred_s", "avoided_g", "avoided_basis")
COLUMNS = CODECARBON_COLUMNS + EXTRA_COLUMNS + DEFERRAL_COLUMNS
_CC_KIND = {"cpu": "cpu", "gpu": "gpu", "dram": "ram", "ram": "ram"}


def _wue(record: CellRecord):
    wue = (record.water or {}).get("wue_l_per_kwh")
    return "" if wue is None else wue


def _shares(record: CellRecord) -> dict[str, float | str]:
    """The kernel's share of each CodeCarbon kind's device energy ('' where none can be told)."""
    billed: dict[str, float] = {}
    device: dict[str, float] = {}
    for c in record.components:
        kind = _CC_KIND.get(c.kind)
        if kind is None or c.share is None:
            continue
        billed[kind] = billed.get(kind, 0.0) + c.share * c.device_j
        device[kind] = device.get(kind, 0.0) + c.device_j
    return {k: (billed[k] / device[k] if device.get(k) else "") for k in ("cpu", "gpu", "ram")}


def row(record: CellRecord, report: Report, project_name: str | None = None, parent_name: str = "") -> dict:
    """One CSV row; `parent_name` names the cell a nested record belongs to (see the module docstring)."""
    host = report.host
    energy_kwh = {"cpu": 0.0, "gpu": 0.0, "ram": 0.0}
    for kind, e in record.energy_by_kind().items():
        if kind in _CC_KIND:
            energy_kwh[_CC_KIND[kind]] += e / J_PER_KWH
    dur = record.duration_s
    methods = methods_by_kind(record)
    ram_methods = "+".join(m for m in (methods.get("dram"), methods.get("ram")) if m)
    prov = record.intensity or {}
    emissions_kg = record.emissions_g / 1000.0
    out = {
        "timestamp": utc_seconds(record.end_s), "project_name": project_name or report.project_name,
        "run_id": record.session_id, "experiment_id": report.experiment_id, "duration": dur,
        "emissions": emissions_kg, "emissions_rate": emissions_kg / dur if dur > 0 else 0.0,
        **{f"{k}_power": (energy_kwh[k] * J_PER_KWH / dur if dur > 0 else 0.0) for k in ("cpu", "gpu", "ram")},
        **{f"{k}_energy": energy_kwh[k] for k in ("cpu", "gpu", "ram")},
        "energy_consumed": record.energy_j / J_PER_KWH,
        "water_consumed": "" if record.water_l is None else record.water_l,
        "wue": _wue(record),
        "cpu_utilization_percent": "", "gpu_utilization_percent": "", "ram_utilization_percent": "",
        "ram_used_gb": "",
        **zone_location(prov.get("zone") or host.get("zone")),
        "os": host.get("os", ""), "python_version": host.get("python_version", ""), "codecarbon_version": "",
        "cpu_count": host.get("cpu_count", ""), "cpu_model": host.get("cpu_model", ""),
        "gpu_count": host.get("gpu_count", ""), "gpu_model": host.get("gpu_model", ""),
        "longitude": "", "latitude": "", "ram_total_size": host.get("ram_total_size_gb", ""),
        "tracking_mode": record.scope, "pue": record.pue,
        "carbon_magic_version": host.get("carbon_magic_version", ""), "cell_id": record.cell_id or "",
        "execution_count": "" if record.execution_count is None else record.execution_count,
        "label": record.label or "", "status": record.status, "started_at": iso_utc(record.start_s),
        "ended_at": iso_utc(record.end_s), "measured": mark(record), "cpu_method": methods.get("cpu", ""),
        "gpu_method": methods.get("gpu", ""), "ram_method": ram_methods,
        "intensity_g_per_kwh": record.intensity_g_per_kwh,
        "intensity_provider": prov.get("provider") or "", "intensity_zone": prov.get("zone") or "",
        "intensity_kind": prov.get("kind") or "", "intensity_signal": prov.get("signal") or "",
        "intensity_source": prov.get("source") or "", "intensity_fetched_at": prov.get("fetched_at") or "",
        "energy_uncertainty_kwh": record.uncertainty_j / J_PER_KWH,
        "sensor_status": " ".join(f"{c.name}:{c.status}" for c in record.components if c.status != "ok") or "ok",
        "parent": parent_name or _parent_name(record.parent),
        "parent_started_at": _parent_start(record.parent),
        **{k: "" if getattr(record, k) is None else getattr(record, k) for k in DEFERRAL_COLUMNS},
        **csv_fields(record),
        "embodied_method": embodied.describe(record), "water_method": water.describe(record),
        "scope_reason": record.scope_reason or "",
        "device_energy_kwh": sum(c.device_j for c in record.components) * record.pue / J_PER_KWH,
        **{f"{k}_share": v for k, v in _shares(record).items()},
        "attribution": "+".join(dict.fromkeys(c.attribution for c in record.components
                                              if c.attribution and c.attribution != "none")),
    }
    return {k: out[k] for k in COLUMNS}


def _parent_start(parent: dict | None) -> str:
    """The enclosing cell's start as the record's JSON writes it, or ''."""
    start = (parent or {}).get("start_s")
    return "" if start is None else iso_utc(start)


def _parent_name(parent: dict | None) -> str:
    """Where the parent's record is not in the report: its label, else `cell`."""
    if not parent:
        return ""
    return str(parent.get("label") or "cell")


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # OWASP "CSV injection"


def csv_cell(value):
    """One CSV cell. Numbers stay numbers (floats as repr, so they read back exactly; a negative
    number is a number, not a formula). Everything else is text, and text a spreadsheet would
    run as a formula (starting with = + - @, tab or CR) gets a leading apostrophe, whatever
    column it is in: labels, code, host and provider fields can all come from outside. Line
    breaks inside text become LF, which the writer quotes."""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = "" if value is None else str(value)
    if text.startswith(_FORMULA_START):
        text = "'" + text
    # A bare CR is not quoted by the csv module (our line ends are LF) and would split the row.
    return text.replace("\r\n", "\n").replace("\r", "\n")


def render(report: Report) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(COLUMNS), lineterminator="\n")
    w.writeheader()
    index = {id(r): i for i, r in enumerate(report.records)}
    for head, kids in grouped(report.records):
        for r in (head, *kids):
            parent = cell_name(head) if r is not head else ""
            d = row(r, report, report.project_of(index[id(r)]), parent)
            w.writerow({k: csv_cell(v) for k, v in d.items()})
    return buf.getvalue()
