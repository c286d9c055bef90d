"""FrontendBridge against a recording comm: no kernel, no frontend."""
from __future__ import annotations

import json
import threading

import comm
import pytest
from comm.base_comm import BaseComm

from carbon_magic.frontend import TARGET_NAME, FrontendBridge, json_safe


class RecordingComm(BaseComm):
    """A comm that keeps what it would publish on iopub."""

    def __init__(self, *args, **kwargs):
        self.published: list[tuple[str, dict, dict]] = []
        super().__init__(*args, **kwargs)

    def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys):
        json.dumps(data, allow_nan=False)  # what the browser can parse
        self.published.append((msg_type, data, keys))


class FailingComm(RecordingComm):
    def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys):
        if msg_type == "comm_msg":
            raise RuntimeError("iopub gone")
        super().publish_msg(msg_type, data, metadata, buffers, **keys)


HELLO = {"version": "0.1.0", "session_id": "s1", "sensors": [{"name": "cpu", "kind": "cpu", "method": "estimated"}],
         "skipped": [], "zone": "FR"}


@pytest.fixture
def opened():
    comms: list[RecordingComm] = []

    def create(**kw):
        comms.append(RecordingComm(**kw))
        return comms[-1]

    exports: list[str] = []

    def on_export(fmt):
        exports.append(fmt)
        return f"session.{fmt}", f"content-{fmt}"

    bridge = FrontendBridge(create_comm=create, on_export_request=on_export)
    bridge.open(dict(HELLO))
    return bridge, comms, exports


def frontend_sends(c: BaseComm, data):
    c.handle_msg({"content": {"comm_id": c.comm_id, "data": data}})


def test_open_sends_hello_on_the_target(opened):
    bridge, comms, _ = opened
    assert len(comms) == 1
    msg_type, data, keys = comms[0].published[0]
    assert msg_type == "comm_open"
    assert keys["target_name"] == TARGET_NAME == "carbon_magic"
    assert data == {**HELLO, "type": "hello"}
    assert bridge.is_open


def test_sample_and_record_messages(opened):
    bridge, comms, _ = opened
    bridge.send_sample({"t": 1.5, "power_w": {"cpu": 12.5}, "energy_j": 3.0, "emissions_g": 0.1})
    record = {"schema": "carbon_magic.record/1", "energy_j": 2.0, "cell_id": "abc"}
    bridge.send_record(record)
    msgs = [(t, d) for t, d, _ in comms[0].published[1:]]
    assert msgs == [
        ("comm_msg", {"t": 1.5, "power_w": {"cpu": 12.5}, "energy_j": 3.0, "emissions_g": 0.1, "type": "sample"}),
        ("comm_msg", {"type": "record", "record": record}),
    ]


def test_non_finite_numbers_become_null(opened):
    bridge, comms, _ = opened
    bridge.send_record({"energy_j": float("nan"), "components": ({"energy_j": float("inf")},)})
    assert comms[0].published[-1][1] == {"type": "record", "record": {"energy_j": None, "components": [{"energy_j": None}]}}
    assert json_safe({"a": (1, 2.5)}) == {"a": [1, 2.5]}


@pytest.mark.parametrize("fmt", ["csv", "json", "md"])
def test_export_request_is_answered(opened, fmt):
    bridge, comms, exports = opened
    frontend_sends(comms[0], {"type": "export_request", "format": fmt})
    assert exports == [fmt]
    assert comms[0].published[-1] == (
        "comm_msg", {"type": "export", "format": fmt, "filename": f"session.{fmt}", "content": f"content-{fmt}"}, {})


@pytest.mark.parametrize("data", [None, "x", {"type": "nope"}, {"type": "export_request", "format": "exe"},
                                  {"type": "export_request"}])
def test_other_frontend_messages_are_ignored(opened, data):
    bridge, comms, exports = opened
    frontend_sends(comms[0], data)
    assert exports == []
    assert len(comms[0].published) == 1


