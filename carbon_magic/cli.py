"""`carbon-magic`: footprint reports from notebooks and ledgers, with no kernel and no network.

    carbon-magic report analysis.ipynb
    carbon-magic report before.ipynb after.ipynb          # before/after, with differences
    carbon-magic report students/*.ipynb -o class.csv     # a leaderboard, and a CSV of every cell
    carbon-magic report --ledger ~/.local/share/carbon_magic/ledger.sqlite3 --session 3f2a…
    carbon-magic report train.ipynb --model-card model-card.md [--cells fit] [--inference eval]

Exit status: 0 when at least one file was read (files that could not be read, and records that
were skipped, are named on stderr, one line each, and the rest is reported); 1 when no file could
be read or `-o` could not be written; 2 for bad arguments. Notebooks and ledgers are untrusted:
every record is checked (`record.record_problem`), and everything written to the terminal has its
control characters (escape sequences, bidi overrides) replaced by '?'.
"""
from __future__ import annotations

import argparse
import sys

from .report.display import fmt_intensity, footprint_sentence, measured_label, printable, printable_lines
from .report.formats import SUFFIXES, ExportError, write
from .report.model import Report
from .report.sources import SourceError, read_ledger, read_notebook
from .units import fmt_duration, fmt_energy, fmt_mass_g

EXIT_OK, EXIT_NOTHING_READ, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="carbon-magic", description="Energy and CO₂e reports of Jupyter notebooks.",
                                epilog="Exit status: 0 if at least one file was read, 1 if none could be "
                                       "(or -o failed), 2 for bad arguments.")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("report", help="summarise notebooks (cell metadata) and/or a ledger",
                       description="Print a summary of each notebook's measured cells (from the metadata the "
                                   "JupyterLab extension writes); with several, a comparison.")
    r.add_argument("notebooks", nargs="*", metavar="NOTEBOOK.ipynb")
    r.add_argument("-o", "--output", metavar="PATH", help=f"also write an export ({', '.join(SUFFIXES)})")
    r.add_argument("--ledger", metavar="PATH", help="read a carbon_magic ledger.sqlite3 too")
    r.add_argument("--session", metavar="ID", help="with --ledger: only this session")
    r.add_argument("--model-card", metavar="PATH.md",
                   help="also write a model card's carbon disclosure (Hugging Face co2_eq_emissions, the "
                        "Environmental Impact section, SPDX 3.0.1 AI energy)")
    r.add_argument("--cells", nargs="+", metavar="LABEL", help="with --model-card: the training cells "
                   "(default: the labelled cells, else all)")
    r.add_argument("--inference", nargs="+", metavar="LABEL", default=[],
                   help="with --model-card: cells reported as inference")
    r.add_argument("--training-type", choices=("pre-training", "fine-tuning"), default=None,
                   help="with --model-card (default pre-training)")
    return p


# -- printing --------------------------------------------------------------------------------
def _table(header: list[str], rows: list[list[str]], right_from: int = 1) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(row):
        return "  ".join(c.rjust(w) if i >= right_from else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths)))

    return "\n".join([line(header), "  ".join("-" * w for w in widths), *map(line, rows)])


def _diff(value: float, base: float, fmt) -> str:
    d = value - base
    sign = "+" if d > 0 else "−" if d < 0 else "±"
    pct = f" ({sign}{abs(d) / base * 100:.0f} %)" if base > 0 else ""
    return f"{sign}{fmt(abs(d))}{pct}"


def summary_text(sources) -> str:
    header = ["notebook", "cells", "measured energy", "time", "energy", "CO₂e", "intensity", "all runs"]
    rows = []
    for s in sources:
        t = s.report.totals
        rows.append([printable(s.name), str(t["cells"]), measured_label(t), fmt_duration(t["duration_s"]),
                     fmt_energy(t["cells_energy_j"]), fmt_mass_g(t["emissions_g"]),
                     fmt_intensity(t["intensity_g_per_kwh"]),
                     f"{s.runs} run{'s' if s.runs != 1 else ''}, {fmt_mass_g(s.runs_emissions_g)}"])
    out = [_table(header, rows, right_from=1)]
    if len(sources) == 1:
        from .report.table import CellTable  # noqa: PLC0415 - only a one-source report has a table

        out += ["", printable(footprint_sentence(sources[0].report)), "", CellTable(sources[0].report).text()]
    else:
        out += ["", comparison_text(sources)]
    return "\n".join(out)


