"""carbon_magic against the tools users would otherwise pick, in one run (issue 8 §1).

    bash bench/setup_peers.sh            # once: one venv per peer under bench/.peers/ (PyPI)
    python bench/bench_peers.py          # every installed peer, one table per measurement
    python bench/bench_peers.py --quick  # our rows only; peers not run (the test suite uses this)

Each tool runs in its own subprocess (`_peer_runner.py`, the same measuring code for all) with its
own virtual environment, and prints JSON that is collected here. Peers run OFFLINE: the
subprocess starts with `_offline/sitecustomize.py`, which refuses any name lookup or connection
that would leave the machine and records it; a tool that tried has its row marked FAILED with the
address it wanted. Where `unshare -n` works (Linux, root or user namespaces) the subprocess also
gets an empty network namespace, so nothing can leave even from C code.

The cell is `sum(range(100))` (a few µs). Per-cell cost is the median of measured cells minus the
median of the same cell alone, interleaved. Background CPU is the whole process's CPU time (all
threads, plus child processes) while one measured window stays open and the main thread sleeps.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import BENCH, REPO, fmt_ms, fmt_pct, fmt_us, header, table

PEERS_DIR = BENCH / ".peers"
PEERS = ("codecarbon", "zeus", "carbontracker", "eco2ai")
RUNNER = BENCH / "_peer_runner.py"
OFFLINE = BENCH / "_offline"


def netns_prefix() -> list[str]:
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-n", "true"], capture_output=True).returncode == 0:
        return [unshare, "-n"]
    return []


def make_fake_rapl(root: Path) -> Path:
    """The same fake RAPL tree for us and for Zeus (which reads <root>/intel-rapl:N)."""
    sys.path.insert(0, str(REPO / "tests"))
    from fakes import FakePowercap  # noqa: PLC0415

    pc = FakePowercap(root / "intel-rapl")
    pc.add_zone("intel-rapl:0", "package-0", 1_000_000)
    pc.add_zone("intel-rapl:0:0", "dram", 100_000, parent="intel-rapl:0")
    return pc.root


def run_tool(name: str, python: str, args: list[str], tmp: Path, netns: list[str], timeout: int) -> dict:
    log = tmp / f"net-{name}-{len(list(tmp.iterdir()))}.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CARBON_MAGIC_", "PYTHON"))}
    env.update(PYTHONPATH=os.pathsep.join([str(OFFLINE), str(REPO)]) if name == "carbon_magic" else str(OFFLINE),
               BENCH_NET_LOG=str(log), CUDA_VISIBLE_DEVICES=env.get("CUDA_VISIBLE_DEVICES", ""),
               PYTHONDONTWRITEBYTECODE="1")
    cmd = [*netns, python, str(RUNNER), "--peer", name, *args]
    try:
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=tmp)
        lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
        res = json.loads(lines[-1]) if lines else {"errors": [f"no result (exit {out.returncode}): "
                                                            + out.stderr.strip()[-300:]]}
    except subprocess.TimeoutExpired:
        res = {"errors": [f"timed out after {timeout} s"]}
    attempts = res.get("network_attempts") or []
    if log.exists():  # the guard's own log, in case the runner died before reporting
        seen = {(a["call"], a["target"]) for a in attempts}
        for line in log.read_text().splitlines():
            a = json.loads(line)
            if (a["call"], a["target"]) not in seen:
                attempts.append(a)
    res["network_attempts"] = attempts
    res.setdefault("peer", name)
    return res


def status_of(res: dict) -> str:
    if res.get("skipped"):
        return res["skipped"]
    if res.get("network_attempts"):
        targets = sorted({a["target"] for a in res["network_attempts"]})
        return "FAILED offline rule: tried " + ", ".join(targets) + " (refused)"
    if not res.get("offline_guard", True):
        return "FAILED: offline guard not loaded"
    if res.get("errors"):
        return "error: " + res["errors"][0]
    return "ok" + (f" ({res['note']})" if res.get("note") else "")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="our rows only, tiny sizes (for the test suite)")
    ap.add_argument("--cells", type=int, default=None, help="cells per mode (default 200)")
    ap.add_argument("--bg-seconds", type=float, default=None, help="background CPU window (default 15)")
    ap.add_argument("--json", default=None, help="also write the raw results here")
    args = ap.parse_args(argv)
    cells = args.cells or (10 if args.quick else 200)
    bg = args.bg_seconds or (0.5 if args.quick else 15.0)
    common = ["--cells", str(cells), "--bg-seconds", str(bg), "--interval", "1"]
    netns = [] if args.quick else netns_prefix()
    print(header("carbon_magic vs peers" + (" (--quick: our rows only, sizes too small to quote)"
                                            if args.quick else "")))
    print(f"offline: sitecustomize guard{' + empty network namespace (unshare -n)' if netns else ''}; "
          f"cell = sum(range(100)); samplers at 1 s where configurable\n")
    results = []
    with tempfile.TemporaryDirectory(prefix="cm-peers-") as tmp:
        tmp = Path(tmp)
        rapl = make_fake_rapl(tmp / "powercap")
        plan = [("carbon_magic", "carbon_magic", sys.executable, [])]
        if not args.quick:
            plan.append(("carbon_magic + fake RAPL", "carbon_magic", sys.executable, ["--powercap-root", str(rapl)]))
        for peer in PEERS:
            py = PEERS_DIR / peer / "bin" / "python"
            version_file = PEERS_DIR / peer / "VERSION"
            if not py.exists() or not version_file.exists():
                results.append((peer, {"peer": peer, "skipped": "not installed (bash bench/setup_peers.sh)"}))
                continue
            if args.quick:
                results.append((peer, {"peer": peer, "version": version_file.read_text().strip(),
                                       "skipped": "installed, not run in --quick"}))
                continue
            plan.append((peer, peer, str(py), []))
            if peer == "zeus":
                plan.append(("zeus + fake RAPL", peer, str(py), ["--powercap-root", str(rapl)]))
        for label, name, py, extra in plan:
            print(f"running {label} ...", file=sys.stderr, flush=True)
            results.append((label, run_tool(name, py, common + extra, tmp, netns, timeout=120 if args.quick else 400)))
    order = ["carbon_magic", "carbon_magic + fake RAPL"]
    results.sort(key=lambda r: (order.index(r[0]) if r[0] in order else 2))
    if args.json:
        Path(args.json).write_text(json.dumps(dict(results), indent=1, default=str))
    print_tables(results)
    return 0


def print_tables(results):
    ours = dict(results).get("carbon_magic", {}).get("modes", {})
    ref_api = ours.get("CarbonSession begin/end + summary (API)", {}).get("overhead_s")
    ref_ipy = ours.get("%%carbon cell vs same cell (IPython)", {}).get("overhead_s")
    rows = []
    for label, res in results:
        modes = res.get("modes") or {}
        if not modes:
            rows.append([label, res.get("version", "-"), "-", "-", "-", "-", "-", "-", status_of(res)])
        for mode, m in modes.items():
            if "error" in m:
                rows.append([label, res.get("version", "-"), mode, "-", "-", "-", "-", "-", "error: " + m["error"]])
                continue
            ratio_api = f"{m['overhead_s'] / ref_api:.2f}×" if ref_api else "-"
            ratio_ipy = f"{m['overhead_s'] / ref_ipy:.2f}×" if ref_ipy else "-"
            rows.append([label, res.get("version", "-"), mode, m["cells"], fmt_us(m["overhead_s"]),
                         fmt_us(m["p90_s"]), ratio_api, ratio_ipy, status_of(res)])
    print(table(["tool", "version", "API per cell", "cells", "per-cell cost (median)", "p90 measured cell",
                 "÷ ours (API)", "÷ ours (%%carbon)", "status"], rows,
                title="Per-cell cost on the same tiny cell (one run)"))
    rows = []
    for label, res in results:
        b = res.get("background")
        if not b:
            continue
        iv = f"{b['interval_s']:g} s" if b.get("interval_s") else "no sampler (reads at window edges)"
        rows.append([label, iv, f"{b['seconds']:.1f} s", fmt_ms(b["cpu_s"]), fmt_pct(b["fraction"]), b["threads"],
                     status_of(res)])
    print(table(["tool", "interval", "window", "process CPU", "of one core", "threads", "status"], rows,
                title="Background CPU while one window is open and the cell sleeps"))
    rows = []
    for label, res in results:
        if "import_s" not in res:
            continue
        rows.append([label, fmt_ms(res["import_s"]), f"{res['import_rss_mb']:.1f} MB",
                     fmt_ms(res.get("setup_s", float("nan"))), f"{res.get('setup_rss_mb', float('nan')):.1f} MB",
                     ", ".join(res.get("sources") or []) or "-"])
    print(table(["tool", "import", "import added RSS", "setup (construct + start)", "setup added RSS",
                 "what it found here"], rows, title="Import and setup (fresh process each)"))
    rows = [[label, res.get("version", "-"), status_of(res),
             "; ".join(f"{a['call']} {a['target']} from {a['stack'][-1] if a.get('stack') else '?'}"
                       for a in res.get("network_attempts") or []) or "none"] for label, res in results]
    print(table(["tool", "version", "status", "network attempts (all refused)"], rows,
                title="Offline rule and versions"))


if __name__ == "__main__":
    sys.exit(main())
