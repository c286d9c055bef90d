"""The session's cluster hook: attaches to a Dask client or a Ray connection and adds each
measured cell's cluster part to its record.

CARBON_MAGIC_CLUSTER=auto (default): attach as soon as a measured cell starts or ends with a
`distributed.Client` (the default client) or an initialised Ray in the kernel. `off`: never
attach by itself; `%carbon cluster on` attaches, `%carbon cluster off` detaches (and stops auto).
Detecting costs a look into `sys.modules`: `distributed` and `ray` are never imported here.
"""
from __future__ import annotations

import logging
import os
import sys
import time
from typing import TYPE_CHECKING

from ..record import method_word
from ..units import fmt_energy

if TYPE_CHECKING:  # the engines import distributed / ray: only when attached
    from .dask import DaskEngine
    from .ray import RayEngine

log = logging.getLogger("carbon_magic.cluster")

MODE_ENV = "CARBON_MAGIC_CLUSTER"
FLUSH_ENV = "CARBON_MAGIC_CLUSTER_FLUSH_S"
INTERVAL_ENV = "CARBON_MAGIC_CLUSTER_INTERVAL_S"
MODES = ("auto", "off")
ENGINES = ("dask", "ray")
RESEND_S = 10.0


class AttachError(Exception):
    """Attaching failed; the message is one line that says what to do."""


def _float_env(env, name: str, default: float, lo: float, hi: float, warnings: list) -> float:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not lo <= value <= hi:
        warnings.append(f"carbon_magic: {name}={raw!r} is not a number from {lo:g} to {hi:g}; using {default:g}")
        return default
    return value


def dask_client():
    """The kernel's default `distributed.Client`, if `distributed` was imported and one runs."""
    mod = sys.modules.get("distributed")
    if mod is None:
        return None
    try:
        client = mod.client.default_client()
    except (ValueError, AttributeError):
        return None
    return client if getattr(client, "status", None) == "running" else None


def ray_running() -> bool:
    mod = sys.modules.get("ray")
    try:
        return bool(mod is not None and mod.is_initialized())
    except Exception:  # noqa: BLE001 - a half-imported ray
        return False


def detect() -> str | None:
    if dask_client() is not None:
        return "dask"
    if ray_running():
        return "ray"
    return None


