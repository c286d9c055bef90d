"""The "carbon receipt" (Markdown or standalone HTML) for a paper's appendix or a course hand-in.

Sections: a one-sentence summary, totals, the per-cell table, the method (what was measured,
what was estimated and how), the intensity sources with their licences, and relatable
equivalents with their source and year. Both renderers take the same section data; every piece
of user text (labels, code, notebook names) is escaped for the target format.
"""
from __future__ import annotations

import re

from ..record import method_word
from ..units import fmt_duration, fmt_energy, fmt_mass_g
from .display import DASH, fmt_intensity, fmt_optional_energy, fmt_optional_mass, footprint_sentence, html_text
from .equivalents import EPA_URL, equivalents
from .model import METHOD_TEXT, Report, components_used, intensity_sources, now_iso
from .table import CellTable, scopes_label

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|#~!])")


def md_escape(text) -> str:
    """User text for a Markdown table cell: HTML-escaped, Markdown syntax neutralised, one line."""
    s = " ".join(str(text).split())
    return _MD_SPECIAL.sub(r"\\\1", html_text(s, quote=False))


# -- the data of each section ------------------------------------------------------------------
def totals_rows(report: Report) -> list[tuple[str, str]]:
    t = report.totals
    pues = sorted({r.pue for r in report.records}) or [report.host.get("pue", 1.0)]
    return [
        ("cells measured", f"{t['cells']} ({t['measured_cells']} fully measured by hardware sensors)"),
        ("time in measured cells", fmt_duration(t["duration_s"])),
        ("cells: energy in measured cells", fmt_energy(t["cells_energy_j"])),
        ("cells: emissions", f"{fmt_mass_g(t['emissions_g'])} CO₂e"),
        ("mean grid intensity (cells)", fmt_intensity(t["intensity_g_per_kwh"])),
        ("idle: energy between measured cells", fmt_optional_energy(t["idle_energy_j"])),
        ("idle: emissions", fmt_optional_mass(t.get("idle_emissions_g"))),
        ("session: energy since load (cells + idle)", fmt_optional_energy(t["session_energy_j"])),
        ("session: emissions", fmt_optional_mass(t.get("session_emissions_g"))),
        ("PUE applied", ", ".join(f"{p:g}" for p in pues)),
        ("scope", scopes_label(report.records).removeprefix("scope: ")),
    ]


def method_rows(report: Report) -> list[list[str]]:
    rows = []
    for c in components_used(report.records):
        how = "; ".join(METHOD_TEXT.get(m, m) for m in c["methods"])
        words = [method_word(m) for m in c["methods"]]
        notes = {"failed": "sensor failed during a cell", "reset": "counter reset, estimated",
                 "ambiguous": "read gap may hide counter wraps, estimated"}
        extra = [notes[st] for st in c.get("statuses", []) if st in notes]
        if c.get("mig"):
            extra.append("whole board, MIG slice")
        rows.append([c["name"], c["kind"], " + ".join(dict.fromkeys(words))
                     + (f" ({'; '.join(extra)})" if extra else ""), fmt_energy(c["energy_j"]), how])
    return rows


def source_rows(report: Report) -> list[list[str]]:
    return [[s["provider"] or DASH, s["zone"] or "world average", s["kind"] or DASH, s["signal"] or DASH,
             s["source"] or "not stated by the provider", s["licence"] or "see the provider's terms"]
            for s in intensity_sources(report.records)]


def skipped_lines(report: Report) -> list[str]:
    return [f"{s.get('name')}: {s.get('reason')}" for s in report.host.get("skipped", [])]


def method_note(report: Report) -> str:
    note = ("CO₂e of each cell is the integral of its energy over time times the grid intensity in force "
            "at each moment (Σ energy × intensity per interval), not one average times one total. "
            "Energies include the PUE factor. Idle energy (between measured cells) is priced at the session's "
            "intensity at each sampler tick.")
    if any(r.scope == "process" for r in report.records):
        note += (" Process scope: a cell's energy is this kernel's share of each shared device, attributed, not "
                 "measured. CPU, DRAM and RAM: its process tree's CPU time over the machine's busy CPU time, times "
                 "the device's power above idle, plus its part of the CPUs times the idle power. GPU: its share of "
                 "the SM utilisation (NVML per-process samples) times the power above idle, plus its share of the "
                 "GPU memory held times the idle power; a GPU only this kernel uses is all its own. Each record "
                 "keeps the devices' whole energy beside the share.")
    return note


