"""Core overhead of carbon_magic (issue 2): per-cell cost, sampler CPU, load time, long-run memory.

    python bench/bench_core.py           # the full run (about a minute on 2 cores)
    python bench/bench_core.py --quick   # a smoke run for the test suite (a few seconds)

1. Per-cell overhead: a real IPython InteractiveShell with the extension loaded runs `pass` and
   `%%carbon\\npass` alternately (≥ 200 of each, in one process, stdout redirected); the overhead is
   the difference of the medians, and the median of the paired differences is shown beside it.
   Everything the user pays is inside: hooks, snapshots, record, ledger write, summary line.
2. Sampler CPU: the sampler thread's own CPU clock (pthread_getcpuclockid) over a fixed time, for
   each interval, with the sources this machine has (estimators) and with a fake powercap tree
   (RAPL file reads). All sessions run at once, each thread measured on its own clock.
3. `%load_ext carbon_magic`: time and added RSS in a fresh subprocess (IPython already imported,
   psutil not yet: the worst case for us), median of several processes.
4. Memory after 24 h of samples: a session driven by a simulated clock (no sleeping), traced with
   tracemalloc, checkpoints along the way; the ring buffers' bounds are printed beside it.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import namedtuple
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (REPO, ensure_repo_on_path, fmt_ms, fmt_pct, fmt_us, header, median, table,
                     thread_cpu_clock, verdict)

ensure_repo_on_path()

TARGET_CELL_S = 1e-3
TARGET_CPU = {1.0: 0.001, 0.1: 0.005}
TARGET_LOAD_S = 0.150
TARGET_LOAD_MB = 30.0


def make_powercap(root: Path) -> Path:
    """A fake RAPL tree: one package with core/uncore subzones (not counted) and its dram zone."""
    from fakes import FakePowercap  # noqa: PLC0415

    pc = FakePowercap(root)
    pc.add_zone("intel-rapl:0", "package-0", 1_000_000)
    pc.add_zone("intel-rapl:0:0", "core", 500_000, parent="intel-rapl:0")
    pc.add_zone("intel-rapl:0:2", "dram", 200_000, parent="intel-rapl:0")
    return root


def source_configs(tmp: Path) -> dict[str, str]:
    """name -> CARBON_MAGIC_POWERCAP_ROOT: this machine (no RAPL: estimators) and a fake RAPL tree."""
    return {"estimators (this machine)": str(tmp / "no-powercap-here"),
            "fake RAPL tree (file reads)": str(make_powercap(tmp / "powercap"))}


# -- 1. per-cell overhead ----------------------------------------------------------------------
def new_shell():
    from IPython.core.interactiveshell import InteractiveShell  # noqa: PLC0415
    from traitlets.config import Config  # noqa: PLC0415

    c = Config()
    c.HistoryManager.hist_file = ":memory:"
    return InteractiveShell.instance(config=c)


def time_cells(ip, n: int, warmup: int) -> dict:
    """Alternate plain and %%carbon cells; seconds per cell for each."""
    plain, carbon = [], []
    sink = io.StringIO()
    summaries = 0
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        for i in range(warmup + n):
            for code, out in (("pass", plain), ("%%carbon\npass", carbon)):
                t0 = time.perf_counter()
                ip.run_cell(code, store_history=True)
                dt = time.perf_counter() - t0
                if i >= warmup:
                    out.append(dt)
            if i % 64 == 63 or i == warmup + n - 1:
                summaries += sink.getvalue().count("⚡")
                sink.seek(0)
                sink.truncate()
    assert summaries == warmup + n, f"{summaries} summary lines for {warmup + n} %%carbon cells"
    return {"plain": plain, "carbon": carbon}


def time_auto(ip, n: int, warmup: int) -> dict:
    """Auto mode: every plain cell measured, against the same cells with auto mode off."""
    off, on = [], []
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        for i in range(warmup + n):
            for mode, out in (("off", off), ("on", on)):
                ip.run_line_magic("carbon", f"auto {mode}")
                t0 = time.perf_counter()
                ip.run_cell("pass", store_history=True)
                dt = time.perf_counter() - t0
                if i >= warmup:
                    out.append(dt)
            sink.seek(0)
            sink.truncate()
        ip.run_line_magic("carbon", "auto off")
    return {"plain": off, "carbon": on}


def time_parts(session, n: int) -> dict:
    """The pieces of one measured cell, called directly (no IPython)."""
    parts = {"begin (start snapshot)": [], "end (sync check, snapshot, record, ledger)": [],
             "  of which ledger.append": [], "  of which build_record": [], "summary line": []}
    for _ in range(n):
        t0 = time.perf_counter()
        w = session.begin(label=None)
        t1 = time.perf_counter()
        rec = session.end(w)
        t2 = time.perf_counter()
        session.ledger.append(rec)
        t3 = time.perf_counter()
        session.build_record(w, session.sampler.snapshot(), "ok")
        t4 = time.perf_counter()
        rec.summary()
        t5 = time.perf_counter()
        for key, dt in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
            parts[key].append(dt)
    return parts


def bench_cells(configs: dict[str, str], data_dir: Path, n: int, warmup: int):
    from carbon_magic.extension import session_for  # noqa: PLC0415

    ip = new_shell()
    rows, part_rows = [], []
    for name, root in configs.items():
        os.environ["CARBON_MAGIC_POWERCAP_ROOT"] = root
        os.environ["CARBON_MAGIC_DATA_DIR"] = str(data_dir / name.split()[0])
        ip.run_line_magic("load_ext", "carbon_magic")
        session = session_for(ip)
        sources = ", ".join(f"{s.name} ({s.method})" for s in session.sampler.sources)
        for mode, res in (("%%carbon", time_cells(ip, n, warmup)), ("%carbon auto on", time_auto(ip, n, warmup))):
            plain, carbon = res["plain"], res["carbon"]
            paired = sorted(c - p for c, p in zip(carbon, plain))
            overhead = median(carbon) - median(plain)
            rows.append([name, mode, len(carbon), fmt_us(median(plain)), fmt_us(median(carbon)),
                         fmt_us(overhead), fmt_us(median(paired)), fmt_us(paired[int(0.9 * (len(paired) - 1))]),
                         verdict(overhead, TARGET_CELL_S)])
        parts = time_parts(session, n)
        part_rows += [[name, k, fmt_us(median(v))] for k, v in parts.items()]
        part_rows.append([name, "(sources read at each snapshot)", sources])
        ip.run_line_magic("unload_ext", "carbon_magic")
    return rows, part_rows


# -- 2. sampler CPU ----------------------------------------------------------------------------
def bench_sampler_cpu(configs: dict[str, str], data_dir: Path, intervals, seconds: float):
    from carbon_magic.config import Settings  # noqa: PLC0415
    from carbon_magic.session import CarbonSession  # noqa: PLC0415

    runs = []
    for name, root in configs.items():
        for interval in intervals:
            s = Settings(interval_s=interval, powercap_root=root, data_dir=data_dir / f"cpu-{interval}-{name[:4]}")
            runs.append((name, interval, CarbonSession(s).start()))
    clocks = [(thread_cpu_clock(sess.sampler._thread), sess) for _, _, sess in runs]
    start = [(c(), sess.sampler.ticks) for c, sess in clocks]
    t0 = time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - t0
    end = [(c(), sess.sampler.ticks) for c, sess in clocks]
    rows = []
    for (name, interval, sess), (c0, k0), (c1, k1) in zip(runs, start, end):
        sess.close()
        cpu, ticks = c1 - c0, k1 - k0
        frac = cpu / elapsed
        target = TARGET_CPU.get(interval)
        rows.append([name, f"{interval:g} s", f"{elapsed:.1f} s", ticks, fmt_ms(cpu),
                     fmt_us(cpu / ticks) if ticks else "-", fmt_pct(frac),
                     fmt_pct(target) if target else "-", verdict(frac, target) if target else "-"])
    return rows


# -- 3. %load_ext in a fresh process -----------------------------------------------------------
LOAD_SCRIPT = r"""
import json, os, sys, time
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config
c = Config(); c.HistoryManager.hist_file = ":memory:"
ip = InteractiveShell.instance(config=c)
ip.run_cell("x = 1")
preloaded = "psutil" in sys.modules
n0 = len(sys.modules); r0 = rss(); t0 = time.perf_counter()
ip.run_line_magic("load_ext", "carbon_magic")
t1 = time.perf_counter(); r1 = rss()
from carbon_magic.extension import session_for
s = session_for(ip)
print(json.dumps({"load_s": t1 - t0, "rss_added_b": r1 - r0, "modules_added": len(sys.modules) - n0,
                  "psutil_preloaded": preloaded, "sources": [x.name for x in s.sampler.sources],
                  "heavy": sorted(m for m in ("bqplot", "requests", "ipywidgets", "pandas", "numpy")
                                  if m in sys.modules)}))