class ClusterHook:
    """One per session (`install`): a cell hook (CarbonSession.cell_hooks) and a close listener."""

    def __init__(self, session, env=None):
        env = os.environ if env is None else env
        self.session = session
        warnings: list[str] = []
        mode = (env.get(MODE_ENV) or "auto").strip().lower()
        if mode not in MODES:
            warnings.append(f"carbon_magic: {MODE_ENV}={mode!r} is not one of {', '.join(MODES)}; using 'auto'")
            mode = "auto"
        self.mode = mode
        self.flush_s = _float_env(env, FLUSH_ENV, 1.0, 0.05, 60.0, warnings)
        self.interval_s = _float_env(env, INTERVAL_ENV, 0.5, 0.01, 60.0, warnings)
        session.pending_notices += warnings
        self.monitor = None
        self._refused = None  # the client or engine an automatic attach failed on (not retried)
        self.listeners: list = []  # fn(message) with `cluster_message()` when the nodes change
        self._sent: tuple | None = None
        self._sent_at = -float("inf")

    @classmethod
    def install(cls, session, env=None) -> ClusterHook:
        hook = cls(session, env)
        session.cell_hooks.append(hook)
        session.close_listeners.append(hook.close)
        return hook

    # -- cell edges ------------------------------------------------------------------------
    def begin(self, window) -> None:
        if self.monitor is not None and not self.monitor.engine.alive():
            self.detach(f"the {self.monitor.engine.name} connection closed")
        if self.monitor is None and self.mode == "auto":
            self._auto_attach()
        if self.monitor is not None:
            self.monitor.cell_begin(window)

    def end(self, window, record) -> None:
        if self.monitor is not None:
            self.monitor.cell_end(window, record)
        elif self.mode == "auto":
            self._auto_attach()  # a cell that created a client: measure the next ones

    def _auto_attach(self) -> None:
        engine = detect()
        if engine is None:
            return
        handle = dask_client() if engine == "dask" else "ray"
        if handle is self._refused:
            return
        try:
            self.attach(engine)
        except AttachError as exc:
            self._refused = handle
            self.session.pending_notices.append(f"carbon_magic: cluster not measured: {exc}")

    # -- attach / detach -------------------------------------------------------------------
    def attach(self, engine: str | None = None) -> str:
        """Attach to `engine` (or the one found); returns a one-line description."""
        if self.monitor is not None:
            return f"already measuring {self.monitor.engine.describe()}"
        engine = engine or detect()
        if engine is None:
            raise AttachError("no Dask client or Ray connection in this kernel: create one first "
                              "(client = Client(...) or ray.init(...)), then %carbon cluster on")
        from .monitor import ClusterMonitor  # noqa: PLC0415

        sid = self.session.session_id
        try:
            if engine == "dask":
                client = dask_client()
                if client is None:
                    raise AttachError("no running Dask client in this kernel: create one first "
                                      "(client = Client(...))")
                from .dask import DaskEngine  # noqa: PLC0415

                eng: DaskEngine | RayEngine = DaskEngine(client, sid, self.flush_s, self.interval_s)
            elif engine == "ray":
                if not ray_running():
                    raise AttachError("Ray is not initialised in this kernel: call ray.init(...) first")
                from .ray import RayEngine  # noqa: PLC0415

                eng = RayEngine(sid, self.flush_s, self.interval_s)
            else:
                raise AttachError(f"unknown engine {engine!r}; use one of {', '.join(ENGINES)}")
            monitor = ClusterMonitor(self.session, eng, self.flush_s, start_thread=False)
            try:
                eng.attach(monitor)
            except BaseException:
                eng.detach()  # what was registered before the failure (the plugin, the topic)
                raise
        except AttachError:
            raise
        except Exception as exc:  # noqa: BLE001 - e.g. workers without carbon_magic installed
            reason = " ".join(str(exc).split())[:200] or type(exc).__name__
            raise AttachError(f"attaching to {engine} failed ({type(exc).__name__}: {reason}); is carbon_magic "
                              f"installed on the workers (pip install 'carbon_magic[{engine}]' there)?") from None
        monitor.update_listeners.append(self._maybe_send)
        monitor.start()
        self.monitor = monitor
        self._maybe_send(force=True)
        return eng.describe()

    def detach(self, why: str | None = None) -> bool:
        monitor, self.monitor = self.monitor, None
        if monitor is None:
            return False
        try:
            monitor.stop(finish=True)
        finally:
            try:
                monitor.engine.detach()
            except Exception:
                log.debug("engine detach failed", exc_info=True)
        if why:
            self.session.pending_notices.append(f"carbon_magic: cluster measuring stopped: {why}")
        self._maybe_send(force=True)
        return True

    def close(self) -> None:
        self.detach()

    # -- views -----------------------------------------------------------------------------
    def cluster_message(self) -> dict:
        """The nodes and their probe tables, for the JupyterLab sidebar (comm type `cluster`)."""
        m = self.monitor
        if m is None:
            return {"attached": False, "engine": None, "nodes": [], "idle_j": 0.0}
        idle = m.idle_j()
        nodes = []
        for t in m.probe_tables():
            p = t["probe"]
            nodes.append({"node": t["node"], "zone": p.get("zone"), "idle_j": idle.get(t["node"], 0.0),
                          "sensors": [{"name": s.get("name", "?"), "kind": s.get("kind", ""),
                                       "method": s.get("method", "")} for s in p.get("sensors", [])],
                          "skipped": [str(x) for x in p.get("skipped", [])], "unreadable": bool(p.get("unreadable")),
                          "error": p.get("error"), "lost": t.get("lost")})
        return {"attached": True, "engine": m.engine.name, "nodes": nodes, "idle_j": sum(idle.values())}

    def _maybe_send(self, force: bool = False) -> None:
        """Tell the listeners when a node, its sensors or its state changed (and every
        RESEND_S, for the idle figure)."""
        if not self.listeners:
            return
        msg = self.cluster_message()
        sig = tuple((n["node"], len(n["sensors"]), n["error"], n["lost"], n["unreadable"]) for n in msg["nodes"])
        sig += (msg["attached"],)
        now = time.monotonic()
        if not force and sig == self._sent and now - self._sent_at < RESEND_S:
            return
        self._sent, self._sent_at = sig, now
        for fn in list(self.listeners):
            try:
                fn(msg)
            except Exception:
                log.debug("cluster listener failed", exc_info=True)

    def status_lines(self) -> list[str]:
        m = self.monitor
        if m is None:
            hint = ("attaches when a cell runs with a Dask client or Ray" if self.mode == "auto"
                    else "off (%carbon cluster on to attach)")
            return [f"  cluster: not attached; {hint}"]
        idle = m.idle_j()
        minutes = max(1e-9, (m._clock() - m.started_mono) / 60.0)
        per_node = m.bytes_in / max(1, len(m.nodes)) / minutes
        lines = [f"  cluster: {m.engine.describe()}, {len(m.nodes)} nodes, readings every {self.flush_s:g} s; "
                 f"cluster idle {fmt_energy(sum(idle.values()))} (no measured cell's tasks running); "
                 f"received {m.bytes_in / 1e3:.1f} kB ({per_node / 1e3:.2f} kB per node per minute)"]
        for t in m.probe_tables():
            lines += _probe_lines(t, idle.get(t["node"], 0.0))
        lines += [f"    note: {n}" for n in m.notes[-5:]]
        return lines


def _probe_lines(t: dict, idle_j: float) -> list[str]:
    p = t["probe"]
    head = f"    node {t['node']}: zone {p.get('zone') or 'the kernel’s'}, idle {fmt_energy(idle_j)}"
    if t.get("heard_s_ago") is not None:
        head += f", last heard {t['heard_s_ago']:.1f} s ago"
    if t.get("local"):
        head += "; this kernel's machine: measured by the kernel's own sensors, not counted twice"
    if t.get("lost"):
        head += f"; LOST: {t['lost']}"
    out = [head]
    if t.get("zone_error"):
        out.append(f"      {t['zone_error']}")
    if p.get("error"):
        out.append(f"      sensors unreadable: {p['error']}")
    elif not p:
        out.append("      no probe table yet (its meter has not reported)")
    elif p.get("unreadable"):
        out.append("      sensors unreadable: no hardware sensor could be read, estimates only")
    for s in p.get("sensors", []):
        failed = t["failed"].get(s["name"])
        out.append(f"      {s['name']:<18} {s.get('kind', ''):<5} {s.get('method', ''):<9} "
                   f"{method_word(s.get('method', ''))}" + (f" FAILED: {failed}" if failed else ""))
    for line in p.get("skipped", []):
        out.append(f"      skipped {line}")
    return out


def hook_of(session) -> ClusterHook | None:
    for h in getattr(session, "cell_hooks", []):
        if isinstance(h, ClusterHook):
            return h
    return None
