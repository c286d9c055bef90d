"""Export formats by file suffix; each renderer is imported only when used."""
from __future__ import annotations

import importlib
import os
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


def _shown(path) -> str:
    """A path for a one-line message: control characters replaced, cut to a readable length."""
    from .display import one_line  # noqa: PLC0415 - only messages need it

    return one_line(str(path), 120)


def _name_max(directory: Path) -> int:
    try:
        return os.pathconf(directory, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        return 255


def check_path(path) -> tuple[Path, str]:
    """(target, suffix) for an export path, or ExportError saying what is wrong and what to do.

    Everything that can be known before writing is checked here, so no OSError, ValueError or
    TypeError from the path itself reaches the user as a traceback.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise ExportError(f"the export path must be a file name, not {type(path).__name__}")
    text = os.fspath(path)
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    if not text.strip():
        raise ExportError(f"give a file name ending in {', '.join(SUFFIXES)}")
    if "\0" in text:
        raise ExportError("the path contains a NUL byte; give an ordinary file name")
    try:
        suffix = suffix_of(text)
    except ValueError as exc:
        raise ExportError(str(exc)) from None
    try:
        target = Path(text).expanduser()
    except RuntimeError:  # `~nosuchuser/…`
        raise ExportError(f"cannot write {_shown(text)}: no home directory for {_shown(text.split('/')[0])}; "
                          "give the full path") from None
    parent = target.absolute().parent
    limit = _name_max(parent) if parent.is_dir() else 255
    for part in target.parts:
        size = len(os.fsencode(part))
        if size > limit:
            raise ExportError(f"cannot write {_shown(target)}: a name in the path is {size} bytes long, over "
                              f"the file system's limit of {limit}; choose a shorter name")
    try:
        if target.is_dir():
            raise ExportError(f"cannot write {_shown(target)}: it is a directory; give a file name ending "
                              f"in {suffix}")
        if not parent.is_dir():
            raise ExportError(f"cannot write {_shown(target)}: directory {_shown(parent)} does not exist; "
                              "create it or choose another")
    except OSError as exc:
        raise ExportError(f"cannot write {_shown(target)}: {exc.strerror or exc}") from None
    return target, suffix


def write(report: Report, path: str | Path, renderer=None) -> Path:
    """Render `report` in the format named by `path`'s suffix (or with `renderer(report)`, e.g.
    the model card) and write it atomically."""
    target, suffix = check_path(path)
    content = renderer(report) if renderer else render(report, suffix)  # in full before the disk is touched
    from .atomic import write_atomic  # noqa: PLC0415 - only writing needs it

    try:
        return write_atomic(target, content)
    except OSError as exc:
        hint = "; choose a directory you can write to" if isinstance(exc, PermissionError) else ""
        raise ExportError(f"cannot write {_shown(target)}: {exc.strerror or exc}{hint}") from None