def comparison_text(sources) -> str:
    """A leaderboard (lowest CO₂e first), each notebook against the first one given that has data.
    Notebooks with no measured cell have nothing to rank: they come last, unranked, marked so."""
    base_i = next((i for i, s in enumerate(sources) if s.report.totals["cells"]), 0)
    base = sources[base_i].report.totals
    ranked = sorted(range(len(sources)),
                    key=lambda i: (sources[i].report.totals["cells"] == 0, sources[i].report.totals["emissions_g"]))
    rows = []
    rank = 0
    for i in ranked:
        t = sources[i].report.totals
        if t["cells"] == 0:
            rows.append(["–", printable(sources[i].name), "–", "–", "no measured cells"])
            continue
        rank += 1
        vs = "(baseline)" if i == base_i else (
            f"{_diff(t['cells_energy_j'], base['cells_energy_j'], fmt_energy)} energy, "
            f"{_diff(t['emissions_g'], base['emissions_g'], fmt_mass_g)} CO₂e")
        rows.append([str(rank), printable(sources[i].name), fmt_mass_g(t["emissions_g"]), fmt_energy(t["cells_energy_j"]), vs])
    first = printable(sources[base_i].name)
    return (f"Leaderboard (lowest CO₂e first; differences against {first}):\n"
            + _table(["#", "notebook", "CO₂e", "energy", f"vs {first}"], rows, right_from=2))


def combined(sources) -> Report:
    if len(sources) == 1:
        return sources[0].report
    records, projects = [], []
    for s in sources:
        records += s.report.records
        projects += [s.report.project_name] * len(s.report.records)
    names = ", ".join(s.report.project_name for s in sources)
    hosts = [s.report.host for s in sources if s.report.host]
    report = Report.from_records(records, hosts[0] if len(hosts) == 1 else {}, None,
                                 f"{len(sources)} notebooks ({names})")
    report.record_projects = projects
    return report


class _Terminal:
    """A text stream whose every write has control characters replaced, line breaks kept."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text: str) -> int:
        return self.stream.write(printable_lines(text))

    def flush(self) -> None:
        self.stream.flush()


# -- main ------------------------------------------------------------------------------------
def report_main(args, out=None, err=None) -> int:
    out, err = _Terminal(out or sys.stdout), _Terminal(err or sys.stderr)
    if not args.notebooks and not args.ledger:
        print("carbon-magic report: give at least one NOTEBOOK.ipynb or --ledger PATH", file=err)
        return EXIT_USAGE
    if args.session and not args.ledger:
        print("carbon-magic report: --session needs --ledger PATH", file=err)
        return EXIT_USAGE
    if (args.cells or args.inference or args.training_type) and not args.model_card:
        print("carbon-magic report: --cells, --inference and --training-type need --model-card PATH.md", file=err)
        return EXIT_USAGE
    if args.model_card and not str(args.model_card).lower().endswith(".md"):
        print("carbon-magic report: a model card is Markdown: give --model-card a path ending in .md", file=err)
        return EXIT_USAGE
    sources = []
    for nb in args.notebooks:
        try:
            sources.append(read_notebook(nb))
        except SourceError as exc:
            print(f"{nb}: {exc}", file=err)
    if args.ledger:
        try:
            sources += read_ledger(args.ledger, args.session)
        except SourceError as exc:
            print(f"{args.ledger}: {exc}", file=err)
    for s in sources:
        for note in s.notes:
            print(printable(f"{s.name}: {note}"), file=err)
    if not sources:
        print("carbon-magic report: no file could be read", file=err)
        return EXIT_NOTHING_READ
    print(summary_text(sources), file=out)
    if args.output:
        try:
            path = write(combined(sources), args.output)
        except ExportError as exc:
            print(f"carbon-magic report: {exc}", file=err)
            return EXIT_NOTHING_READ
        print(f"wrote {path}", file=out)
    if args.model_card:
        return write_model_card(combined(sources), args, out, err)
    return EXIT_OK


def write_model_card(report: Report, args, out, err) -> int:
    from .report.model_card import CardError, CardOptions, render  # noqa: PLC0415 - only --model-card needs it

    options = CardOptions(cells=args.cells, inference=args.inference or [],
                          training_type=args.training_type or "pre-training")
    try:
        content = render(report, options)
    except CardError as exc:  # an unknown label: a bad argument
        print(f"carbon-magic report: {exc}", file=err)
        return EXIT_USAGE
    try:
        path = write(report, args.model_card, lambda _report: content)
    except ExportError as exc:
        print(f"carbon-magic report: {exc}", file=err)
        return EXIT_NOTHING_READ
    print(f"wrote {path}", file=out)
    return EXIT_OK


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "report":
        try:
            return report_main(args)
        except BrokenPipeError:  # `carbon-magic report … | head`: the reader left, not an error
            sys.stderr.close()
            return EXIT_OK
    return EXIT_USAGE  # pragma: no cover - argparse requires a command


if __name__ == "__main__":
    sys.exit(main())
