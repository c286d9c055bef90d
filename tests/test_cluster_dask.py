"""Real Dask on this machine: a scheduler and three worker processes, each its own "node"
(CARBON_MAGIC_HOST_ID) reading its own fake RAPL tree whose counters a writer process advances
at known power. The kernel is a real IPython shell with the extension loaded; cells submit real
tasks. Run apart with `-m cluster`; about 15 s."""
import json
import sqlite3
import time
from types import SimpleNamespace

import pytest
from cluster_helpers import (DaskProcesses, PowerTrees, assert_billed, load_in_cluster_kernel, node_energy_j,
                             wait_settled)

distributed = pytest.importorskip("distributed")
pytestmark = [pytest.mark.cluster, pytest.mark.slow]

POWER_W = {"node-a": (40.0, 4.0), "node-b": (80.0, 8.0), "node-c": (20.0, 2.0), "kernel": (10.0, 1.0)}
BUSY = ("def busy(s):\n    import time\n    t0 = time.time()\n    time.sleep(s)\n    return t0, time.time()\n")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dask")
    trees = PowerTrees(tmp / "trees", POWER_W)
    procs = DaskProcesses(tmp, trees, {"node-a": {}, "node-b": {"CARBON_MAGIC_ZONE": "FR"}, "node-c": {}})
    client = None
    try:
        client = distributed.Client(scheduler_file=str(procs.file), set_as_default=True)
        client.wait_for_workers(3, timeout=60)
        yield SimpleNamespace(trees=trees, procs=procs, client=client,
                              addr={n: procs.address_of(client, n) for n in ("node-a", "node-b", "node-c")})
    finally:
        if client is not None:
            client.close()
        procs.stop()
        trees.stop()


@pytest.fixture
def kernel(cluster, env, monkeypatch):
    """The extension loaded in a real shell whose own machine is the node `kernel`."""
    ip = load_in_cluster_kernel(monkeypatch)
    ip.user_ns.update(client=cluster.client, A=cluster.addr["node-a"], B=cluster.addr["node-b"],
                      C=cluster.addr["node-c"])
    ip.run_cell(BUSY)
    yield ip
    ip.run_line_magic("unload_ext", "carbon_magic")


def ledger_versions(path, session_id):
    db = sqlite3.connect(path)
    try:
        rows = db.execute("SELECT body FROM records WHERE session_id=? ORDER BY id", (session_id,)).fetchall()
    finally:
        db.close()
    return [json.loads(b) for (b,) in rows]


def test_a_cell_running_tasks_on_two_nodes_is_billed_each_nodes_known_energy(cluster, kernel):
    res = kernel.run_cell("%%carbon -o r\n"
                          "spans = client.gather([client.submit(busy, 2.0, workers=[A], pure=False),\n"
                          "                       client.submit(busy, 2.0, workers=[B], pure=False)])")
    assert res.error_in_exec is None
    r = kernel.user_ns["r"]
    assert r.revision == 0 and r.cluster["engine"] == "dask"
    wait_settled(r)
    span_a, span_b = kernel.user_ns["spans"]
    for node, span in (("node-a", span_a), ("node-b", span_b)):
        assert_billed(r, node, cluster.trees.watts[node], span)
    names = sorted(c.name for c in r.components if c.node)
    assert names == ["node-a/cpu:package-0", "node-a/dram:package-0", "node-b/cpu:package-0",
                     "node-b/dram:package-0"]
    assert not any(c.node == "node-c" for c in r.components)  # no task of the cell ran there
    assert r.cluster["attribution"] == "span" and r.cluster["running"] == 0
    nodes = {n["node"]: n for n in r.cluster["nodes"]}
    assert nodes["node-b"]["zone"] == "FR"  # each node its own zone, set on the node
    # a new version in the ledger with the same cell identity; the last is the settled one
    from carbon_magic.extension import session_for

    session = session_for(kernel)
    assert session.ledger.flush(10)  # the ledger queues writes: every version in the file first
    versions = [v for v in ledger_versions(session.ledger.path, session.session_id)
                if v["started_at"] == r.to_dict()["started_at"]]
    assert [v["revision"] for v in versions] == list(range(len(versions))) and len(versions) >= 2
    assert versions[-1]["cluster"]["pending"] is False
    assert versions[-1]["energy_j"] == pytest.approx(r.energy_j)
    fr_g_per_kwh = session.intensity_for("FR").at(time.time()).value_g_per_kwh
    assert nodes["node-b"]["emissions_g"] == pytest.approx(nodes["node-b"]["energy_j"] / 3.6e6 * fr_g_per_kwh,
                                                           rel=1e-6)


def test_work_that_outlives_its_cell_stays_its_own_and_the_next_cell_shares_none_of_it(cluster, kernel):
    kernel.run_cell("%%carbon -o r1\nf1 = client.submit(busy, 2.0, workers=[A], pure=False)")
    r1 = kernel.user_ns["r1"]
    assert r1.cluster["pending"] is True  # its task is still running
    # the same function: the scheduler puts this task on cell 1's span (one span per TaskGroup)
    kernel.run_cell("%%carbon -o r2\nspan2 = client.submit(busy, 1.5, workers=[B], pure=False).result()")
    r2 = kernel.user_ns["r2"]
    span1 = kernel.user_ns["f1"].result()
    wait_settled(r1)
    wait_settled(r2)
    assert_billed(r1, "node-a", cluster.trees.watts["node-a"], span1)
    assert span1[1] > r1.duration_s + span1[0]  # the task really ended after the cell did
    assert r1.revision >= 1
    assert_billed(r2, "node-b", cluster.trees.watts["node-b"], kernel.user_ns["span2"])
    assert node_energy_j(r2, "node-a") == 0.0 and node_energy_j(r1, "node-b") == 0.0


