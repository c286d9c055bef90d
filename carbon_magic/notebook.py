"""Which notebook a kernel runs, where the frontend tells us (no guessing, no files read).

ipykernel puts the notebook's path in the user namespace as `__session__` (from the
`JPY_SESSION_NAME` environment variable that Jupyter Server sets), VS Code as
`__vsc_ipynb_file__`. A path under the home directory is shortened to `~/…`, so a ledger or an
export does not carry the user's name.
"""
from __future__ import annotations

import os
from pathlib import Path


def notebook_path(user_ns: dict | None = None, environ=None) -> str | None:
    """The notebook's path as the frontend gave it, or None where nothing says."""
    ns = user_ns or {}
    env = os.environ if environ is None else environ
    for value in (ns.get("__session__"), ns.get("__vsc_ipynb_file__"), env.get("JPY_SESSION_NAME")):
        if isinstance(value, str) and value.strip() and Path(value.strip()).stem:
            return _without_home(value.strip())
    return None


def _without_home(path: str) -> str:
    try:
        home = str(Path.home())
    except RuntimeError:  # no home directory (some containers)
        return path
    if home not in ("", "/") and (path == home or path.startswith(home.rstrip("/") + "/")):
        return "~" + path[len(home.rstrip("/")):]
    return path


def notebook_stem(path: str | None) -> str | None:
    """`analysis` for `~/work/analysis.ipynb`."""
    return Path(path).stem or None if path else None
