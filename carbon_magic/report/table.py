"""`%carbon table`: the per-cell table of a session, as HTML (escaped) with a plain-text fallback."""
from __future__ import annotations

from dataclasses import dataclass

from ..record import CellRecord
from ..units import fmt_duration, fmt_energy, fmt_mass_g
from .display import DASH, html_text, measured_label, printable, fmt_intensity, fmt_optional_energy, fmt_start, one_line
from .model import Report, cell_name, kinds_present, mark

SORT_KEYS = {
    "start": (lambda r: r.started_at, False),
    "duration": (lambda r: r.duration_s, True),
    "energy": (lambda r: r.energy_j, True),
    "emissions": (lambda r: r.emissions_g, True),
    "intensity": (lambda r: r.intensity_g_per_kwh, True),
}


def scope_note(record: CellRecord) -> str:
    """`` for a machine-scope record, ` · process 38 %` (the share of the devices' energy billed)."""
    if record.scope != "process":
        return ""
    device = sum(c.device_j for c in record.components)
    billed = sum(c.energy_j for c in record.components)
    return f" · process {billed / device * 100:.0f} %" if device > 0 else " · process"


def scopes_label(records: list[CellRecord]) -> str:
    """`scope: machine` (the devices' energy), `scope: process` (this kernel's share), or both."""
    scopes = sorted({r.scope for r in records}) or ["machine"]
    words = {"machine": "machine (what the devices drew)", "process": "process (this kernel's share)"}
    return "scope: " + " + ".join(words.get(s, s) for s in scopes)


def select(records: list[CellRecord], sort: str = "start", top: int | None = None) -> list[CellRecord]:
    """Records ordered by `sort` (start ascending; the others largest first), first `top` kept."""
    key, reverse = SORT_KEYS[sort]
    out = sorted(records, key=key, reverse=reverse)
    return out if top is None else out[:top]


@dataclass
class CellTable:
    """What `%carbon table` returns: IPython shows `_repr_html_`, a terminal `__str__`."""

    report: Report
    sort: str = "start"
    top: int | None = None

    # -- the cells of the table, as display strings ------------------------------------
    def header(self) -> list[str]:
        kinds = kinds_present(self.report.records)
        return ["cell", "code", "start (UTC)", "duration", *[f"{k} energy" for k in kinds], "energy",
                "intensity", "CO₂e", "method"]

    def rows(self) -> list[list[str]]:
        kinds = kinds_present(self.report.records)
        out = []
        for r in select(self.report.records, self.sort, self.top):
            by_kind = r.energy_by_kind()
            status = "" if r.status == "ok" else f" ({r.status})"
            out.append([cell_name(r), r.code_head or "", fmt_start(r.started_at), fmt_duration(r.duration_s),
                        *[fmt_energy(by_kind[k]) if k in by_kind else DASH for k in kinds],
                        fmt_energy(r.energy_j), fmt_intensity(r.intensity_g_per_kwh), fmt_mass_g(r.emissions_g),
                        mark(r) + status + scope_note(r)])
        return out

    def footer(self) -> list[list[str]]:
        t = self.report.totals
        kinds = kinds_present(self.report.records)
        n = t["cells"]
        total = ["total", f"{n} cell{'s' if n != 1 else ''}", "", fmt_duration(t["duration_s"]),
                 *[fmt_energy(t["energy_by_kind_j"].get(k, 0.0)) for k in kinds],
                 fmt_energy(t["cells_energy_j"]), fmt_intensity(t["intensity_g_per_kwh"]),
                 fmt_mass_g(t["emissions_g"]), measured_label(t)]
        blanks = [""] * len(kinds)
        idle = ["idle", "between cells", "", "", *blanks, fmt_optional_energy(t["idle_energy_j"]), "", "", ""]
        session = ["session", "cells + idle", "", "", *blanks, fmt_optional_energy(t["session_energy_j"]),
                   "", "", ""]
        return [total, idle, session]

    def caption(self) -> str:
        shown = min(self.top, self.report.totals["cells"]) if self.top else self.report.totals["cells"]
        extra = f", top {shown} of {self.report.totals['cells']} by {self.sort}" if self.top else (
            f", sorted by {self.sort}" if self.sort != "start" else "")
        sid = f" · session {self.report.session_id}" if self.report.session_id else ""
        return printable(f"carbon_magic · {self.report.project_name}{sid}{extra} · "
                         f"{scopes_label(self.report.records)}")

    # -- renderers -------------------------------------------------------------------------
    def text(self) -> str:
        header = self.header()
        body = [[one_line(c, 40) if i == 1 else printable(c) for i, c in enumerate(row)] for row in self.rows()]
        foot = self.footer()
        widths = [max(len(row[i]) for row in [header, *body, *foot]) for i in range(len(header))]
        numeric = set(range(3, len(header) - 1))

        def line(row):
            return "  ".join(c.rjust(w) if i in numeric else c.ljust(w)
                             for i, (c, w) in enumerate(zip(row, widths))).rstrip()

        rule = "  ".join("-" * w for w in widths)
        out = [self.caption(), line(header), rule, *map(line, body)]
        if not body:
            out.append("(no measured cells yet: use %%carbon or %carbon auto on)")
        out += [rule, *map(line, foot)]
        return "\n".join(out)

    def html(self) -> str:
        e = html_text
        header = self.header()
        numeric = set(range(3, len(header) - 1))

        def tr(row, tag="td"):
            cells = []
            for i, c in enumerate(row):
                style = ' style="text-align:right"' if i in numeric else ""
                text = one_line(c, 60) if i == 1 and tag == "td" else c
                title = f' title="{e(c)}"' if i == 1 and text != c else ""
                code = f"<code>{e(text)}</code>" if i == 1 and text and tag == "td" else e(text)
                cells.append(f"<{tag}{style}{title}>{code}</{tag}>")
            return "<tr>" + "".join(cells) + "</tr>"

        body = [tr(r) for r in self.rows()] or [
            f'<tr><td colspan="{len(header)}">no measured cells yet: use <code>%%carbon</code> or '
            "<code>%carbon auto on</code></td></tr>"]
        return ('<table class="carbon-magic-table">'
                f"<caption>{e(self.caption())}</caption>"
                f"<thead>{tr(header, 'th')}</thead><tbody>{''.join(body)}</tbody>"
                f"<tfoot>{''.join(tr(r, 'th') for r in self.footer())}</tfoot></table>")

    def _repr_html_(self) -> str:
        return self.html()

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        return self.text()
