"""Splitting a node's readings among cells by their task intervals (pure, exact numbers)."""
import pytest

from carbon_magic.cluster.attribution import NodeSeries, attribute
from carbon_magic.cluster.node import TaskLog, chain, host_id


def series_at(watts, t0=100.0, t1=110.0, step=0.5, names=("cpu",), meter="m1", node="n"):
    """Readings of constant power: cumulative J = W × (t − t0)."""
    s = NodeSeries(node)
    rows, t = [], t0
    while t <= t1 + 1e-9:
        rows.append([t, *(w * (t - t0) for w in watts)])
        t += step
    s.add(meter, list(names), rows)
    return s


def test_one_cell_gets_the_energy_of_its_task_interval_between_readings():
    s = series_at([40.0])
    shares, idle = attribute(s, [("A", 101.2, 103.7)], until=110.0)
    assert shares["A"].energy_j["cpu"] == pytest.approx(40.0 * 2.5)
    assert shares["A"].busy_s == pytest.approx(2.5)
    assert shares["A"].gap_s == 0 and shares["A"].pending_s == 0
    assert idle == 0.0  # no stretch without a task inside the intervals' span


def test_concurrent_tasks_split_the_node_by_count_and_stretches_without_tasks_are_idle():
    s = series_at([30.0])
    ivs = [("A", 101.0, 105.0), ("A", 101.0, 103.0), ("B", 102.0, 104.0), ("B", 106.0, 107.0)]
    shares, idle = attribute(s, ivs, until=110.0)
    # 101-102: A×2 → A 30; 102-103: A×2 B×1 → A 20 B 10; 103-104: A B → 15/15; 104-105: A 30; 106-107: B 30
    assert shares["A"].energy_j["cpu"] == pytest.approx(30 + 20 + 15 + 30)
    assert shares["B"].energy_j["cpu"] == pytest.approx(10 + 15 + 30)
    assert idle == pytest.approx(30.0)  # 105-106
    assert shares["A"].shared_s == pytest.approx(2.0)
    total = shares["A"].total_j + shares["B"].total_j + idle
    assert total == pytest.approx(30.0 * 6)  # nothing counted twice, nothing lost


def test_a_running_interval_counts_until_the_given_time_and_later_time_is_pending():
    s = series_at([10.0], t1=104.0)
    shares, _ = attribute(s, [("A", 102.0, None)], until=106.0)
    assert shares["A"].energy_j["cpu"] == pytest.approx(20.0)
    assert shares["A"].pending_s == pytest.approx(2.0)  # after the last reading: not in yet
    assert shares["A"].gap_s == 0.0


def test_time_between_two_meters_of_a_node_is_a_gap_and_each_run_is_used():
    s = series_at([10.0], t0=100.0, t1=102.0, meter="m1")
    s.add("m2", ["cpu"], [[105.0, 0.0], [106.0, 10.0], [107.0, 20.0]])  # a new meter starts from 0
    shares, _ = attribute(s, [("A", 101.0, 107.0)], until=107.0)
    assert shares["A"].energy_j["cpu"] == pytest.approx(10.0 + 20.0)
    assert shares["A"].gap_s == pytest.approx(3.0)
    assert shares["A"].pending_s == 0.0
    assert s.total()["cpu"] == pytest.approx(40.0)


def test_split_uncertainty_is_zero_for_constant_power_and_grows_when_power_changes():
    steady = series_at([50.0])
    shares, _ = attribute(steady, [("A", 101.25, 102.75)], until=110.0)
    assert shares["A"].uncertainty_j["cpu"] == pytest.approx(0.0, abs=1e-9)
    step = NodeSeries("n")
    step.add("m", ["cpu"], [[100.0, 0.0], [101.0, 10.0], [102.0, 110.0], [103.0, 120.0]])
    shares, _ = attribute(step, [("A", 101.5, 103.0)], until=103.0)
    assert shares["A"].energy_j["cpu"] == pytest.approx(60.0)  # half of 100 J + 10 J
    assert shares["A"].uncertainty_j["cpu"] == pytest.approx(0.5 * (100 - 10) * 1.0)


def test_out_of_order_and_malformed_rows_are_skipped():
    s = NodeSeries("n")
    kept = s.add("m", ["cpu"], [[1.0, 0.0], [3.0, 2.0], [2.0, 1.0], [4.0], [float("nan"), 1.0], [5.0, 4.0]])
    assert kept == 3
    assert s.runs[0].t == [1.0, 3.0, 5.0]


def test_prune_keeps_one_reading_before_the_cut_so_it_can_still_be_interpolated():
    s = series_at([10.0], t0=100.0, t1=110.0, step=1.0)
    s.prune_before(105.5)
    assert s.runs[0].t[0] == 105.0
    assert s.energy(105.5, 106.0)[0]["cpu"] == pytest.approx(5.0)


def test_chain_joins_back_to_back_tasks_without_changing_the_count_of_running_ones():
    ivs = [(0.0, 1.0), (1.0005, 2.0), (0.5, 1.5), (2.0, 3.0), (5.0, 6.0)]
    chained = chain(ivs)
    assert sorted(chained) == [[0.0, 3.0], [0.5, 1.5], [5.0, 6.0]]

    def count(intervals, t):
        return sum(1 for a, b in intervals if a <= t < b)
    for t in (0.2, 0.7, 1.2, 1.7, 2.5, 4.0, 5.5):
        assert count(chained, t) == count(ivs, t)


def test_task_log_reports_finished_intervals_once_and_running_tasks_every_time():
    clock = iter([10.0, 11.0, 12.0, 13.0]).__next__
    log = TaskLog(wall=clock)
    log.start("x", "carbon_magic:s-1")  # 10
    log.start("y", "")  # 11
    log.stop("x")  # 12
    log.stop("never-started")
    first = log.drain()
    assert first == {"done": {"carbon_magic:s-1": [[10.0, 12.0]]}, "run": {"": [11.0]}}
    assert log.drain() == {"run": {"": [11.0]}}
    log.stop("y")  # 13
    assert log.drain() == {"done": {"": [[11.0, 13.0]]}}
    assert log.drain() == {}


def test_task_log_is_bounded_and_says_how_many_intervals_it_dropped():
    log = TaskLog(wall=lambda: 1.0, max_closed=2)
    for k in range(5):
        log.start(k, "")
        log.stop(k)
    msg = log.drain()
    assert msg["dropped"] == 3


def test_host_id_override_and_default(tmp_path):
    assert host_id({"CARBON_MAGIC_HOST_ID": " node/a "}) == "node_a"  # no slash: names are <node>/<sensor>
    boot = tmp_path / "boot_id"
    boot.write_text("3f2a1b4c-0000-1111-2222-333344445555\n")
    assert host_id({}, hostname="gpu7", boot_id_path=str(boot)) == "gpu7-3f2a1b4c"
    assert host_id({}, hostname="gpu7", boot_id_path=str(tmp_path / "missing")) == "gpu7"
