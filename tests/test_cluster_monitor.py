"""The kernel side of cluster measuring with the engine replaced at the network boundary: the
messages a Dask worker or a Ray actor would deliver are posted by hand, with times stepped by
hand. The real engines are in test_cluster_dask.py / test_cluster_ray.py."""
import pytest

from carbon_magic.cluster.hook import _probe_lines
from carbon_magic.cluster.monitor import ClusterMonitor
from carbon_magic.cluster.node import failed_meter
from carbon_magic.config import Settings
from carbon_magic.ledger import Ledger
from carbon_magic.record import CellRecord, latest_revisions
from carbon_magic.report.sources import read_ledger
from carbon_magic.session import CarbonSession
from carbon_magic.sources import discover
from carbon_magic.units import J_PER_KWH


class StubEngine:
    """What ClusterMonitor asks of an engine; `done` answers `settled`."""

    name = "stub"

    def __init__(self):
        self.begun, self.ended, self.done = [], [], True

    def describe(self):
        return "stub cluster"

    def alive(self):
        return True

    def cell_begin(self, key):
        self.begun.append(key)

    def cell_end(self, key):
        self.ended.append(key)

    def poll(self, monitor):
        pass

    def settled(self, key):
        return self.done

    def detach(self):
        pass


@pytest.fixture
def rig(tmp_path, clock, powercap):
    powercap.add_zone("intel-rapl:0", "package-0")
    d = discover(powercap.root, nvml=None)
    settings = Settings.from_env({"CARBON_MAGIC_DATA_DIR": str(tmp_path), "CARBON_MAGIC_PROVIDER": "static"})
    session = CarbonSession(settings, discovery=d, ledger=Ledger(tmp_path / "l.db"), clock=clock, wall=clock.wall,
                            cuda_sync=lambda: []).start(thread=False)
    engine = StubEngine()
    monitor = ClusterMonitor(session, engine, flush_s=0.5, revise_every_s=1.0, clock=clock, wall=clock.wall,
                             start_thread=False)
    session.cell_hooks.append(monitor)  # the monitor has begin/end under other names: adapt
    session.cell_hooks[-1] = _Hook(monitor)
    yield session, monitor, engine
    session.close()


class _Hook:
    def __init__(self, monitor):
        self.monitor = monitor

    def begin(self, window):
        self.monitor.cell_begin(window)

    def end(self, window, record):
        self.monitor.cell_end(window, record)


def meter(node, rows, zone=None, meter_id="m1", names=("cpu:package-0",), probe=True):
    msg = {"node": node, "meter": meter_id, "s": rows, "source": f"w-{node}"}
    if probe:
        msg["probe"] = {"node": node, "meter": meter_id, "zone": zone, "interval_s": 0.5, "skipped": [],
                        "sensors": [{"name": n, "kind": "cpu", "method": "counter"} for n in names]}
    return msg


def readings(t0, t1, watts, step=0.5, start_j=0.0):
    rows, t = [], t0
    while t <= t1 + 1e-9:
        rows.append([t, start_j + watts * (t - t0)])
        t += step
    return rows


def test_tasks_that_outlive_the_cell_keep_being_billed_to_it_through_new_revisions(rig, clock):
    session, monitor, engine = rig
    w0 = clock.wall()
    monitor.post("meter", meter("node-a", readings(w0 - 1, w0, 100.0)))
    window = session.begin(label="submit")
    key = window.extras["cluster_key"]
    clock.advance(1.0)
    tag = "carbon_magic:" + key
    monitor.post("meter", meter("node-a", readings(w0 + 0.5, w0 + 1.0, 100.0, start_j=150.0), probe=False))
    monitor.post("tasks", ("node-a", "w-node-a", {"run": {tag: [w0 + 0.5]}}))
    record = session.end(window)
    assert engine.begun == engine.ended == [key]
    assert record.revision == 0 and record.cluster["pending"] is True and record.cluster["running"] == 1
    first_j = record.cluster_energy_j
    assert first_j == pytest.approx(50.0)  # 0.5 s at 100 W so far

    # the task runs on for 3 s after the cell; readings and its end arrive
    monitor.post("meter", meter("node-a", readings(w0 + 1.5, w0 + 4.0, 100.0, start_j=250.0), probe=False))
    clock.advance(1.0)
    monitor.update()
    assert record.revision == 1 and record.cluster["pending"] is True  # revised while running
    monitor.post("tasks", ("node-a", "w-node-a", {"done": {tag: [[w0 + 0.5, w0 + 3.5]]}}))
    clock.advance(2.0)
    monitor.update()
    assert record.cluster["pending"] is False and record.cluster["running"] == 0
    assert record.cluster_energy_j == pytest.approx(300.0)  # 3 s at 100 W, none of it after the task
    final_revision = record.revision

    rows = session.ledger.records(session.session_id)
    assert [r.revision for r in rows] == list(range(final_revision + 1))  # every version kept in the ledger
    assert len({(r.session_id, r.start_s, r.execution_count) for r in rows}) == 1  # one cell identity
    latest = latest_revisions(rows)
    assert len(latest) == 1 and latest[0].revision == final_revision
    assert session.ledger.flush()  # the ledger queues writes: every version in the file first
    (source,) = read_ledger(session.ledger.path)  # the report CLI reads the latest revision only
    assert source.report.totals["cells"] == 1
    assert source.report.records[0].cluster_energy_j == pytest.approx(300.0)


