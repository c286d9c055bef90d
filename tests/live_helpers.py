"""Shared by the tests/test_live_*.py files: a comm that records what widgets send, and a session
on a fake clock and a fake powercap tree (one measured CPU package; RAM estimated)."""
from __future__ import annotations

import comm
from comm.base_comm import BaseComm

from carbon_magic.config import Settings
from carbon_magic.session import CarbonSession
from carbon_magic.sources import discover


class RecordingComm(BaseComm):
    """A widget comm that keeps every message instead of sending it to a frontend."""

    def __init__(self, log: list, **kwargs):
        self.log = log
        super().__init__(**kwargs)

    def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys):
        self.log.append({"comm_id": self.comm_id, "msg_type": msg_type, "data": data or {},
                         "buffers": buffers or []})


def install_recording_comm(monkeypatch) -> list:
    log: list = []
    monkeypatch.setattr(comm, "create_comm", lambda **kw: RecordingComm(log, **kw))
    return log


def updates_by_widget(log: list, start: int = 0) -> dict:
    """comm_id -> number of `update` messages in log[start:]."""
    out: dict = {}
    for m in log[start:]:
        if m["msg_type"] == "comm_msg" and m["data"].get("method") == "update":
            out[m["comm_id"]] = out.get(m["comm_id"], 0) + 1
    return out


def make_session(tmp_path, powercap, clock, intensity=None) -> CarbonSession:
    if not powercap.path("intel-rapl:0").exists():
        powercap.add_zone("intel-rapl:0", "package-0", 0)
    settings = Settings(scope="machine")
    settings.powercap_root = str(powercap.root)
    settings.data_dir = tmp_path / "data"
    settings.cuda_sync = False
    discovery = discover(str(powercap.root), nvml=None)
    return CarbonSession(settings, discovery=discovery, intensity=intensity,
                         clock=clock, wall=clock.wall).start(thread=False)


def drive(session, clock, powercap, joules, step_s=0.5):
    """One sampler tick per value: the package uses `joules` J during each `step_s`."""
    for j in joules:
        clock.advance(step_s)
        powercap.advance("intel-rapl:0", j)
        session.sampler.tick()


def opened(log: list, start: int = 0) -> dict:
    """comm_id -> model name of the widgets opened in log[start:]."""
    return {m["comm_id"]: m["data"]["state"].get("_model_name") for m in log[start:]
            if m["msg_type"] == "comm_open"}


def last_state(log: list, comm_id: str, key: str):
    """The last value of `key` the widget `comm_id` sent (open or update), or None."""
    value = None
    for m in log:
        if m["comm_id"] == comm_id:
            state = m["data"].get("state") or {}
            if key in state:
                value = state[key]
    return value