ip.run_line_magic("unload_ext", "carbon_magic")
"""


def package_copies(tmp: Path) -> dict[str, Path]:
    """Two copies of the package: one with compiled bytecode (as `pip install` leaves it) and one
    without (how this checkout runs when PYTHONDONTWRITEBYTECODE is set, as in this container)."""
    import compileall  # noqa: PLC0415
    import shutil  # noqa: PLC0415

    out = {}
    for kind in ("bytecode (as installed)", "no bytecode cache"):
        dest = tmp / kind.split()[0] / "carbon_magic"
        shutil.copytree(REPO / "carbon_magic", dest, ignore=shutil.ignore_patterns("__pycache__", "labextension"))
        if kind.startswith("bytecode"):
            compileall.compile_dir(str(dest), quiet=1)
        out[kind] = dest.parent
    return out


def bench_load(configs: dict[str, str], data_dir: Path, runs: int):
    """Fresh processes, configurations interleaved run by run so that machine noise hits all alike."""
    copies = package_copies(data_dir / "pkg")
    plan = [(name, root, kind, path) for name, root in configs.items() for kind, path in copies.items()]
    res: dict[tuple, list] = {(n, k): [] for n, _, k, _ in plan}
    for _ in range(runs):
        for name, root, kind, path in plan:
            env = dict(os.environ, CARBON_MAGIC_POWERCAP_ROOT=root, CARBON_MAGIC_DATA_DIR=str(data_dir / "load"),
                       PYTHONPATH=str(path), PYTHONDONTWRITEBYTECODE="1")
            out = subprocess.run([sys.executable, "-c", LOAD_SCRIPT], env=env, capture_output=True, text=True,
                                 timeout=60, check=True)
            res[(name, kind)].append(json.loads(out.stdout.strip().splitlines()[-1]))
    rows = []
    for (name, kind), rs in res.items():
        load_s = median(r["load_s"] for r in rs)
        rss_mb = median(r["rss_added_b"] for r in rs) / 2**20
        rows.append([name, kind, runs, fmt_ms(load_s), f"{min(r['load_s'] for r in rs) * 1e3:.1f} ms",
                     verdict(load_s, TARGET_LOAD_S), f"{rss_mb:.1f} MB", verdict(rss_mb, TARGET_LOAD_MB),
                     int(median(r["modules_added"] for r in rs)), ", ".join(rs[0]["heavy"]) or "none"])
    return rows


# -- 4. memory over 24 h of samples (simulated clock) ------------------------------------------
_CpuTimes = namedtuple("scputimes", "user nice system idle iowait irq softirq steal guest guest_nice")


class _FakePsutil:
    """Only what discovery's estimators call; CPU time advances with the simulated clock (half busy)."""

    def __init__(self, clock):
        self._clock = clock

    def cpu_times(self):
        t = self._clock() * 2  # two CPUs
        return _CpuTimes(t * 0.4, 0.0, t * 0.1, t * 0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)

    @staticmethod
    def cpu_count():
        return 2

    @staticmethod
    def virtual_memory():
        return namedtuple("svmem", "total")(16 * 2**30)


