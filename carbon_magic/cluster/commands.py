"""`%carbon cluster [on [dask|ray] | off | status]`."""
from __future__ import annotations

from IPython.core.error import UsageError

from .hook import AttachError, ClusterHook, hook_of

USAGE = "%carbon cluster on [dask|ray] | off | status"


def cluster_command(magics, rest: str):
    session = magics.session
    hook = hook_of(session) or ClusterHook.install(session)
    words = rest.split()
    sub = words[0] if words else "status"
    if sub == "status" and len(words) == 1 or not words:
        print("\n".join(["carbon_magic cluster", *hook.status_lines()]))
        return None
    if sub == "on" and len(words) <= 2:
        engine = words[1] if len(words) == 2 else None
        if engine not in (None, "dask", "ray"):
            raise UsageError(f"%carbon cluster on: unknown engine {engine!r}; use dask or ray")
        hook.mode = "auto"
        try:
            what = hook.attach(engine)
        except AttachError as exc:
            raise UsageError(f"%carbon cluster on: {exc}") from None
        print(f"carbon_magic: measuring the cluster ({what}); each measured cell's tasks are billed to it")
        return None
    if sub == "off" and len(words) == 1:
        hook.mode = "off"
        was = hook.detach()
        print("carbon_magic: cluster measuring off" + ("" if was else " (it was not attached)"))
        return None
    raise UsageError(f"%carbon cluster takes: {USAGE}")