def test_failing_export_handler_does_not_raise(capsys):
    comms = []
    bridge = FrontendBridge(create_comm=lambda **kw: comms.append(RecordingComm(**kw)) or comms[-1],
                            on_export_request=lambda fmt: 1 / 0)
    bridge.open(dict(HELLO))
    frontend_sends(comms[0], {"type": "export_request", "format": "csv"})
    assert len(comms[0].published) == 1
    assert capsys.readouterr() == ("", "")


def test_close_and_frontend_close(opened):
    bridge, comms, _ = opened
    comms[0].handle_close({"content": {"comm_id": comms[0].comm_id, "data": {}}})
    assert not bridge.is_open
    bridge.send_sample({"t": 1.0})  # goes nowhere, no error
    assert len(comms[0].published) == 1

    bridge.open(dict(HELLO))
    bridge.close()
    assert comms[1].published[-1][0] == "comm_close"
    bridge.close()  # idempotent
    bridge.send_record({})
    assert comms[1].published[-1][0] == "comm_close"


def test_reopen_replaces_and_closes_the_old_comm(opened):
    bridge, comms, _ = opened
    bridge.open({**HELLO, "session_id": "s2"})
    assert comms[0].published[-1][0] == "comm_close"
    bridge.send_sample({"t": 2.0})
    assert comms[1].published[-1][1]["t"] == 2.0
    assert len([m for m in comms[0].published if m[0] == "comm_msg"]) == 0


def test_never_raises_or_prints(capsys):
    def broken(**kw):
        raise RuntimeError("no kernel")

    bridge = FrontendBridge(create_comm=broken)
    bridge.open(dict(HELLO))
    bridge.send_sample({"t": 1})
    bridge.send_record({})
    bridge.close()
    assert not bridge.is_open

    comms = []
    bridge = FrontendBridge(create_comm=lambda **kw: comms.append(FailingComm(**kw)) or comms[-1])
    bridge.open(dict(HELLO))
    bridge.send_sample({"t": 1})
    assert capsys.readouterr() == ("", "")


def test_default_create_comm_is_looked_up_lazily(monkeypatch):
    made = []
    monkeypatch.setattr(comm, "create_comm", lambda **kw: made.append(RecordingComm(**kw)) or made[-1])
    bridge = FrontendBridge()
    bridge.open(dict(HELLO))
    assert made and made[0].published[0][2]["target_name"] == "carbon_magic"


def test_thread_safe_sends_from_many_threads(opened):
    bridge, comms, _ = opened

    def spam(i):
        for j in range(200):
            bridge.send_sample({"t": i * 1000 + j})

    threads = [threading.Thread(target=spam, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    bridge.close()
    for t in threads:
        t.join()
    kinds = [m[0] for m in comms[0].published]
    assert kinds[0] == "comm_open" and kinds[-1] == "comm_close"
    assert kinds.count("comm_close") == 1


class SlowComm(RecordingComm):
    """Publishing a message takes a while (a busy iopub), so a close can arrive meanwhile."""

    def __init__(self, *args, **kwargs):
        self.sending = threading.Event()
        super().__init__(*args, **kwargs)

    def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys):
        if msg_type == "comm_msg":
            self.sending.set()
            threading.Event().wait(0.2)
        super().publish_msg(msg_type, data, metadata, buffers, **keys)


def test_no_message_follows_comm_close_even_when_a_send_is_under_way():
    comms: list[SlowComm] = []
    bridge = FrontendBridge(create_comm=lambda **kw: comms.append(SlowComm(**kw)) or comms[-1])
    bridge.open(dict(HELLO))
    sender = threading.Thread(target=bridge.send_sample, args=({"t": 1.0},))
    sender.start()
    assert comms[0].sending.wait(5.0)
    bridge.close()  # the sampler's send is half done: the close must come after it, not before
    sender.join()
    kinds = [m[0] for m in comms[0].published]
    assert kinds == ["comm_open", "comm_msg", "comm_close"]
