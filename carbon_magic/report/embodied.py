"""Embodied carbon of the hardware a cell ran on (SCI's M), by time share. Always an estimate.

    M = Σ over devices of  embodied_kg × cell duration / device lifetime

(the SCI specification's time share). The resource share is 1 under machine scope (the whole
machine is measured, and reserved, for the notebook's cells, as `tracking_mode` "machine" says);
under process scope each device's figure is multiplied by this kernel's share of that device, as
its energy is (`shares`: a GPU by its component's share, the host by the CPU, DRAM and RAM
components' joint share), and the allocation says "time-share x resource-share". The figures come
from `data/embodied.csv`, one row per device class, each with its source, URL, year, lifetime and
uncertainty; a GPU model is matched by name, otherwise the generic GPU row applies; the host
(CPU, memory, board, storage) is one row chosen by a setting (`CARBON_MAGIC_EMBODIED_HOST`:
server, the default, desktop, laptop or none). A GPU row that already includes its share of the
host (a per-GPU figure of a whole instance) replaces the host row. A GPU split into MIG slices
counts as the whole board, as its energy does.
"""
from __future__ import annotations

import csv
from typing import Any
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

HOST_KINDS = ("server", "desktop", "laptop", "none")
SECONDS_PER_YEAR = 365.25 * 86400


@dataclass(frozen=True)
class Row:
    key: str
    kind: str  # gpu | host
    match: str  # regular expression on the GPU's name; empty for the default of its kind
    embodied_kg: float
    lifetime_years: float
    uncertainty_fraction: float
    includes_host: bool
    source: str
    url: str
    year: int
    note: str


@lru_cache(maxsize=1)
def table() -> tuple[Row, ...]:
    path = Path(__file__).with_name("data") / "embodied.csv"
    with open(path, newline="", encoding="utf-8") as f:
        return tuple(Row(r["key"], r["kind"], r["match"], float(r["embodied_kg"]), float(r["lifetime_years"]),
                         float(r["uncertainty_fraction"]), r["includes_host"] == "1", r["source"], r["url"],
                         int(r["year"]), r["note"]) for r in csv.DictReader(f))


def gpu_row(model: str | None) -> Row:
    """The row for a GPU named `model` (NVML's name), else the generic GPU row."""
    rows = [r for r in table() if r.kind == "gpu"]
    for r in rows:
        if r.match and model and re.search(r.match, model, re.IGNORECASE):
            return r
    return next(r for r in rows if not r.match)


def host_row(host_kind: str) -> Row | None:
    if host_kind == "none":
        return None
    return next(r for r in table() if r.key == f"host-{host_kind}")


def _item(row: Row, name: str, model: str | None, duration_s: float, resource_share: float | None = None) -> dict:
    share = duration_s / (row.lifetime_years * SECONDS_PER_YEAR)
    item: dict[str, Any] = {"name": name, "model": model, "row": row.key, "embodied_kg": row.embodied_kg,
            "lifetime_years": row.lifetime_years, "time_share": share, "g": row.embodied_kg * 1000.0 * share,
            "uncertainty_fraction": row.uncertainty_fraction, "url": row.url, "year": row.year}
    if resource_share is not None:
        item["resource_share"] = resource_share
        item["g"] *= resource_share
    return item


def estimate(gpus: list[tuple[str, str | None]], duration_s: float, host_kind: str = "server",
             shares: dict[str, float] | None = None) -> tuple[float | None, dict | None]:
    """(embodied_g, provenance) for a cell of `duration_s` on a host with `gpus` [(name, model)].

    `shares` (process scope): this kernel's share of each device by item name (a GPU's source
    name, "host"); a device missing from it counts whole. None: machine scope, every share 1.
    (None, None) when nothing is counted (no GPU and host "none").
    """
    def share_of(name: str) -> float | None:
        return None if shares is None else float(shares.get(name, 1.0))

    items = []
    rows = [(name, model, gpu_row(model)) for name, model in gpus]
    for name, model, row in rows:
        items.append(_item(row, name, model, duration_s, share_of(name)))
    host = host_row(host_kind)
    if host is not None and not any(row.includes_host for _, _, row in rows):
        items.append(_item(host, "host", None, duration_s, share_of("host")))
    if not items:
        return None, None
    grams = sum(i["g"] for i in items)
    by_key = {r.key: r for r in table()}
    sources = list(dict.fromkeys(f"{by_key[i['row']].source} ({i['year']})" for i in items))
    allocation = "time-share" if shares is None else "time-share x resource-share"
    return grams, {
        "method": "estimated", "allocation": allocation, "host": host_kind, "duration_s": duration_s,
        "uncertainty_g": sum(i["g"] * i["uncertainty_fraction"] for i in items),
        "source": "; ".join(sources), "items": items,
    }


def describe(record) -> str:
    """`0.45 mg CO₂e (time share of 1 × gpu-datacenter, host …; Chien et al. … (2023)), estimated`."""
    if getattr(record, "embodied_g", None) is None:
        return ""
    from .sci import fmt_small  # noqa: PLC0415 - only the text form needs it

    e = record.embodied or {}
    rows = [str(i.get("row")) for i in e.get("items", [])]
    counted = ", ".join(f"{rows.count(r)} × {r}" for r in dict.fromkeys(rows))
    u = e.get("uncertainty_g")
    pm = f" ± {fmt_small(u, 'g')}" if isinstance(u, (int, float)) and u > 0 else ""
    share = " × this kernel's share" if "resource-share" in str(e.get("allocation")) else ""
    return (f"{fmt_small(record.embodied_g, 'g')}{pm} CO₂e (time share{share} of {counted}; "
            f"{e.get('source') or 'source not stated'}), estimated")