def footer_line(report: Report) -> str:
    h = report.host
    parts = [f"carbon_magic {h.get('carbon_magic_version', '')}".strip(), f"generated {now_iso()}"]
    if report.session_id:
        parts.append(f"session {report.session_id}")
    for key, label in (("os", "OS"), ("python_version", "Python"), ("cpu_model", "CPU")):
        if h.get(key):
            parts.append(f"{label} {h[key]}")
    if h.get("gpu_count"):
        parts.append(f"{h['gpu_count']} GPU(s)")
    return " · ".join(parts)


# -- Markdown --------------------------------------------------------------------------------
def _md_table(header, rows) -> list[str]:
    out = ["| " + " | ".join(md_escape(h) for h in header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(md_escape(c) if c != "" else " " for c in row) + " |" for row in rows]
    return out


def markdown(report: Report) -> str:
    table = CellTable(report)
    out = [f"# Carbon receipt: {md_escape(report.project_name)}", "", md_escape(footprint_sentence(report)), "",
           "## Totals", "", *_md_table(["", "value"], totals_rows(report)), "",
           "## Per cell", "", *_md_table(table.header(), table.rows() + table.footer()), "",
           "## Method", "", md_escape(method_note(report)), ""]
    mrows = method_rows(report)
    out += _md_table(["source", "kind", "measured / estimated", "energy", "how"], mrows) if mrows else [
        "No energy source was read (no measured cells)."]
    skipped = skipped_lines(report)
    if skipped:
        out += ["", "Sensors not used:", "", *[f"- {md_escape(s)}" for s in skipped]]
    out += ["", "## Grid intensity sources", ""]
    srows = source_rows(report)
    out += _md_table(["provider", "zone", "kind", "signal", "source", "licence"], srows) if srows else [
        "No intensity value was used (no measured cells)."]
    out += ["", "## Equivalents", ""]
    for e in equivalents(report.totals["emissions_g"]):
        out.append(f"- {md_escape(e.text())}: at {md_escape(e.basis)}; {md_escape(e.source)} ({e.year}), "
                   f"<{EPA_URL}>")
    out += ["", "---", "", md_escape(footer_line(report)), ""]
    return "\n".join(out)


# -- HTML ------------------------------------------------------------------------------------
# Tables never push the page wider than the text: each sits in a box that scrolls sideways as a last
# resort, text cells wrap (long code, long source names), numbers do not.
_CSS = ("body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}"
        ".cm-scroll{max-width:100%;overflow-x:auto}"
        "table{border-collapse:collapse;margin:.5rem 0;max-width:100%}td,th{border:1px solid #ccc;"
        "padding:.2rem .5rem;text-align:left;vertical-align:top;overflow-wrap:anywhere}"
        "td[style*=right],th[style*=right]{white-space:nowrap;overflow-wrap:normal}"
        "code{white-space:pre-wrap}caption{text-align:left;color:#666}footer{color:#666;font-size:.9em}")


def _scroll(table_html: str) -> str:
    return f'<div class="cm-scroll">{table_html}</div>'


def _html_table(header, rows) -> str:
    e = html_text
    head = "".join(f"<th>{e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return _scroll(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def html_document(report: Report) -> str:
    e = html_text
    name = e(report.project_name)
    mrows, srows = method_rows(report), source_rows(report)
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Carbon receipt: {name}</title><style>{_CSS}</style></head><body>",
        f"<h1>Carbon receipt: {name}</h1>", f"<p>{e(footprint_sentence(report))}</p>",
        "<h2>Totals</h2>", _html_table(["", "value"], totals_rows(report)),
        "<h2>Per cell</h2>", _scroll(CellTable(report).html()),
        "<h2>Method</h2>", f"<p>{e(method_note(report))}</p>",
        _html_table(["source", "kind", "measured / estimated", "energy", "how"], mrows) if mrows
        else "<p>No energy source was read (no measured cells).</p>",
    ]
    skipped = skipped_lines(report)
    if skipped:
        parts.append("<p>Sensors not used:</p><ul>" + "".join(f"<li>{e(s)}</li>" for s in skipped) + "</ul>")
    parts += ["<h2>Grid intensity sources</h2>",
              _html_table(["provider", "zone", "kind", "signal", "source", "licence"], srows) if srows
              else "<p>No intensity value was used (no measured cells).</p>",
              "<h2>Equivalents</h2><ul>"]
    for q in equivalents(report.totals["emissions_g"]):
        parts.append(f"<li>{e(q.text())}: at {e(q.basis)}; <a href=\"{e(EPA_URL)}\">{e(q.source)}</a> "
                     f"({q.year})</li>")
    parts += ["</ul>", f"<footer><hr>{e(footer_line(report))}</footer>", "</body></html>", ""]
    return "\n".join(parts)