def test_status_lists_every_nodes_probe_table_and_cluster_idle(cluster, kernel, capsys):
    kernel.run_cell("%%carbon\nclient.submit(busy, 0.1, workers=[C], pure=False).result()")
    kernel.run_line_magic("carbon", "status")
    out = capsys.readouterr().out
    assert "cluster: Dask tcp://" in out and "cluster idle" in out
    for node in ("node-a", "node-b", "node-c"):
        assert f"node {node}: zone" in out
    assert "node node-b: zone FR" in out
    assert "cpu:package-0      cpu   counter   measured" in out
    assert "kB per node per minute" in out


def test_cluster_off_detaches_and_a_cell_then_bills_no_node(cluster, kernel, capsys):
    kernel.run_cell("%%carbon\nx = 1")  # attached automatically
    kernel.run_line_magic("carbon", "cluster off")
    kernel.run_cell("%%carbon -o r\nclient.submit(busy, 0.2, workers=[A], pure=False).result()")
    r = kernel.user_ns["r"]
    assert r.cluster is None and r.cluster_energy_j == 0.0
    kernel.run_line_magic("carbon", "cluster on dask")
    kernel.run_cell("%%carbon -o r\nclient.submit(busy, 0.3, workers=[A], pure=False).result()")
    wait_settled(kernel.user_ns["r"])
    assert node_energy_j(kernel.user_ns["r"], "node-a") > 0
    assert "measuring the cluster (Dask tcp://" in capsys.readouterr().out


def test_a_worker_killed_mid_cell_leaves_a_labelled_gap_not_a_crash(cluster, kernel):
    """Last in this module: node-c's only worker is killed."""
    kernel.user_ns["kill_c"] = lambda: cluster.procs.kill("node-c")
    res = kernel.run_cell("%%carbon -o r\nimport time\n"
                          "fa = client.submit(busy, 2.0, workers=[A], pure=False)\n"
                          "fc = client.submit(busy, 3.0, workers=[C], pure=False)\n"
                          "time.sleep(0.7)\nkill_c()\nfc.cancel()\nout = fa.result()\n'done'")
    assert res.error_in_exec is None and res.result == "done"  # the cell's own result is unchanged
    r = kernel.user_ns["r"]
    wait_settled(r, timeout_s=30)
    nodes = {n["node"]: n for n in r.cluster["nodes"]}
    assert nodes["node-c"]["status"] == "gap"
    assert "no readings from node-c" in nodes["node-c"]["gap"] and "left the cluster" in nodes["node-c"]["gap"]
    assert all(c.status == "failed" for c in r.components if c.node == "node-c")
    assert_billed(r, "node-a", cluster.trees.watts["node-a"], kernel.user_ns["out"])
    assert "gap: node lost" in r.summary()


def test_workers_without_carbon_magic_leave_cells_alone_with_one_notice(tmp_path, env, monkeypatch, capsys):
    """A worker whose carbon_magic is older (no carbon_magic.cluster): the plugin cannot load there."""
    old = tmp_path / "old-install"
    (old / "carbon_magic").mkdir(parents=True)
    (old / "carbon_magic" / "__init__.py").write_text("")
    trees = PowerTrees(tmp_path / "trees", {"node-x": (10.0, 1.0)})
    monkeypatch.chdir(tmp_path)  # the worker's cwd: not this checkout
    procs = DaskProcesses(tmp_path, trees, {"node-x": {"PYTHONPATH": str(old)}})
    client = None
    monkeypatch.setenv("CARBON_MAGIC_HOST_ID", "kernel")
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    try:
        client = distributed.Client(scheduler_file=str(procs.file), set_as_default=True)
        client.wait_for_workers(1, timeout=60)
        ip.run_line_magic("load_ext", "carbon_magic")
        ip.user_ns["client"] = client
        res = ip.run_cell("%%carbon -o r\nclient.submit(sum, [1, 2]).result()")
        assert res.error_in_exec is None and res.result == 3
        assert ip.user_ns["r"].cluster is None  # measured as a plain cell
        err = capsys.readouterr().err
        assert err.count("cluster not measured: attaching to dask failed") == 1
        assert "No module named 'carbon_magic.cluster'" in err and "carbon_magic[dask]" in err
        ip.run_cell("%%carbon\nx = 1")  # not retried on every cell
        assert "attaching to dask failed" not in capsys.readouterr().err
        with pytest.raises(Exception, match="attaching to dask failed"):
            ip.run_line_magic("carbon", "cluster on")
    finally:
        ip.run_line_magic("unload_ext", "carbon_magic")
        if client is not None:
            client.close()
        procs.stop()
        trees.stop()
