"""Real Ray on this machine: `ray.cluster_utils.Cluster` with a head and a second node, each
raylet started with its own environment (`env_vars`: CARBON_MAGIC_HOST_ID and a fake RAPL tree
whose counters a writer process advances at known power), and custom resources to place tasks.
The kernel is a real IPython shell. Run apart with `-m cluster`; about 25 s (Ray's start)."""
from types import SimpleNamespace

import pytest
from cluster_helpers import REPO, PowerTrees, assert_billed, load_in_cluster_kernel, node_energy_j, wait_settled


ray = pytest.importorskip("ray")
pytestmark = [pytest.mark.cluster, pytest.mark.slow]

POWER_W = {"ray-head": (30.0, 3.0), "ray-second": (60.0, 6.0)}
CODE = """
import time, ray

def _busy(s):
    t0 = time.time()
    time.sleep(s)
    return t0, time.time()

on_head = ray.remote(resources={"head": 0.5})(_busy)
on_second = ray.remote(resources={"second": 1})(_busy)

@ray.remote(resources={"head": 0.5})
def parent(delay_s, child_s):
    time.sleep(delay_s)  # the child is created after the submitting cell has ended
    return [on_second.remote(child_s)]
"""


def raylet_env(trees, name):
    return {"PYTHONPATH": str(REPO), "CARBON_MAGIC_HOST_ID": name, "CARBON_MAGIC_POWERCAP_ROOT": trees.paths[name],
            "CARBON_MAGIC_INTERVAL_S": "0.1", "CUDA_VISIBLE_DEVICES": ""}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    from ray.cluster_utils import Cluster

    trees = PowerTrees(tmp_path_factory.mktemp("ray") / "trees", POWER_W)
    c = None
    try:
        c = Cluster(initialize_head=True, head_node_args={
            "num_cpus": 1, "resources": {"head": 1}, "include_dashboard": False,
            "env_vars": raylet_env(trees, "ray-head")})
        c.add_node(num_cpus=1, resources={"second": 1}, env_vars=raylet_env(trees, "ray-second"))
        c.wait_for_nodes()
        ray.init(address=c.address, runtime_env={"env_vars": {"PYTHONPATH": str(REPO)}})
        yield SimpleNamespace(trees=trees, cluster=c)
    finally:
        ray.shutdown()
        if c is not None:
            c.shutdown()
        trees.stop()


@pytest.fixture
def kernel(cluster, env, monkeypatch):
    ip = load_in_cluster_kernel(monkeypatch)
    ip.run_cell(CODE)
    # Ray starts a worker process for the first task of each kind on a node (seconds on a busy
    # machine): attach and warm up outside the measured cells.
    ip.run_line_magic("carbon", "cluster on ray")
    ip.run_cell("ray.get([on_head.remote(0), on_second.remote(0), parent.remote(0, 0)])")
    yield ip
    ip.run_line_magic("unload_ext", "carbon_magic")


def test_ray_cells_are_billed_each_nodes_known_energy_and_children_follow_their_parent(cluster, kernel, capsys):
    res = kernel.run_cell("%%carbon -o r\nspans = ray.get([on_head.remote(2.0), on_second.remote(2.0)])")
    assert res.error_in_exec is None
    r = kernel.user_ns["r"]
    assert r.cluster["engine"] == "ray"
    wait_settled(r, timeout_s=30)
    head_span, second_span = kernel.user_ns["spans"]
    assert_billed(r, "ray-head", cluster.trees.watts["ray-head"], head_span)
    assert_billed(r, "ray-second", cluster.trees.watts["ray-second"], second_span)
    assert r.cluster["attribution"] == "task-creation"
    assert {c.name for c in r.components if c.node} == {
        "ray-head/cpu:package-0", "ray-head/dram:package-0", "ray-second/cpu:package-0", "ray-second/dram:package-0"}

    # A task created by a task belongs to its parent's cell, even when created during the next cell.
    kernel.run_cell("%%carbon -o ra\np = parent.remote(0.8, 1.5)")
    kernel.run_cell("%%carbon -o rb\ntime.sleep(1.2)")
    kernel.run_cell("child_span = ray.get(ray.get(p)[0])")
    ra, rb = kernel.user_ns["ra"], kernel.user_ns["rb"]
    wait_settled(ra, timeout_s=30)
    wait_settled(rb, timeout_s=30)
    child = kernel.user_ns["child_span"]
    assert child[0] > ra.end_s  # the child was created and ran after cell A had ended
    assert_billed(ra, "ray-second", cluster.trees.watts["ray-second"], child)
    assert node_energy_j(rb, "ray-second") == 0.0 and node_energy_j(rb, "ray-head") == 0.0
    assert ra.revision >= 1

    kernel.run_line_magic("carbon", "status")
    out = capsys.readouterr().out
    assert "cluster: Ray job" in out
    assert "node ray-head: zone" in out and "node ray-second: zone" in out
