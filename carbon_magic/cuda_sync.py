"""Wait for asynchronous GPU work before a cell's end snapshot, so it is billed to that cell.

Only frameworks that are already imported and have initialised CUDA are touched; nothing is
imported here. Returns the names synchronised (for tests and status).
"""
from __future__ import annotations

import sys


def synchronize_cuda() -> list[str]:
    done = []
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            if torch.cuda.is_initialized():
                torch.cuda.synchronize()
                done.append("torch")
        except Exception:  # noqa: BLE001 - a framework error belongs to the user's cell, not to us
            pass
    cupy = sys.modules.get("cupy")
    if cupy is not None:
        try:
            if cupy.cuda.runtime.getDeviceCount() > 0:
                cupy.cuda.runtime.deviceSynchronize()
                done.append("cupy")
        except Exception:  # noqa: BLE001
            pass
    jax = sys.modules.get("jax")
    if jax is not None:
        try:
            if jax.default_backend() == "gpu":
                for arr in jax.live_arrays():
                    arr.block_until_ready()
                done.append("jax")
        except Exception:  # noqa: BLE001
            pass
    return done
