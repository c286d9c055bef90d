"""Loading and unloading the IPython extension: one session, its hooks, and the frontend comm."""
from __future__ import annotations

import logging
import sys
from typing import Any

from .config import Settings
from .intensity.messages import say
from .magics import CarbonMagics
from .notebook import notebook_path
from .session import CarbonSession

log = logging.getLogger("carbon_magic")

_STATE: dict[int, dict] = {}  # id(shell) -> {"magics", "session", "bridge"}


def load(ip) -> None:
    if id(ip) in _STATE:
        return
    settings = Settings.from_env()
    for w in settings.warnings:
        print(f"carbon_magic: {w}", file=sys.stderr)
    session = CarbonSession(settings, notebook=notebook_path(getattr(ip, "user_ns", None))).start()
    for notice in session.ledger.notices():  # a damaged ledger moved aside, records kept in memory
        print(notice, file=sys.stderr)
    try:
        magics = CarbonMagics(ip, session)
    except Exception:
        session.close()
        raise
    for notice in session.drain_load_notices():  # a bad zone, a shortened interval: said now, once
        say(notice)
    ip.register_magics(magics)
    ip.events.register("pre_run_cell", magics.pre_run_cell)
    ip.events.register("post_run_cell", magics.post_run_cell)
    ip.input_transformers_cleanup.append(magics.transform)
    state: dict[str, Any] = {"magics": magics, "session": session, "bridge": None}
    _STATE[id(ip)] = state
    hook = None
    try:  # Dask / Ray clusters: attaches when one is in use (imports neither until then)
        from .cluster import ClusterHook  # noqa: PLC0415

        hook = ClusterHook.install(session)
    except Exception:
        log.warning("cluster measuring unavailable", exc_info=True)
    if getattr(ip, "kernel", None) is not None:
        state["bridge"] = _open_bridge(session)
        if state["bridge"] is not None and hook is not None:
            hook.listeners.append(state["bridge"].send_cluster)


def hello_message(session: CarbonSession) -> dict:
    """The comm's first message: who measures what, and the session's totals so far."""
    d = session.describe()
    return {"version": d["carbon_magic_version"], "session_id": session.session_id, "sensors": d["sensors"],
            "skipped": d["skipped"], "zone": session.settings.zone, "totals": session.totals()}


def _open_bridge(session: CarbonSession, create_comm=None):
    """Open the `carbon_magic` comm for the JupyterLab extension (absent frontends ignore it).

    Every message that changes what the sidebar shows carries the kernel's `totals` (cells, idle,
    session: `CarbonSession.totals`), so the sidebar shows the numbers `%carbon status` shows."""
    try:
        from .frontend import FrontendBridge  # noqa: PLC0415 - no frontend bridge is fine
    except ImportError:
        return None

    def on_export(fmt: str):
        from .report.commands import export_text  # noqa: PLC0415 - the report modules on the first export

        return export_text(session, fmt)

    try:
        bridge = FrontendBridge(create_comm=create_comm, on_export_request=on_export)
        bridge.open(hello_message(session))
        session.sampler.add_listener(lambda snap: bridge.send_sample(session.sample_message(snap)), 1.0)
        session.record_listeners.append(lambda rec: bridge.send_record(rec.to_dict(), session.totals()))
        session.revision_listeners.append(lambda rec: bridge.send_record(rec.to_dict(), session.totals()))
        return bridge
    except Exception:  # no frontend comm is fine; measuring goes on
        log.debug("frontend comm unavailable", exc_info=True)
        return None


def unload(ip) -> None:
    state = _STATE.pop(id(ip), None)
    if state is None:
        return
    magics = state["magics"]
    for event, fn in (("pre_run_cell", magics.pre_run_cell), ("post_run_cell", magics.post_run_cell)):
        try:
            ip.events.unregister(event, fn)
        except ValueError:
            pass
    if magics.transform in ip.input_transformers_cleanup:
        ip.input_transformers_cleanup.remove(magics.transform)
    for kind in ("line", "cell"):
        ip.magics_manager.magics[kind].pop("carbon", None)
    if state["bridge"] is not None:
        state["bridge"].close()
    state["session"].close()


def session_for(ip) -> CarbonSession | None:
    state = _STATE.get(id(ip))
    return state["session"] if state else None