def simulated_session(data_dir: Path, interval_s: float):
    """A session on the estimators with a simulated clock and a simulated /proc/stat."""
    from fakes import FakeClock  # noqa: PLC0415

    from carbon_magic.config import Settings  # noqa: PLC0415
    from carbon_magic.ledger import Ledger  # noqa: PLC0415
    from carbon_magic.session import CarbonSession  # noqa: PLC0415
    from carbon_magic.sources import discover  # noqa: PLC0415

    clock = FakeClock()
    settings = Settings(interval_s=interval_s, powercap_root=str(data_dir / "none"), data_dir=data_dir)
    discovery = discover(settings.powercap_root, nvml=None, psutil_module=_FakePsutil(clock))
    return clock, CarbonSession(settings, discovery=discovery, ledger=Ledger.in_dir(settings.data_dir),
                                clock=clock, wall=clock.wall).start(thread=False)


def bench_memory(data_dir: Path, hours: float, interval_s: float):
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    clock, session = simulated_session(data_dir / "mem", interval_s)
    sampler = session.sampler
    checkpoints = [h for h in (0.25, 1, 2, 6, 12, 24, 48) if h <= hours]
    rows, ticks, t0 = [], 0, time.perf_counter()
    for h in checkpoints:
        while ticks * interval_s < h * 3600:
            clock.advance(interval_s)
            sampler.tick()
            ticks += 1
        # one measured cell at each checkpoint: the window lookup and record still work on old data
        w = session.begin()
        clock.advance(1.0)
        session.end(w)
        cur, peak = tracemalloc.get_traced_memory()
        rows.append([f"{h:g} h", f"{ticks:,}", len(sampler.fine), len(sampler.coarse),
                     f"{(cur - base) / 2**20:.2f} MB", f"{(peak - base) / 2**20:.2f} MB"])
    tracemalloc.stop()
    session.close()
    per_snap = _snapshot_bytes(sampler)
    bound = (sampler.fine.maxlen + sampler.coarse.maxlen) * per_snap
    note = (f"{interval_s:g} s interval, {ticks:,} ticks simulated in {time.perf_counter() - t0:.1f} s. "
            f"Bounds: fine deque maxlen {sampler.fine.maxlen:,} (1 h), coarse maxlen {sampler.coarse.maxlen:,} "
            f"(one per 60 s for 7 days); ~{per_snap:,.0f} B per stored snapshot with these sources, so the "
            f"buffers never exceed ~{bound / 2**20:.1f} MB (coarse fills up on day 7).")
    return rows, note


