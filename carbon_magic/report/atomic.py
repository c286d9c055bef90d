"""Atomic file writes: a temporary file in the target's directory, then `os.replace`.

A reader never sees a half-written export, and a failure (unwritable directory, full disk)
leaves the old file, if any, untouched and no temporary file behind.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_atomic(path: str | Path, content: str | bytes) -> Path:
    """Write `content` (str as UTF-8) to `path` atomically; returns the absolute path."""
    path = Path(path).expanduser().absolute()
    data = content.encode("utf-8") if isinstance(content, str) else content
    # A short fixed prefix: the target's own name may be up to the file system's limit (255
    # bytes), and a temporary name built from it would go over.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".carbon_magic-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _default_mode())  # mkstemp creates 0600; an export is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path
