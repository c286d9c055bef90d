"""`%carbon table`: the per-cell table of a session, as HTML (escaped) with a plain-text fallback."""
from __future__ import annotations

from dataclasses import dataclass

from ..record import CellRecord
from ..units import fmt_duration, fmt_energy, fmt_mass_g
from .display import DASH, html_text, measured_label, printable, fmt_intensity, fmt_optional_energy, fmt_start, one_line
from .model import Report, cell_name, grouped, kinds_present, mark
from .sci import fmt_small, per_unit

SORT_KEYS = {
    "start": (lambda r: r.start_s, False),
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


NESTED_MARK = "↳ "  # before the name of a record nested in the cell above it


def select(records: list[CellRecord], sort: str = "start", top: int | None = None) -> list[CellRecord]:
    """Cells ordered by `sort` (start ascending; the others largest first), first `top` kept, each
    followed by its nested records (`measure()` inside it, by start), which are not counted in `top`."""
    key, reverse = SORT_KEYS[sort]
    groups = sorted(grouped(records), key=lambda g: key(g[0]), reverse=reverse)
    if top is not None:
        groups = groups[:top]
    return [r for head, kids in groups for r in (head, *sorted(kids, key=lambda k: k.start_s))]


@dataclass
class CellTable:
    """What `%carbon table` returns: IPython shows `_repr_html_`, a terminal `__str__`."""

    report: Report
    sort: str = "start"
    top: int | None = None

    # -- the cells of the table, as display strings ------------------------------------
    def _per_unit(self) -> bool:
        """Whether any cell was given `--per N UNIT`: then the per-unit and SCI columns are shown."""
        return any(getattr(r, "units", None) for r in self.report.records)

    def header(self) -> list[str]:
        kinds = kinds_present(self.report.records)
        extra = ["per unit (energy · CO₂e)", "SCI (E·I+M)/R"] if self._per_unit() else []
        return ["cell", "code", "start (UTC)", "duration", *[f"{k} energy" for k in kinds], "energy",
                "intensity", "CO₂e", *extra, "method"]

    @staticmethod
    def unit_cells(r: CellRecord) -> list[str]:
        p = per_unit(r)
        if p is None:
            return [DASH, DASH]
        per = f"{fmt_small(p['energy_j'], 'J')} · {fmt_small(p['emissions_g'], 'g')} /{p['unit']}"
        sci = DASH if p["sci_g"] is None else f"{fmt_small(p['sci_g'], 'g')} /{p['unit']} (M est.)"
        return [per, sci]

    def rows(self) -> list[list[str]]:
        kinds = kinds_present(self.report.records)
        out = []
        for r in select(self.report.records, self.sort, self.top):
            by_kind = r.energy_by_kind()
            status = "" if r.status == "ok" else f" ({r.status})"
            name = NESTED_MARK + cell_name(r) if r.nested else cell_name(r)
            out.append([name, r.code_head or "", fmt_start(r.start_s), fmt_duration(r.duration_s),
                        *[fmt_energy(by_kind[k]) if k in by_kind else DASH for k in kinds],
                        fmt_energy(r.energy_j), fmt_intensity(r.intensity_g_per_kwh), fmt_mass_g(r.emissions_g),
                        *(self.unit_cells(r) if self._per_unit() else []), mark(r) + status + scope_note(r)])
        return out

    def footer(self) -> list[list[str]]:
        """Three rows named as everywhere else (`CarbonSession.totals`): cells, idle, session."""
        t = self.report.totals
        kinds = kinds_present(self.report.records)
        n, nested = t["cells"], t.get("nested", 0)
        unit_blanks = ["", ""] if self._per_unit() else []
        cells = ["cells", f"{n} measured cell{'s' if n != 1 else ''}"
                 + (f" (+{nested} nested, in their cells)" if nested else ""), "", fmt_duration(t["duration_s"]),
                 *[fmt_energy(t["energy_by_kind_j"].get(k, 0.0)) for k in kinds],
                 fmt_energy(t["cells_energy_j"]), fmt_intensity(t["intensity_g_per_kwh"]),
                 fmt_mass_g(t["emissions_g"]), *unit_blanks, measured_label(t)]
        blanks = [""] * len(kinds)
        rows = [cells]
        for name, meaning in (("idle", "between measured cells"), ("session", "cells + idle, since load")):
            e, g = t.get(f"{name}_energy_j"), t.get(f"{name}_emissions_g")
            rows.append([name, meaning, "", "", *blanks, fmt_optional_energy(e), "",
                         DASH if g is None else fmt_mass_g(g), *unit_blanks, ""])
        return rows

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
