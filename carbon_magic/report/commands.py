"""`%carbon table` and `%carbon export`, and the JupyterLab comm's export request.

Each function gets the magics object (`magics.session`, `magics.shell`) and the rest of the
line; bad arguments raise IPython's one-line UsageError naming what is accepted.
"""
from __future__ import annotations

import argparse
import re

from IPython.core.error import UsageError

from ..cmdline import CommandParser, split_args
from ..notebook import notebook_path, notebook_stem
from .formats import SUFFIXES, ExportError, render, write
from .model import Report
from .table import SORT_KEYS, CellTable

EXPORT_USAGE = (f"%carbon export PATH (PATH ends in {', '.join(SUFFIXES)}); a model card: "
                "%carbon export model-card.md [--cells LABEL…] [--inference LABEL…] "
                "[--training-type pre-training|fine-tuning]")
TEXT_FORMATS = {"csv": ".csv", "json": ".json", "md": ".md"}


def project_name(shell=None) -> str:
    """The notebook's name where the frontend tells us (ipykernel, VS Code), else "notebook"."""
    return notebook_stem(notebook_path(getattr(shell, "user_ns", None))) or "notebook"


def _top(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"a whole number ≥ 1 is needed, not {value!r}")
    return int(value)


def parse_table_args(argline: str) -> tuple[str, int | None]:
    ap = CommandParser("%carbon table")
    ap.add_argument("--sort", choices=SORT_KEYS, default="start")
    ap.add_argument("--top", type=_top, default=None, metavar="N")
    args = ap.parse_args(split_args(argline, "%carbon table"))
    return args.sort, args.top


def table_command(magics, argline: str) -> CellTable:
    sort, top = parse_table_args(argline)
    return CellTable(Report.from_session(magics.session, project_name(magics.shell)), sort, top)


def parse_export_args(argline: str, prog: str = "%carbon export"):
    """(path, CardOptions or None): a model card where `--model-card` is given or the file is
    named like one (`model-card.md`)."""
    from .model_card import TRAINING_TYPES, CardOptions, is_model_card_path  # noqa: PLC0415 - model cards on first use

    ap = CommandParser(prog)
    ap.add_argument("path", nargs="*", metavar="PATH")
    ap.add_argument("--model-card", action="store_true")
    ap.add_argument("--cells", nargs="+", metavar="LABEL", default=None)
    ap.add_argument("--inference", nargs="+", metavar="LABEL", default=[])
    ap.add_argument("--training-type", choices=tuple(TRAINING_TYPES), default=None)
    args = ap.parse_args(split_args(argline, prog))
    if len(args.path) != 1:
        raise UsageError(f"{prog} takes one path; usage: {EXPORT_USAGE}")
    path = args.path[0]
    card = args.model_card or is_model_card_path(path)
    if not card:
        if args.cells or args.inference or args.training_type:
            raise UsageError(f"{prog}: --cells, --inference and --training-type are for a model card; "
                             "add --model-card (or name the file model-card.md)")
        return path, None
    if not str(path).lower().endswith(".md"):
        raise UsageError(f"{prog}: a model card is Markdown: give a path ending in .md")
    return path, CardOptions(cells=args.cells, inference=args.inference,
                             training_type=args.training_type or "pre-training")


def export_command(magics, argline: str) -> None:
    path, card = parse_export_args(argline)
    report = Report.from_session(magics.session, project_name(magics.shell))
    renderer = None
    if card is not None:
        from .model_card import CardError, render as render_card  # noqa: PLC0415 - model cards on first use

        try:
            content = render_card(report, card)  # options checked before anything is written
        except CardError as exc:
            raise UsageError(f"%carbon export: {exc}") from None

        def renderer(_report):
            return content
    try:
        path = write(report, path, renderer)
    except ExportError as exc:
        raise UsageError(f"%carbon export: {exc}") from None
    n = report.totals["cells"]
    what = "a model card" if card is not None else f"{n} cell{'s' if n != 1 else ''}"
    print(f"carbon_magic: wrote {what} to {path}")


def export_text(session, fmt: str) -> tuple[str, str]:
    """(file name, content) of an export in `fmt` (csv, json or md), for the JupyterLab comm."""
    if fmt not in TEXT_FORMATS:
        raise ValueError(f"unknown export format {fmt!r}: use one of {', '.join(TEXT_FORMATS)}")
    try:
        from IPython import get_ipython  # noqa: PLC0415 - the project name, where a shell exists

        shell = get_ipython()
    except ImportError:
        shell = None
    report = Report.from_session(session, project_name(shell))
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", report.project_name).strip("._") or "notebook"
    return f"{stem}-carbon{TEXT_FORMATS[fmt]}", render(report, TEXT_FORMATS[fmt])
