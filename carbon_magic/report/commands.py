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

EXPORT_USAGE = f"%carbon export PATH (PATH ends in {', '.join(SUFFIXES)})"
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


def export_command(magics, argline: str) -> None:
    words = split_args(argline, "%carbon export")
    if len(words) != 1:
        raise UsageError(f"%carbon export takes one path; usage: {EXPORT_USAGE}")
    report = Report.from_session(magics.session, project_name(magics.shell))
    try:
        path = write(report, words[0])
    except ExportError as exc:
        raise UsageError(f"%carbon export: {exc}") from None
    n = report.totals["cells"]
    print(f"carbon_magic: wrote {n} cell{'s' if n != 1 else ''} to {path}")


def export_text(session, fmt: str) -> tuple[str, str]:
    """(file name, content) of an export in `fmt` (csv, json or md), for the JupyterLab comm."""
    if fmt not in TEXT_FORMATS:
        raise ValueError(f"unknown export format {fmt!r}: use one of {', '.join(TEXT_FORMATS)}")
    try:
        from IPython import get_ipython  # noqa: PLC0415

        shell = get_ipython()
    except ImportError:
        shell = None
    report = Report.from_session(session, project_name(shell))
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", report.project_name).strip("._") or "notebook"
    return f"{stem}-carbon{TEXT_FORMATS[fmt]}", render(report, TEXT_FORMATS[fmt])
