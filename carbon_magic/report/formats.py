"""Export formats by file suffix; each renderer is imported only when used."""
from __future__ import annotations

import importlib
from pathlib import Path

from .model import Report

# suffix -> (module, function)
RENDERERS = {
    ".csv": ("csv_export", "render"),
    ".json": ("json_export", "render"),
    ".md": ("receipt", "markdown"),
    ".html": ("receipt", "html_document"),
    ".svg": ("badge", "render"),
}
SUFFIXES = tuple(RENDERERS)


def suffix_of(path: str | Path) -> str:
    """The export suffix of `path`; raises ValueError naming the accepted ones."""
    suffix = Path(path).suffix.lower()
    if suffix == ".htm":
        suffix = ".html"
    if suffix not in RENDERERS:
        raise ValueError(f"unknown export format {Path(path).suffix or '(no suffix)'!r}: "
                         f"use a path ending in {', '.join(SUFFIXES)}")
    return suffix


def render(report: Report, suffix: str) -> str:
    module, fn = RENDERERS[suffix]
    return getattr(importlib.import_module(f"{__package__}.{module}"), fn)(report)


class ExportError(Exception):
    """One line saying what went wrong and what to do; nothing was written."""


def write(report: Report, path: str | Path) -> Path:
    """Render `report` in the format named by `path`'s suffix and write it atomically."""
    try:
        suffix = suffix_of(path)
    except ValueError as exc:
        raise ExportError(str(exc)) from None
    target = Path(path).expanduser()
    if target.is_dir():
        raise ExportError(f"cannot write {target}: it is a directory; give a file name ending in {suffix}")
    if not target.absolute().parent.is_dir():
        raise ExportError(f"cannot write {target}: directory {target.absolute().parent} does not exist")
    content = render(report, suffix)  # rendered in full before anything touches the disk
    from .atomic import write_atomic  # noqa: PLC0415

    try:
        return write_atomic(target, content)
    except OSError as exc:
        raise ExportError(f"cannot write {target}: {exc.strerror or exc}") from None