def test_revisions_keep_the_cells_times_to_the_last_digit(rig, clock):
    """Each revision is composed from a copy of the cell's first record, not from its JSON: its
    times stay what the sampler read (more than the milliseconds of the ISO text)."""
    session, monitor, _ = rig
    clock.advance(0.0004567)
    w0 = clock.wall()
    monitor.post("meter", meter("node-a", readings(w0 - 1, w0 + 4, 100.0)))
    window = session.begin(label="submit")
    tag = "carbon_magic:" + window.extras["cluster_key"]
    monitor.post("tasks", ("node-a", "w-node-a", {"run": {tag: [w0 + 0.5]}}))
    clock.advance(1.0)
    record = session.end(window)
    start_s, end_s = record.start_s, record.end_s
    assert start_s == window.start.wall and start_s != round(start_s, 3)
    monitor.post("tasks", ("node-a", "w-node-a", {"done": {tag: [[w0 + 0.5, w0 + 3.5]]}}))
    clock.advance(4.0)
    monitor.update()
    assert record.revision >= 1 and record.cluster["pending"] is False
    assert (record.start_s, record.end_s) == (start_s, end_s)
    node_segments = [s for s in record.intensity_segments if s.get("node") == "node-a"]
    assert node_segments and all(type(s["start_s"]) is float for s in node_segments)
    assert [s["start_s"] for s in record.intensity_segments if not s.get("node")][0] == start_s


def test_a_task_without_a_cell_tag_is_billed_by_time_window_and_labelled_so(rig, clock):
    session, monitor, _ = rig
    w0 = clock.wall()
    monitor.post("meter", meter("node-a", readings(w0 - 1, w0 + 3, 20.0)))
    window = session.begin()
    monitor.post("tasks", ("node-a", "w1", {"done": {"": [[w0 + 0.5, w0 + 1.5]]}}))  # span lost to fusion
    clock.advance(2.0)
    record = session.end(window)
    clock.advance(2.0)
    monitor.update()
    assert record.cluster["attribution"] == "time-window"
    (node,) = record.cluster["nodes"]
    assert node["time_window_j"] == pytest.approx(20.0) == node["energy_j"]


def test_cells_in_sequence_never_share_a_task_and_idle_nodes_are_shown_apart(rig, clock):
    session, monitor, _ = rig
    w0 = clock.wall()
    for node, watts in (("node-a", 10.0), ("node-b", 30.0)):
        monitor.post("meter", meter(node, readings(w0 - 1, w0 + 10, watts)))
    w1 = session.begin(label="one")
    monitor.post("tasks", ("node-a", "wa", {"done": {"carbon_magic:" + w1.extras["cluster_key"]: [[w0, w0 + 2]]}}))
    clock.advance(2.0)
    r1 = session.end(w1)
    clock.advance(1.0)
    w2 = session.begin(label="two")
    monitor.post("tasks", ("node-b", "wb", {"done": {"carbon_magic:" + w2.extras["cluster_key"]: [[w0 + 3, w0 + 4]]}}))
    clock.advance(1.0)
    r2 = session.end(w2)
    clock.advance(3.0)
    monitor.update()
    assert {c.node for c in r1.components if c.node} == {"node-a"}
    assert {c.node for c in r2.components if c.node} == {"node-b"}
    assert r1.cluster_energy_j == pytest.approx(20.0) and r2.cluster_energy_j == pytest.approx(30.0)
    idle = monitor.idle_j()  # all readings (11 s per node) minus what the cells got
    assert idle["node-a"] == pytest.approx(10.0 * 11 - 20.0)
    assert idle["node-b"] == pytest.approx(30.0 * 11 - 30.0)


