"""A real kernel (jupyter_client, no browser): while a `%%carbon --live` cell sleeps 3 s, widget
updates arrive on iopub before the cell's `status: idle`, and none after it (the cell's view froze);
after an interrupted live cell, the session's view (`%carbon live`) goes on."""
import os
import time
from pathlib import Path

import pytest

jupyter_client = pytest.importorskip("jupyter_client")
pytest.importorskip("ipykernel")
from jupyter_client.manager import start_new_kernel  # noqa: E402

pytestmark = pytest.mark.slow  # a real kernel

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def kernel(tmp_path, powercap):
    powercap.add_zone("intel-rapl:0", "package-0", 1_000_000)
    env = {**os.environ, "CARBON_MAGIC_POWERCAP_ROOT": str(powercap.root),
           "CARBON_MAGIC_DATA_DIR": str(tmp_path / "data"), "CUDA_VISIBLE_DEVICES": "",
           "PYTHONPATH": str(ROOT), "CARBON_MAGIC_INTERVAL_S": "0.25"}
    for var in ("CARBON_MAGIC_ZONE", "ELECTRICITYMAPS_API_TOKEN", "CARBON_MAGIC_PROVIDER"):
        env.pop(var, None)
    km, kc = start_new_kernel(kernel_name="python3", env=env, cwd=str(tmp_path))
    try:
        yield km, kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def collect_until_idle(kc, msg_id, t0):
    seen = []  # (seconds since t0, message)
    while True:
        msg = kc.get_iopub_msg(timeout=20)
        seen.append((time.monotonic() - t0, msg))
        if (msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle"
                and msg["parent_header"].get("msg_id") == msg_id):
            return seen


def line_updates(seen, lines):
    return [t for t, m in seen if m["msg_type"] == "comm_msg" and m["content"]["comm_id"] in lines
            and m["content"]["data"].get("method") == "update" and "y" in m["content"]["data"].get("state", {})]


def test_updates_arrive_while_the_cell_is_busy_and_after_an_interrupt(kernel):
    km, kc = kernel
    reply = kc.execute_interactive("%load_ext carbon_magic", timeout=30)
    assert reply["content"]["status"] == "ok"
    t0 = time.monotonic()
    seen = collect_until_idle(kc, kc.execute("%%carbon --live\nimport time\ntime.sleep(3)"), t0)
    t_idle = seen[-1][0]
    lines = {m["content"]["comm_id"] for _, m in seen if m["msg_type"] == "comm_open"
             and m["content"]["data"]["state"].get("_model_name") == "LinesModel"}
    shown = [(t, m["content"]["data"]) for t, m in seen if m["msg_type"] == "display_data"
             and "application/vnd.jupyter.widget-view+json" in m["content"]["data"]]
    displayed = [t for t, _ in shown]
    assert shown and shown[0][1]["text/plain"].startswith("carbon_magic live: ")  # for nbconvert
    updates = line_updates(seen, lines)
    assert displayed and t_idle > 2.9
    busy_updates = [t for t in updates if displayed[0] < t < t_idle - 0.3]
    assert len(busy_updates) >= 4, (updates, t_idle)  # about one per second per power/intensity line
    assert max(busy_updates) - min(busy_updates) >= 1.0  # spread over the sleep, not a burst at the end
    summary = [m for _, m in seen if m["msg_type"] == "stream" and "⚡" in m["content"]["text"]]
    assert summary  # the cell was measured as usual

    # The session's view follows the kernel; interrupt a live cell (SIGINT, as the Jupyter stop
    # button does): the session's view goes on, the cells' views stay as their cells ended.
    seen = collect_until_idle(kc, kc.execute("%carbon live"), time.monotonic())
    session_lines = {m["content"]["comm_id"] for _, m in seen if m["msg_type"] == "comm_open"
                     and m["content"]["data"]["state"].get("_model_name") == "LinesModel"}
    assert session_lines
    t0 = time.monotonic()
    msg_id = kc.execute("%%carbon --live\ntime.sleep(30)")
    time.sleep(1.5)
    km.interrupt_kernel()
    seen = collect_until_idle(kc, msg_id, t0)
    assert any(m["msg_type"] == "error" and m["content"]["ename"] == "KeyboardInterrupt" for _, m in seen)
    interrupted_lines = {m["content"]["comm_id"] for _, m in seen if m["msg_type"] == "comm_open"
                         and m["content"]["data"]["state"].get("_model_name") == "LinesModel"}
    t_after = time.monotonic()
    seen = collect_until_idle(kc, kc.execute("time.sleep(2)"), t_after)
    assert len([t for t in line_updates(seen, session_lines) if t < seen[-1][0] - 0.3]) >= 2
    assert line_updates(seen, lines | interrupted_lines) == []
