"""What each tool reports on a machine without sensors, idle and with one busy core (issue 8 §3).

    python bench/estimator_honesty.py           # 10 s per workload, every installed peer
    python bench/estimator_honesty.py --quick   # 1 s per workload, our row only (test suite)

Same harness as bench_peers.py: each tool in its own venv and subprocess, offline guard on.
The workloads: `idle` sleeps; `busy` spins one core in Python (half of this 2-CPU machine).
Our model (carbon_magic/sources/estimators.py): CPU P = P_idle + (P_max − P_idle) × u, with u the
machine's busy fraction from /proc/stat between reads and, per logical CPU, P_idle 0.74 W and
P_max 3.5 W (Cloud Carbon Footprint's SPECpower averages; CARBON_MAGIC_CPU_TDP_W overrides P_max);
RAM 0.3725 W per installed GB whatever is used (Green Algorithms). Labelled `estimated`, ±50 %.
A tool whose estimate does not move between idle and busy is reporting a constant, not a measure.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import header, table
from bench_peers import PEERS_DIR, netns_prefix, run_tool, status_of

TOOLS = ("codecarbon", "carbontracker", "eco2ai")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seconds", type=float, default=None)
    args = ap.parse_args(argv)
    seconds = args.seconds or (1.0 if args.quick else 10.0)
    print(header("Estimator honesty: no sensors, idle vs one busy core"
                 + (" (--quick: our row only, too short to quote)" if args.quick else "")))
    netns = [] if args.quick else netns_prefix()
    results = []
    with tempfile.TemporaryDirectory(prefix="cm-honesty-") as tmp:
        tmp = Path(tmp)
        results.append(("carbon_magic", run_tool("carbon_magic", sys.executable,
                                                 ["--honesty", "--seconds", str(seconds)], tmp, netns, 120)))
        for peer in TOOLS:
            py = PEERS_DIR / peer / "bin" / "python"
            if not py.exists() or not (PEERS_DIR / peer / "VERSION").exists():
                results.append((peer, {"skipped": "not installed (bash bench/setup_peers.sh)"}))
            elif args.quick:
                results.append((peer, {"skipped": "installed, not run in --quick"}))
            else:
                print(f"running {peer} ...", file=sys.stderr, flush=True)
                results.append((peer, run_tool(peer, str(py), ["--honesty", "--seconds", str(seconds)], tmp, netns,
                                               300)))
    rows = []
    for name, res in results:
        w = res.get("workloads") or {}
        if not w:
            rows.append([name, res.get("version", "-"), "-", "-", "-", "-", "-", "-", status_of(res)])
            continue
        idle, busy = w.get("idle", {}), w.get("busy", {})

        def cell(d, key, unit="W", scale=1.0):
            v = d.get(key)
            return f"{v * scale:.2f} {unit}" if isinstance(v, (int, float)) else "-"

        moved = (f"{busy['mean_w'] / idle['mean_w']:.2f}×" if idle.get("mean_w") and busy.get("mean_w") else "-")
        errs = "; ".join(d["error"] for d in (idle, busy) if "error" in d)
        rows.append([name, res.get("version", "-"), cell(idle, "mean_w"), cell(busy, "mean_w"), moved,
                     cell(idle, "cpu_j", "W", 1 / idle.get("seconds", 1)) + " / " + cell(busy, "cpu_j", "W",
                                                                                          1 / busy.get("seconds", 1)),
                     cell(idle, "ram_j", "W", 1 / idle.get("seconds", 1)),
                     f"{idle.get('machine_busy', 0) * 100:.0f} % / {busy.get('machine_busy', 0) * 100:.0f} %",
                     ("error: " + errs) if errs else status_of(res)])
    print(table(["tool", "version", "idle: mean power", "one busy core: mean power", "busy ÷ idle",
                 "CPU part idle / busy", "RAM part", "machine CPU busy idle / busy (all tenants)", "status"], rows,
                title=f"Reported mean power over {seconds:g} s per workload (energy ÷ duration)"))
    notes = [f"- {name}: {res['model']}" for name, res in results if res.get("model")]
    if notes:
        print("\nmodels as reported by the tools:\n" + "\n".join(notes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