def test_each_node_is_priced_at_its_own_zone(rig, clock):
    session, monitor, _ = rig
    w0 = clock.wall()
    monitor.post("meter", meter("eu-node", readings(w0 - 1, w0 + 3, 360.0), zone="FR"))
    window = session.begin()
    monitor.post("tasks", ("eu-node", "w", {"done": {"carbon_magic:" + window.extras["cluster_key"]: [[w0, w0 + 2]]}}))
    clock.advance(2.0)
    record = session.end(window)
    clock.advance(2.0)
    monitor.update()
    fr = session.intensity_for("FR").at(w0).value_g_per_kwh
    world = session.intensity.at(w0).value_g_per_kwh
    assert fr != world
    (node,) = record.cluster["nodes"]
    assert node["zone"] == "FR"
    assert node["emissions_g"] == pytest.approx(720.0 / J_PER_KWH * fr)
    seg = [s for s in record.intensity_segments if s.get("node") == "eu-node"]
    assert seg and seg[0]["intensity"]["zone"] == "FR"


def test_a_lost_node_leaves_a_labelled_gap_and_the_record_still_settles(rig, clock):
    session, monitor, _ = rig
    w0 = clock.wall()
    monitor.post("meter", meter("node-c", readings(w0 - 1, w0 + 1, 50.0)))
    window = session.begin()
    tag = "carbon_magic:" + window.extras["cluster_key"]
    monitor.post("tasks", ("node-c", "w-node-c", {"run": {tag: [w0]}}))
    clock.advance(3.0)
    monitor.post("lost", ("node-c", "w-node-c", "worker w-node-c left the cluster"))
    record = session.end(window)
    clock.advance(2.0)
    monitor.update()
    assert record.cluster["pending"] is False
    (node,) = record.cluster["nodes"]
    assert node["status"] == "gap" and node["gap_s"] == pytest.approx(2.0)
    assert "no readings from node-c" in node["gap"] and "not counted" in node["gap"]
    (comp,) = [c for c in record.components if c.node]
    assert comp.status == "failed" and "node-lost" in comp.uncertainty_cause
    assert comp.energy_j == pytest.approx(50.0)  # counted until the readings stopped
    assert "gap: node lost" in record.summary()


def test_stopping_finishes_pending_records_and_says_they_were_detached(rig, clock):
    session, monitor, engine = rig
    w0 = clock.wall()
    monitor.post("meter", meter("node-a", readings(w0 - 1, w0 + 1, 5.0)))
    window = session.begin()
    monitor.post("tasks", ("node-a", "w", {"run": {"carbon_magic:" + window.extras["cluster_key"]: [w0]}}))
    clock.advance(1.0)
    record = session.end(window)
    engine.done = False
    monitor.stop(finish=True)
    assert record.cluster["pending"] is False and record.cluster["detached"] is True
    assert record.revision >= 1


def test_readings_before_their_probe_are_not_used_and_unreadable_nodes_say_so(rig, clock):
    session, monitor, _ = rig
    monitor.post("meter", meter("late", [[clock.wall(), 1.0]], probe=False))
    monitor.post("meter", failed_meter("broken", "PermissionError: energy_uj is not readable"))
    monitor.update()
    assert monitor.nodes["late"].series.runs == []
    tables = {t["node"]: t for t in monitor.probe_tables()}
    lines = "\n".join(_probe_lines(tables["broken"], 0.0))
    assert "sensors unreadable: PermissionError" in lines
    assert "no probe table yet" in "\n".join(_probe_lines(tables["late"], 0.0))


def test_a_cell_without_cluster_work_settles_with_an_empty_cluster_part(rig, clock):
    session, monitor, _ = rig
    window = session.begin()
    clock.advance(0.5)
    record = session.end(window)
    assert record.cluster["pending"] is True and record.revision == 0
    clock.advance(1.5)
    monitor.update()
    assert record.cluster == {"engine": "stub", "pending": False, "attribution": None, "task_intervals": 0,
                              "running": 0, "nodes": []}
    assert record.cluster_energy_j == 0.0
    assert CellRecord.from_untrusted(record.to_dict()).revision == 1


