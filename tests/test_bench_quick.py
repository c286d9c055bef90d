"""The benchmark scripts' --quick modes still run and print their tables (numbers not asserted).

Each script runs in a subprocess, as a user would run it, with this checkout first on PYTHONPATH.
Peers (bench/.peers/) are not needed: --quick runs our rows only.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from _common import parse_tables  # noqa: E402

pytestmark = pytest.mark.slow  # runs the benchmarks


def run_quick(script: str, timeout: float = 90) -> tuple[int, str]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    for var in [k for k in env if k.startswith("CARBON_MAGIC_")]:
        del env[var]
    out = subprocess.run([sys.executable, str(REPO / "bench" / script), "--quick"], capture_output=True, text=True,
                         timeout=timeout, env=env, cwd=REPO)
    return out.returncode, out.stdout + ("\n--- stderr ---\n" + out.stderr if out.returncode else "")


def tables_with(text: str, column: str) -> list[list[dict]]:
    return [t for t in parse_tables(text) if t and column in t[0]]


def test_bench_core_quick():
    rc, out = run_quick("bench_core.py")
    assert rc == 0, out
    assert out.startswith("# carbon_magic core overhead") and "command: `python bench/bench_core.py --quick`" in out
    (cells,) = tables_with(out, "overhead (diff. of medians)")
    assert {r["mode"] for r in cells} == {"%%carbon", "%carbon auto on"}
    assert all(r["measured cell (median)"].endswith("µs") for r in cells)
    (cpu,) = tables_with(out, "CPU per tick")
    assert {r["interval"] for r in cpu} == {"1 s", "0.5 s", "0.1 s"}
    (load,) = tables_with(out, "%load_ext time (median)")
    assert [r["heavy modules loaded"] for r in load] == ["none"] * len(load)  # %load_ext imports no bqplot/numpy/requests
    (mem,) = tables_with(out, "traced memory")
    assert mem[-1]["simulated time"] == "1 h"
    assert tables_with(out, "begin+end per cell (median)")


def test_bench_peers_quick_needs_no_peers():
    rc, out = run_quick("bench_peers.py")
    assert rc == 0, out
    (cells,) = tables_with(out, "per-cell cost (median)")
    ours = [r for r in cells if r["tool"] == "carbon_magic"]
    assert len(ours) == 2 and all(r["status"] == "ok" for r in ours)
    peers = {r["tool"]: r["status"] for r in cells if r["tool"] != "carbon_magic"}
    assert set(peers) == {"codecarbon", "zeus", "carbontracker", "eco2ai"}
    assert all(s.startswith(("not installed", "installed, not run")) for s in peers.values())
    (offline,) = tables_with(out, "network attempts (all refused)")
    assert [r for r in offline if r["tool"] == "carbon_magic"][0]["network attempts (all refused)"] == "none"


def test_accuracy_quick():
    rc, out = run_quick("accuracy.py")
    assert rc == 0, out
    (errors,) = tables_with(out, "method in record")
    assert {r["method"] for r in errors} == {"counter (RAPL)", "counter (NVML)", "sampled (NVML power)"}
    classes = {r["cells"] for r in errors}
    assert {"short (< 100 ms)", "spans the RAPL wrap", "spans the NVML reset"} <= classes
    assert all("%" in r["0.5 s: median / max abs error"] for r in errors)


def test_estimator_honesty_quick():
    rc, out = run_quick("estimator_honesty.py")
    assert rc == 0, out
    (rows,) = tables_with(out, "one busy core: mean power")
    ours = [r for r in rows if r["tool"] == "carbon_magic"][0]
    assert ours["status"] == "ok" and ours["idle: mean power"].endswith(" W")
    assert {r["tool"] for r in rows} == {"carbon_magic", "codecarbon", "carbontracker", "eco2ai"}


def test_gpu_validate_quick_runs_self_checks():
    rc, out = run_quick("gpu_validate.py")
    assert rc == 0, out  # non-zero when a self-check fails
    (checks,) = tables_with(out, "self-check (no GPU needed)")
    assert len(checks) >= 8 and all(r["result"] == "pass" for r in checks)
    assert any(r["self-check (no GPU needed)"].startswith("fake GPU shared by two processes") for r in checks)
    assert "NO GPU FOUND" in out or "Bursts of matrix products" in out
    assert "Two processes on one GPU (per-process attribution): skipped: no GPU" in out or (
        "Two processes on one GPU: each billed its share" in out)


def test_attribution_quick():
    rc, out = run_quick("attribution.py")
    assert rc == 0, out  # non-zero when the shares add up to more than the machine's energy
    (procs,) = tables_with(out, "attributed (median)")
    assert [r["process"] for r in procs] == ["kernel (+ child)", "A", "B"]
    assert all(r["max abs error"].endswith("%") for r in procs)
    (sums,) = tables_with(out, "sum of the 3 processes' shares")
    assert all(r["≤ 100 %"] == "yes" for r in sums)


@pytest.mark.parametrize("script", ["bench_core.py", "bench_peers.py", "accuracy.py", "estimator_honesty.py",
                                    "gpu_validate.py", "attribution.py"])
def test_scripts_document_their_command(script):
    text = (REPO / "bench" / script).read_text()
    assert f"python bench/{script}" in text and "--quick" in text


@pytest.mark.cluster
def test_bench_cluster_quick():
    pytest.importorskip("distributed")
    rc, out = run_quick("bench_cluster.py")
    assert rc == 0, out
    assert out.startswith("# carbon_magic cluster measuring cost") and "command: `python bench/bench_cluster.py --quick`" in out
    (cells,) = tables_with(out, "simulated nodes")
    assert [r["simulated nodes"] for r in cells] == ["2", "8"]
    assert all(r["cluster hook itself (median)"].endswith("µs") for r in cells)
    (net,) = tables_with(out, "per node per minute")
    assert len(net) == 4 and all(r["per node per minute"].endswith("kB") for r in net)
