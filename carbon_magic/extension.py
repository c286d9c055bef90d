"""Loading and unloading the IPython extension: one session, its hooks, and the frontend comm."""
from __future__ import annotations

import logging
import sys

from .config import Settings
from .magics import CarbonMagics
from .session import CarbonSession

log = logging.getLogger("carbon_magic")

_STATE: dict[int, dict] = {}  # id(shell) -> {"magics", "session", "bridge"}


def load(ip) -> None:
    if id(ip) in _STATE:
        return
    settings = Settings.from_env()
    for w in settings.warnings:
        print(f"carbon_magic: {w}", file=sys.stderr)
    session = CarbonSession(settings)
    try:
        magics = CarbonMagics(ip, session)
    except Exception:
        session.close()
        raise
    ip.register_magics(magics)
    ip.events.register("pre_run_cell", magics.pre_run_cell)
    ip.events.register("post_run_cell", magics.post_run_cell)
    ip.input_transformers_cleanup.append(magics.transform)
    state = {"magics": magics, "session": session, "bridge": None}
    _STATE[id(ip)] = state
    hook = None
    try:  # Dask / Ray clusters: attaches when one is in use (imports neither until then)
        from .cluster import ClusterHook  # noqa: PLC0415

        hook = ClusterHook.install(session)
    except Exception:  # noqa: BLE001 - measuring this machine goes on without it
        log.warning("cluster measuring unavailable", exc_info=True)
    if getattr(ip, "kernel", None) is not None:
        state["bridge"] = _open_bridge(session)
        if state["bridge"] is not None and hook is not None:
            hook.listeners.append(state["bridge"].send_cluster)


def _open_bridge(session: CarbonSession):
    """Open the `carbon_magic` comm for the JupyterLab extension (absent frontends ignore it)."""
    try:
        from .frontend import FrontendBridge  # noqa: PLC0415
    except ImportError:
        return None

    def on_export(fmt: str):
        from .report.commands import export_text  # noqa: PLC0415

        return export_text(session, fmt)

    try:
        bridge = FrontendBridge(on_export_request=on_export)
        d = session.describe()
        bridge.open({"version": d["carbon_magic_version"], "session_id": session.session_id,
                     "sensors": d["sensors"], "skipped": d["skipped"], "zone": session.settings.zone})
        session.sampler.add_listener(lambda snap: bridge.send_sample(session.sample_message(snap)), 1.0)
        session.record_listeners.append(lambda rec: bridge.send_record(rec.to_dict()))
        session.revision_listeners.append(lambda rec: bridge.send_record(rec.to_dict()))
        return bridge
    except Exception:  # noqa: BLE001 - no frontend comm is fine; measuring goes on
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