def test_revisions_reach_the_revision_listeners_and_the_sidebar_gets_the_nodes(rig, clock):
    from carbon_magic.cluster.hook import ClusterHook
    from carbon_magic.frontend import FrontendBridge

    session, monitor, _ = rig
    sent = []

    class Comm:  # the comm object ipykernel would create (the network boundary)
        def send(self, data):
            sent.append(data)

        def on_msg(self, fn):
            pass

        def on_close(self, fn):
            pass

    bridge = FrontendBridge(create_comm=lambda **kw: Comm())
    bridge.open({"version": "x"})
    session.revision_listeners.append(lambda rec: bridge.send_record(rec.to_dict()))
    hook = ClusterHook(session, env={})
    hook.monitor = monitor
    hook.listeners.append(bridge.send_cluster)
    monitor.update_listeners.append(hook._maybe_send)
    w0 = clock.wall()
    monitor.post("meter", meter("node-a", readings(w0 - 1, w0 + 2, 10.0), zone="FR"))
    monitor.post("meter", failed_meter("node-b", "PermissionError: energy_uj"))
    window = session.begin()
    monitor.post("tasks", ("node-a", "w", {"done": {"carbon_magic:" + window.extras["cluster_key"]: [[w0, w0 + 1]]}}))
    clock.advance(1.0)
    session.end(window)
    clock.advance(2.0)
    monitor.poll()
    (cluster,) = [m for m in sent if m["type"] == "cluster"]
    assert cluster["attached"] is True and cluster["engine"] == "stub"
    nodes = {n["node"]: n for n in cluster["nodes"]}
    assert nodes["node-a"]["zone"] == "FR" and nodes["node-a"]["sensors"][0]["name"] == "cpu:package-0"
    assert nodes["node-b"]["unreadable"] is True and "PermissionError" in nodes["node-b"]["error"]
    (revised,) = [m["record"] for m in sent if m["type"] == "record"]
    assert revised["revision"] == 1 and revised["cluster"]["pending"] is False
    monitor.poll()
    assert len([m for m in sent if m["type"] == "cluster"]) == 1  # unchanged nodes: not sent again


def test_readings_held_until_their_probe_arrives_are_then_used(rig, clock):
    session, monitor, _ = rig
    w0 = clock.wall()
    rows = readings(w0 - 2, w0, 10.0)
    monitor.post("meter", meter("late", rows[:3], probe=False))
    monitor.update()
    assert monitor.awaiting_probe()
    monitor.post("meter", {**meter("late", [], probe=True), "s": []})  # the probe, replayed alone
    monitor.post("meter", meter("late", rows[3:], probe=False))
    monitor.update()
    assert not monitor.awaiting_probe()
    assert monitor.nodes["late"].series.total()["cpu:package-0"] == pytest.approx(20.0)


def test_on_a_large_cluster_the_cell_ends_without_composing_and_the_poller_does_it(rig, clock):
    session, monitor, _ = rig
    monitor.compose_at_end_max_nodes = 1
    w0 = clock.wall()
    for node in ("n1", "n2"):
        monitor.post("meter", meter(node, readings(w0 - 1, w0 + 2, 10.0)))
    monitor.update()
    window = session.begin()
    monitor.post("tasks", ("n1", "w", {"done": {"carbon_magic:" + window.extras["cluster_key"]: [[w0, w0 + 1]]}}))
    clock.advance(1.0)
    record = session.end(window)
    assert record.cluster["pending"] is True and record.cluster["nodes"] == [] and record.cluster_energy_j == 0
    clock.advance(2.0)
    for node in ("n1", "n2"):  # the meters report after the cell's end
        monitor.post("meter", meter(node, [[w0 + 3, 40.0]], probe=False))
    monitor.update()
    assert record.cluster["pending"] is False and record.cluster_energy_j == pytest.approx(10.0)


def test_the_kernels_own_machine_as_a_node_is_not_counted_twice(rig, clock):
    session, monitor, _ = rig
    w0 = clock.wall()
    monitor.post("meter", meter(monitor.local_node, readings(w0 - 1, w0 + 3, 50.0)))
    monitor.post("meter", meter("remote", readings(w0 - 1, w0 + 3, 10.0)))
    window = session.begin()
    tag = "carbon_magic:" + window.extras["cluster_key"]
    for node in (monitor.local_node, "remote"):
        monitor.post("tasks", (node, "w-" + node, {"done": {tag: [[w0, w0 + 1]]}}))
    clock.advance(1.0)
    record = session.end(window)
    clock.advance(2.0)
    monitor.update()
    nodes = {n["node"]: n for n in record.cluster["nodes"]}
    assert nodes[monitor.local_node]["status"] == "local" and "not counted twice" in nodes[monitor.local_node]["note"]
    assert {c.node for c in record.components if c.node} == {"remote"}
    assert record.cluster_energy_j == pytest.approx(10.0)
    assert monitor.local_node not in monitor.idle_j()
