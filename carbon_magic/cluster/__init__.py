"""Cluster measuring: the energy a cell's Dask or Ray tasks spent on other machines.

    client = Client(...)            # or ray.init(...)
    %%carbon                        # (or %carbon auto on)
    df.groupby(...).mean().compute()
    ⚡ 1.2 kJ (cpu:package-0 12 J measured · … · cluster node-a 610 J measured · node-b 590 J measured) …

Built on the engines' own extension points: a Dask WorkerPlugin (one meter per host, task
intervals from its `transition` hook, one `distributed.span` per cell), Ray actors (one meter per
node) and Ray's task events. Nothing here imports `distributed` or `ray` until a cluster is
attached (`hook.ClusterHook` only looks into `sys.modules`). Parts:

- node.py: node identity (CARBON_MAGIC_HOST_ID), the meter a node runs, the worker's task log
- attribution.py: splitting a node's readings among cells by their task intervals (pure)
- monitor.py: the kernel's state of the cluster; revises records whose tasks outlive the cell
- dask.py, ray.py: the engines
- hook.py: the session's cell hook, auto attach, `%carbon status` lines; commands.py: `%carbon cluster`
"""
from __future__ import annotations

from .hook import ClusterHook

__all__ = ["ClusterHook"]
