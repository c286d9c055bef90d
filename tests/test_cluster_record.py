"""The record's cluster keys (node, revision, cluster), their checks, readers of revisions, and
the `%carbon cluster` magic without any engine; importing stays free of distributed and ray."""
import json
import subprocess
import sys

import pytest
from IPython.core.error import UsageError

from carbon_magic.record import CellRecord, Component, latest_revisions, record_problem


def base(**kw):
    d = {"schema": "carbon_magic.record/1", "session_id": "s", "started_at": "2026-12-05T10:00:00.000Z",
         "ended_at": "2026-12-05T10:00:02.000Z", "duration_s": 2.0, "status": "ok", "energy_j": 30.0,
         "components": [{"name": "cpu:package-0", "kind": "cpu", "method": "counter", "energy_j": 10.0},
                        {"name": "node-a/cpu:package-0", "kind": "cpu", "method": "counter", "energy_j": 20.0,
                         "node": "node-a"}],
         "intensity_g_per_kwh": 100.0, "intensity": {"provider": "static"}, "emissions_g": 1.0, "pue": 1.0,
         "revision": 2, "cluster": {"engine": "dask", "pending": False, "attribution": "span", "task_intervals": 3,
                                    "running": 0, "nodes": [{"node": "node-a", "energy_j": 20.0, "emissions_g": 0.5,
                                                             "status": "ok"}]}}
    d.update(kw)
    return d


def test_a_cluster_record_is_valid_and_round_trips():
    assert record_problem(base()) is None
    r = CellRecord.from_untrusted(base())
    assert r.components[1].node == "node-a" and r.revision == 2
    assert r.to_dict()["cluster"]["nodes"][0]["node"] == "node-a"
    assert r.cluster_energy_j == 20.0


@pytest.mark.parametrize("change, problem", [
    ({"revision": -1}, "revision is not a whole number"),
    ({"revision": True}, "revision is not a whole number"),
    ({"revision": 1.5}, "revision is not a whole number"),
    ({"cluster": []}, "cluster is not an object"),
    ({"cluster": {"pending": "yes"}}, "cluster.pending is not true or false"),
    ({"cluster": {"nodes": {}}}, "cluster.nodes is not a list"),
    ({"cluster": {"nodes": [{"energy_j": 1.0}]}}, "cluster.nodes[0].node is missing"),
    ({"cluster": {"nodes": [{"node": "a", "energy_j": float("nan")}]}}, "cluster.nodes[0].energy_j is not a finite"),
    ({"cluster": {"nodes": [{"node": "a", "gap": 3}]}}, "cluster.nodes[0].gap is not text"),
    ({"cluster": {"running": -2}}, "cluster.running is not a whole number"),
    ({"cluster": {"engine": 7}}, "cluster.engine is not text"),
])
def test_bad_cluster_fields_are_refused_with_one_line(change, problem):
    assert problem in (record_problem(base(**change)) or "")


def test_a_component_node_must_be_text():
    d = base()
    d["components"][1]["node"] = ["node-a"]
    assert "components[1].node is not text" in record_problem(d)


def test_records_without_a_cluster_keep_their_v1_shape():
    r = CellRecord.from_dict({k: v for k, v in base().items() if k not in ("revision", "cluster")})
    r.components = [Component("cpu:package-0", "cpu", "counter", 1.0)]
    d = r.to_dict()
    assert "revision" not in d and "cluster" not in d and "node" not in d["components"][0]


def test_latest_revisions_keeps_the_highest_revision_per_cell_in_first_place():
    r0 = CellRecord.from_dict(base(revision=0, energy_j=1.0))
    other = CellRecord.from_dict(base(revision=None, cluster=None, started_at="2026-12-05T10:00:05.000Z"))
    r1 = CellRecord.from_dict(base(revision=1, energy_j=2.0))
    plain_twin = CellRecord.from_dict(base(revision=None, cluster=None, started_at="2026-12-05T10:00:05.000Z"))
    out = latest_revisions([r0, other, r1, plain_twin])
    assert [r.energy_j for r in out] == [2.0, 30.0, 30.0]  # records never revised are all kept


def test_the_summary_names_cluster_nodes_apart_and_says_when_it_will_change():
    r = CellRecord.from_dict(base(cluster={"engine": "dask", "pending": True, "nodes": []}))
    text = r.summary()
    assert "cpu:package-0 10 J measured · cluster node-a 20 J measured" in text
    assert "this record updates until they end" in text


def test_importing_and_loading_the_extension_import_neither_distributed_nor_ray(env, tmp_path):
    code = ("import sys\nimport carbon_magic\nfrom IPython.core.interactiveshell import InteractiveShell\n"
            "ip = InteractiveShell.instance()\nip.run_line_magic('load_ext', 'carbon_magic')\n"
            "ip.run_cell('%%carbon\\nx = 1')\nip.run_line_magic('carbon', 'status')\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('distributed', 'dask', 'ray')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=str(tmp_path), env={**env, "PYTHONPATH": str(_repo())})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"
    assert "cluster: not attached" in out.stdout


def _repo():
    from pathlib import Path
    return Path(__file__).resolve().parent.parent


def test_cluster_on_without_an_engine_is_a_one_line_usage_error(shell, capsys):
    with pytest.raises(UsageError, match=r"no Dask client or Ray connection in this kernel: create one first"):
        shell.run_line_magic("carbon", "cluster on")
    with pytest.raises(UsageError, match="unknown engine 'spark'"):
        shell.run_line_magic("carbon", "cluster on spark")
    with pytest.raises(UsageError, match="%carbon cluster takes"):
        shell.run_line_magic("carbon", "cluster sideways")
    shell.run_line_magic("carbon", "cluster off")
    shell.run_line_magic("carbon", "cluster")
    out = capsys.readouterr().out
    assert "cluster measuring off (it was not attached)" in out
    assert "cluster: not attached; off (%carbon cluster on to attach)" in out


def test_a_bad_cluster_mode_warns_once_and_uses_auto(env, monkeypatch, capsys):
    monkeypatch.setenv("CARBON_MAGIC_CLUSTER", "sometimes")
    monkeypatch.setenv("CARBON_MAGIC_CLUSTER_FLUSH_S", "0")
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "carbon_magic")
    try:
        ip.run_cell("%%carbon\nx = 1")
        err = capsys.readouterr().err
        assert "CARBON_MAGIC_CLUSTER='sometimes' is not one of auto, off; using 'auto'" in err
        assert "CARBON_MAGIC_CLUSTER_FLUSH_S='0' is not a number from 0.05 to 60; using 1" in err
    finally:
        ip.run_line_magic("unload_ext", "carbon_magic")


def test_json_export_carries_the_cluster_part(tmp_path):
    from carbon_magic.report.formats import write
    from carbon_magic.report.model import Report

    r = CellRecord.from_dict(base())
    path = write(Report.from_records([r]), str(tmp_path / "out.json"))
    data = json.loads(path.read_text())
    assert data["records"][0]["cluster"]["nodes"][0]["node"] == "node-a"
    assert data["records"][0]["components"][1]["node"] == "node-a"