def bench_cell_vs_history(data_dir: Path, hours_list, interval_s: float, cells: int):
    """Cost of one cell's begin()+end() as the sample history fills up (no tracemalloc here).

    Each cell lasts 1 simulated second with no tick inside, so any growth comes from looking up
    stored samples, not from the cell itself.
    """
    clock, session = simulated_session(data_dir / "hist", interval_s)
    sampler, rows, ticks = session.sampler, [], 0
    for h in hours_list:
        while ticks * interval_s < h * 3600:
            clock.advance(interval_s)
            sampler.tick()
            ticks += 1
        times = []
        for _ in range(cells):
            t0 = time.perf_counter()
            w = session.begin()
            clock.advance(1.0)
            session.end(w)
            times.append(time.perf_counter() - t0)
        rows.append([f"{h:g} h", len(sampler.fine), len(sampler.coarse), fmt_us(median(times))])
    session.close()
    return rows


def _snapshot_bytes(sampler) -> float:
    """Deep size of one stored Snapshot (the object, its two dicts and their float values)."""
    snap = sampler.fine[-1]
    size = sys.getsizeof(snap) + sys.getsizeof(snap.energy_j) + sys.getsizeof(snap.power_w)
    size += sum(sys.getsizeof(v) for v in (*snap.energy_j.values(), *snap.power_w.values()))
    size += sys.getsizeof(snap.failed) + 8  # + the deque slot
    return float(size)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes, for the test suite")
    ap.add_argument("--cells", type=int, default=None, help="measured cells of each kind (default 300)")
    ap.add_argument("--cpu-seconds", type=float, default=None, help="sampler CPU window (default 20)")
    args = ap.parse_args(argv)
    n = args.cells or (20 if args.quick else 300)
    cpu_s = args.cpu_seconds or (1.0 if args.quick else 20.0)
    print(header("carbon_magic core overhead" + (" (--quick: sizes too small to quote)" if args.quick else "")))
    os.environ.pop("CARBON_MAGIC_INTERVAL_S", None)
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
    # ignore_cleanup_errors: a closed session's ledger writer may still be finishing its file (close never waits)
    with tempfile.TemporaryDirectory(prefix="cm-bench-", ignore_cleanup_errors=True) as tmp:
        tmp = Path(tmp)
        configs = source_configs(tmp)
        t0 = time.perf_counter()
        rows, parts = bench_cells(configs, tmp / "cells", n, warmup=5 if args.quick else 20)
        print(table(["sources", "mode", "cells", "plain cell (median)", "measured cell (median)",
                     "overhead (diff. of medians)", "overhead (median of pairs)", "p90 of pairs",
                     "target ≤ 1 ms"], rows,
                    title="Per-cell overhead, real InteractiveShell, one process, sampler running at 0.5 s"))
        print(table(["sources", "part", "median"], parts, title="Where the time goes (CarbonSession called directly)"))
        cpu_rows = bench_sampler_cpu(configs, tmp / "cpu", (1.0, 0.5, 0.1), cpu_s)
        print(table(["sources", "interval", "window", "ticks", "thread CPU", "CPU per tick", "of one core",
                     "target", "verdict"], cpu_rows, title="Sampler thread CPU (its own thread clock)"))
        load_rows = bench_load(configs, tmp, 1 if args.quick else 7)
        print(table(["sources", "package", "processes", "%load_ext time (median)", "fastest", "≤ 150 ms",
                     "added RSS (median)", "≤ 30 MB", "modules imported", "heavy modules loaded"], load_rows,
                    title="%load_ext carbon_magic in a fresh process (IPython already imported)"))
        mem_rows, note = bench_memory(tmp, 1.0 if args.quick else 24.0, 0.5)
        print(table(["simulated time", "ticks", "fine samples", "coarse samples", "traced memory", "peak"],
                    mem_rows, title="Memory of a session sampled for 24 h (simulated clock, tracemalloc)"))
        print(f"\n{note}")
        hist_rows = bench_cell_vs_history(tmp, (0, 1) if args.quick else (0, 0.25, 1, 24), 0.5, 20 if args.quick else 100)
        print(table(["sampled history", "fine samples", "coarse samples", "begin+end per cell (median)"],
                    hist_rows, title="Per-cell cost as the sample history fills (simulated clock, CarbonSession)"))
        print(f"\ntotal bench time: {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
