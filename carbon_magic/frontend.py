"""Kernel side of the `carbon_magic` comm to the JupyterLab extension.

The kernel opens the comm (target ``carbon_magic``) with a ``hello`` message when the IPython
extension loads; the frontend registers that target on every kernel connection, so load order does
not matter. Kernel -> frontend: ``hello``, ``sample`` (about 1 Hz), ``record`` (each cell end,
and again for each later revision), ``cluster`` (the measured cluster's nodes),
``export`` (reply). ``hello``, ``sample`` and ``record`` carry ``totals``: the session's cells,
idle and session energy and CO₂e as `%carbon status` shows them (the frontend computes none).
Frontend -> kernel: ``{"type": "export_request", "format": "csv"|"json"|"md"}``.

This module imports nothing else from the package: the core wires it in. Every public method is
safe to call from any thread (the sampler thread sends samples) and never raises or prints; a lost
or absent frontend only means messages go nowhere.
"""
from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger("carbon_magic.frontend")
log.addHandler(logging.NullHandler())  # never print, even when used outside the extension

TARGET_NAME = "carbon_magic"
EXPORT_FORMATS = ("csv", "json", "md")

ExportHandler = Callable[[str], "tuple[str, str]"]


def json_safe(value: Any) -> Any:
    """`value` with NaN/inf replaced by None and tuples as lists: the browser's JSON.parse
    rejects ``NaN``, which would lose the whole message."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


class FrontendBridge:
    """Kernel side of the `carbon_magic` comm. Thread-safe; never raises into callers; never prints."""

    def __init__(self, create_comm: Callable[..., Any] | None = None,
                 on_export_request: ExportHandler | None = None) -> None:
        self._create_comm = create_comm
        self._on_export_request = on_export_request
        # Held while sending and closing, so no message can follow comm_close (a sample from the
        # sampler thread racing `close()`); re-entrant because closing may call `_forget` back.
        self._lock = threading.RLock()
        self._comm: Any = None

    @property
    def is_open(self) -> bool:
        return self._comm is not None

    def open(self, hello: dict) -> None:
        """Open the comm with ``data=hello`` (``type: "hello"`` added); reopening replaces it."""
        try:
            create = self._create_comm
            if create is None:
                import comm  # noqa: PLC0415 - ipykernel replaces comm.create_comm at start

                create = comm.create_comm
            new = create(target_name=TARGET_NAME, data=json_safe({**hello, "type": "hello"}))
            new.on_msg(self._on_msg)
            new.on_close(lambda _msg: self._forget(new))
        except Exception:  # no frontend comm is fine; measuring goes on
            log.debug("could not open the carbon_magic comm", exc_info=True)
            return
        with self._lock:
            old, self._comm = self._comm, new
            if old is not None:
                self._close_comm(old)

    def send_sample(self, sample: dict) -> None:
        """Send one live sample (``type: "sample"`` added)."""
        self._send({**sample, "type": "sample"})

    def send_record(self, record: dict, totals: dict | None = None) -> None:
        """Send a finished cell's v1 record (with the session's totals after it, when given)."""
        self._send({"type": "record", "record": record, **({"totals": totals} if totals is not None else {})})

    def send_cluster(self, cluster: dict) -> None:
        """Send the measured cluster's nodes and probe tables (``type: "cluster"`` added)."""
        self._send({**cluster, "type": "cluster"})

    def close(self) -> None:
        with self._lock:
            old, self._comm = self._comm, None
            if old is not None:
                self._close_comm(old)

    # -- internals ---------------------------------------------------------------------
    def _send(self, data: dict) -> None:
        if self._comm is None:
            return
        payload = json_safe(data)  # outside the lock: the sampler thread should not wait on it
        with self._lock:
            c = self._comm
            if c is None:
                return
            try:
                c.send(payload)
            except Exception:
                log.debug("carbon_magic comm send failed", exc_info=True)

    def _forget(self, c: Any) -> None:
        """The frontend closed the comm."""
        with self._lock:
            if self._comm is c:
                self._comm = None

    @staticmethod
    def _close_comm(c: Any) -> None:
        try:
            c.close()
        except Exception:
            log.debug("carbon_magic comm close failed", exc_info=True)

    def _on_msg(self, msg: dict) -> None:
        """Frontend -> kernel. May run on a subshell thread while a cell runs."""
        try:
            data = (msg.get("content") or {}).get("data")
            if not isinstance(data, dict) or data.get("type") != "export_request":
                log.debug("ignored carbon_magic frontend message: %r", data)
                return
            fmt = data.get("format")
            if fmt not in EXPORT_FORMATS or self._on_export_request is None:
                log.debug("ignored export request for format %r", fmt)
                return
            filename, content = self._on_export_request(fmt)
            self._send({"type": "export", "format": fmt, "filename": str(filename), "content": str(content)})
        except Exception:  # a failed export must not break the kernel's comm handling
            log.warning("carbon_magic export request failed", exc_info=True)
