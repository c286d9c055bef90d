"""Measure one tool (ours or a peer) in this process and print one JSON line. Run by bench_peers.py.

    <venv>/bin/python bench/_peer_runner.py --peer codecarbon --cells 200 --bg-seconds 15

Runs inside the peer's own virtual environment, so it imports only the standard library, psutil
(installed beside each peer by setup_peers.sh) and the tool under test. The offline guard
(`_offline/sitecustomize.py`, put on PYTHONPATH by the caller) refuses and records any connection
that would leave the machine; the attempts are reported here and in the guard's log file.

What is measured, the same way for every tool:
- import: wall time and added RSS of importing the tool's module (fresh process);
- setup: constructing and starting the tracker (discovery, threads), time and added RSS;
- per cell: `tiny()` alone vs `begin; tiny(); end` (alternating, medians), per API mode;
- background: CPU time of the whole process (all threads, plus child processes) while one
  measured window is open and the main thread sleeps, with the tool sampling at ~1 s.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import traceback

RESULT: dict = {"errors": []}


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def tiny():
    """The cell every tool measures: a few microseconds of Python."""
    return sum(range(100))


def err(where: str, exc: BaseException) -> str:
    line = f"{where}: {type(exc).__name__}: {exc}".strip()
    RESULT["errors"].append(line[:400])
    RESULT.setdefault("tracebacks", []).append(traceback.format_exc()[-1500:])
    return line[:400]


def timed(fn):
    r0, t0 = rss(), time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0, (rss() - r0) / 2**20


def per_cell(begin, end, n: int, warmup: int = 5, budget_s: float = 20.0) -> dict:
    """Alternate tiny() and begin/tiny/end; stop early when the budget is spent (slow tools)."""
    plain, measured = [], []
    deadline = time.monotonic() + budget_s
    for i in range(warmup + n):
        t0 = time.perf_counter()
        tiny()
        t1 = time.perf_counter()
        h = begin(i)
        tiny()
        end(h, i)
        t2 = time.perf_counter()
        if i >= warmup:
            plain.append(t1 - t0)
            measured.append(t2 - t1)
        if time.monotonic() > deadline and len(measured) >= 10:
            break
    return {"cells": len(measured), "plain_median_s": statistics.median(plain),
            "measured_median_s": statistics.median(measured),
            "overhead_s": statistics.median(measured) - statistics.median(plain),
            "p90_s": sorted(measured)[int(0.9 * (len(measured) - 1))]}


def cpu_now() -> float:
    """CPU seconds of this process (ns clock) plus its children (psutil, 10 ms ticks).

    The children are read first so that this function's own work lands before the clock read.
    """
    try:
        import psutil  # noqa: PLC0415

        kids = 0.0
        for c in psutil.Process().children(recursive=True):
            t = c.cpu_times()
            kids += t.user + t.system
    except Exception:  # noqa: BLE001 - children vanish; psutil missing in a broken venv
        kids = 0.0
    return time.process_time() + kids


def background(open_window, close_window, seconds: float, interval_s) -> dict:
    time.sleep(min(3.0, seconds / 5))  # let helper threads/processes finish starting (Zeus spawns two)
    h = open_window()
    cpu_now()  # warm up (imports psutil) outside the window
    c0, t0 = cpu_now(), time.monotonic()
    time.sleep(seconds)
    c1, t1 = cpu_now(), time.monotonic()
    close_window(h)
    import threading  # noqa: PLC0415
    return {"seconds": t1 - t0, "cpu_s": c1 - c0, "fraction": (c1 - c0) / (t1 - t0), "interval_s": interval_s,
            "threads": threading.active_count()}


# -- tools ---------------------------------------------------------------------------------------
def run_carbon_magic(a, tmp):
    os.environ["CARBON_MAGIC_DATA_DIR"] = tmp
    os.environ["CARBON_MAGIC_POWERCAP_ROOT"] = a.powercap_root or os.path.join(tmp, "no-powercap")
    from IPython.core.interactiveshell import InteractiveShell  # noqa: PLC0415 - a kernel has it loaded already
    from traitlets.config import Config  # noqa: PLC0415

    RESULT["version"] = _our_version()
    _, RESULT["import_s"], RESULT["import_rss_mb"] = timed(lambda: __import__("carbon_magic.extension"))
    c = Config()
    c.HistoryManager.hist_file = ":memory:"
    ip = InteractiveShell.instance(config=c)
    ip.run_cell("x = 1")
    os.environ["CARBON_MAGIC_INTERVAL_S"] = str(a.interval)
    _, RESULT["setup_s"], RESULT["setup_rss_mb"] = timed(lambda: ip.run_line_magic("load_ext", "carbon_magic"))
    from carbon_magic.extension import session_for  # noqa: PLC0415

    session = session_for(ip)
    RESULT["sources"] = [f"{s.name} ({s.method})" for s in session.sampler.sources]
    modes = RESULT["modes"] = {}
    modes["CarbonSession begin/end + summary (API)"] = per_cell(
        lambda i: session.begin(), lambda w, i: session.end(w).summary(), a.cells)
    modes["%%carbon cell vs same cell (IPython)"] = _ipython_cells(ip, a.cells)
    RESULT["background"] = background(session.begin, session.end, a.bg_seconds, a.interval)
    ip.run_line_magic("unload_ext", "carbon_magic")


def _our_version():
    import carbon_magic  # noqa: PLC0415

    return carbon_magic.__version__


def _ipython_cells(ip, n):
    import contextlib  # noqa: PLC0415
    import io  # noqa: PLC0415

    plain, measured = [], []
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        for i in range(n + 5):
            t0 = time.perf_counter()
            ip.run_cell("tiny = sum(range(100))", store_history=True)
            t1 = time.perf_counter()
            ip.run_cell("%%carbon\ntiny = sum(range(100))", store_history=True)
            t2 = time.perf_counter()
            if i >= 5:
                plain.append(t1 - t0)
                measured.append(t2 - t1)
    return {"cells": len(measured), "plain_median_s": statistics.median(plain),
            "measured_median_s": statistics.median(measured),
            "overhead_s": statistics.median(measured) - statistics.median(plain),
            "p90_s": sorted(measured)[int(0.9 * (len(measured) - 1))]}


def run_codecarbon(a, tmp):
    import importlib.metadata as md  # noqa: PLC0415

    RESULT["version"] = md.version("codecarbon")
    mod, RESULT["import_s"], RESULT["import_rss_mb"] = timed(lambda: __import__("codecarbon"))
    kw = dict(country_iso_code="FRA", save_to_file=False, log_level="error", measure_power_secs=a.interval,
              output_dir=tmp)

    def make():
        return mod.OfflineEmissionsTracker(**kw)

    def make_started():
        t = make()
        t.start()
        return t

    # A stopped tracker cannot be started again (codecarbon 3.3: stop() drops its scheduler and the
    # next start() fails inside, logged and swallowed), so start/stop per cell means a new tracker.
    tracker, RESULT["setup_s"], RESULT["setup_rss_mb"] = timed(make_started)
    tracker.stop()
    modes = RESULT["modes"] = {}
    try:
        modes["new OfflineEmissionsTracker per cell: start/stop"] = per_cell(
            lambda i: make_started(), lambda t, i: t.stop(), a.cells)
    except Exception as exc:  # noqa: BLE001
        modes["new OfflineEmissionsTracker per cell: start/stop"] = {"error": err("start/stop", exc)}
    try:
        t2 = make()
        t2.start()
        modes["start_task/stop_task (tracker running)"] = per_cell(
            lambda i: t2.start_task(f"cell{i}"), lambda h, i: t2.stop_task(f"cell{i}"), a.cells)
        RESULT["background"] = background(lambda: t2.start_task("bg"), lambda h: t2.stop_task("bg"),
                                          a.bg_seconds, a.interval)
        t2.stop()
    except Exception as exc:  # noqa: BLE001
        modes.setdefault("start_task/stop_task (tracker running)", {"error": err("start_task/stop_task", exc)})
    try:
        RESULT["sources"] = [f"{type(h).__name__}" for h in tracker._hardware]
    except Exception:  # noqa: BLE001
        pass


def run_zeus(a, tmp):
    import importlib.metadata as md  # noqa: PLC0415

    RESULT["version"] = md.version("zeus")
    if a.powercap_root:  # Zeus reads RAPL from a fixed path: point it at the same fake tree as ours
        import zeus.device.cpu.rapl as zr  # noqa: PLC0415
        zr.RAPL_DIR = a.powercap_root
    mon_mod, RESULT["import_s"], RESULT["import_rss_mb"] = timed(lambda: __import__("zeus.monitor").monitor)
    mon, RESULT["setup_s"], RESULT["setup_rss_mb"] = timed(lambda: mon_mod.ZeusMonitor(approx_instant_energy=True))
    RESULT["sources"] = [f"gpus: {len(mon.gpu_indices)}", f"cpus: {len(mon.cpu_indices)}"]
    if not mon.gpu_indices and not mon.cpu_indices:
        RESULT["note"] = "ZeusMonitor found no GPU and no RAPL package: its windows measure time only"
    modes = RESULT["modes"] = {}
    try:
        modes["ZeusMonitor begin_window/end_window"] = per_cell(
            lambda i: mon.begin_window(f"c{i}", sync_execution=False),
            lambda h, i: mon.end_window(f"c{i}", sync_execution=False), a.cells)
        RESULT["background"] = background(lambda: mon.begin_window("bg", sync_execution=False),
                                          lambda h: mon.end_window("bg", sync_execution=False), a.bg_seconds,
                                          None)
    except Exception as exc:  # noqa: BLE001
        modes["ZeusMonitor begin_window/end_window"] = {"error": err("begin/end_window", exc)}


def run_carbontracker(a, tmp):
    import importlib.metadata as md  # noqa: PLC0415

    RESULT["version"] = md.version("carbontracker")
    mod, RESULT["import_s"], RESULT["import_rss_mb"] = timed(lambda: __import__("carbontracker.tracker").tracker)
    n = a.cells + 10
    kw = dict(epochs=n + 2, epochs_before_pred=0, update_interval=a.interval, log_dir=tmp, verbose=0,
              ignore_errors=False, **({"sim_cpu": a.sim_cpu, "sim_cpu_tdp": a.sim_cpu_tdp} if a.sim_cpu else {}))
    RESULT["settings"] = {k: v for k, v in kw.items() if k != "log_dir"}
    tracker, RESULT["setup_s"], RESULT["setup_rss_mb"] = timed(lambda: mod.CarbonTracker(**kw))
    try:
        RESULT["sources"] = [c.name for c in tracker.tracker.components]
    except Exception:  # noqa: BLE001
        pass
    modes = RESULT["modes"] = {}
    try:
        modes["CarbonTracker epoch_start/epoch_end"] = per_cell(
            lambda i: tracker.epoch_start(), lambda h, i: tracker.epoch_end(), a.cells)
        RESULT["background"] = background(tracker.epoch_start, lambda h: tracker.epoch_end(), a.bg_seconds,
                                          a.interval)
        tracker.stop()
    except SystemExit as exc:  # carbontracker calls sys.exit(70) on errors unless ignore_errors
        modes["CarbonTracker epoch_start/epoch_end"] = {"error": err("epoch", exc)}
    except Exception as exc:  # noqa: BLE001
        modes["CarbonTracker epoch_start/epoch_end"] = {"error": err("epoch", exc)}


def run_eco2ai(a, tmp):
    import importlib.metadata as md  # noqa: PLC0415

    RESULT["version"] = md.version("eco2ai")
    mod, RESULT["import_s"], RESULT["import_rss_mb"] = timed(lambda: __import__("eco2ai"))
    kw = dict(project_name="bench", experiment_description="tiny", file_name=os.path.join(tmp, "eco2ai.csv"),
              alpha_2_code="FR", measure_period=a.interval, pue=1)
    tracker, RESULT["setup_s"], RESULT["setup_rss_mb"] = timed(lambda: mod.Tracker(**kw))
    modes = RESULT["modes"] = {}
    try:
        modes["Tracker start/stop"] = per_cell(lambda i: tracker.start(), lambda h, i: tracker.stop(),
                                               min(a.cells, 50))
        RESULT["background"] = background(tracker.start, lambda h: tracker.stop(), a.bg_seconds, a.interval)
    except Exception as exc:  # noqa: BLE001
        modes["Tracker start/stop"] = {"error": err("start/stop", exc)}


# -- estimator honesty: the same idle and busy workloads under each tool ----------------------------
MACHINE_BUSY: dict = {}


def _machine_times():
    import psutil  # noqa: PLC0415

    t = psutil.cpu_times()
    total = sum(getattr(t, f) for f in t._fields if f not in ("guest", "guest_nice"))
    return total - t.idle - getattr(t, "iowait", 0.0), total


def workload(kind: str, seconds: float) -> float:
    """idle: sleep; busy: one core spinning in Python. Returns the process CPU seconds used.

    Also notes the whole machine's busy fraction over the workload (other tenants included),
    since an estimator from utilisation sees the machine, not this process.
    """
    b0, t0 = _machine_times()
    c0 = time.process_time()
    if kind == "idle":
        time.sleep(seconds)
    else:
        end = time.perf_counter() + seconds
        x = 0
        while time.perf_counter() < end:
            x += 1
    cpu = time.process_time() - c0
    b1, t1 = _machine_times()
    MACHINE_BUSY[kind] = (b1 - b0) / (t1 - t0) if t1 > t0 else None
    return cpu


def honesty(a, tmp) -> None:
    """For each workload: start the tool, run it, stop, and report the energy the tool reports."""
    out = RESULT["workloads"] = {}
    for kind in ("idle", "busy"):
        try:
            energy = HONESTY[a.peer](a, tmp, kind)  # "seconds": the window as the tool itself timed it
            dur = energy["seconds"]
            out[kind] = {**energy, "mean_w": energy["energy_j"] / dur if energy.get("energy_j") is not None else None,
                         "machine_busy": MACHINE_BUSY.get(kind)}
        except BaseException as exc:  # noqa: BLE001 - SystemExit from carbontracker included
            out[kind] = {"error": err(kind, exc)}


_SESSION = None


def honesty_carbon_magic(a, tmp, kind):
    os.environ["CARBON_MAGIC_DATA_DIR"] = tmp
    os.environ.setdefault("CARBON_MAGIC_POWERCAP_ROOT", "/sys/class/powercap")  # this machine as it is
    os.environ.setdefault("CARBON_MAGIC_SCOPE", "machine")  # the peers estimate the whole machine too
    from carbon_magic.config import Settings  # noqa: PLC0415
    from carbon_magic.session import CarbonSession  # noqa: PLC0415

    import carbon_magic  # noqa: PLC0415

    RESULT["version"] = carbon_magic.__version__
    global _SESSION
    if _SESSION is None:
        _SESSION = CarbonSession(Settings.from_env()).start()
    session = _SESSION
    w = session.begin()
    cpu = workload(kind, a.seconds)
    rec = session.end(w)
    comps = {c.name: c.energy_j for c in rec.components}
    RESULT["model"] = (f"cpu {session.sampler.sources[0].idle_w:.2f}–{session.sampler.sources[0].max_w:.2f} W "
                       f"by utilisation, ram {session.sampler.sources[1].power_w:.2f} W")
    return {"energy_j": rec.energy_j, "cpu_j": comps.get("cpu"), "ram_j": comps.get("ram"), "process_cpu_s": cpu,
            "seconds": rec.duration_s}


def honesty_codecarbon(a, tmp, kind):
    import importlib.metadata as md  # noqa: PLC0415

    from codecarbon import OfflineEmissionsTracker  # noqa: PLC0415

    RESULT["version"] = md.version("codecarbon")
    t = OfflineEmissionsTracker(country_iso_code="FRA", save_to_file=False, log_level="error",
                                measure_power_secs=1, output_dir=tmp)
    t.start()
    cpu = workload(kind, a.seconds)
    t.stop()
    d = t.final_emissions_data
    kwh = 3.6e6
    RESULT["model"] = f"cpu_power {d.cpu_power:.2f} W, ram_power {d.ram_power:.2f} W (last reading)"
    return {"energy_j": d.energy_consumed * kwh, "cpu_j": d.cpu_energy * kwh, "ram_j": d.ram_energy * kwh,
            "process_cpu_s": cpu, "seconds": d.duration}


def honesty_carbontracker(a, tmp, kind):
    import importlib.metadata as md  # noqa: PLC0415

    from carbontracker.tracker import CarbonTracker  # noqa: PLC0415

    RESULT["version"] = md.version("carbontracker")
    tr = CarbonTracker(epochs=5, epochs_before_pred=0, update_interval=1, log_dir=tmp, verbose=0)
    tr.epoch_start()
    cpu = workload(kind, a.seconds)
    tr.epoch_end()
    th = tr.tracker
    by = {c.name: sum(c.energy_usage(th.epoch_times)) * 3.6e6 for c in th.components}
    seconds = th.epoch_times[0]
    tr.stop()
    return {"energy_j": sum(by.values()), "cpu_j": by.get("cpu"), "ram_j": by.get("ram"), "process_cpu_s": cpu,
            "seconds": seconds}


def honesty_eco2ai(a, tmp, kind):
    import csv  # noqa: PLC0415
    import importlib.metadata as md  # noqa: PLC0415

    import eco2ai  # noqa: PLC0415

    RESULT["version"] = md.version("eco2ai")
    path = os.path.join(tmp, f"eco2ai-{kind}.csv")
    t = eco2ai.Tracker(project_name="bench", experiment_description=kind, file_name=path, alpha_2_code="FR",
                       measure_period=1, pue=1)
    t.start()
    cpu = workload(kind, a.seconds)
    t.stop()
    with open(path) as f:
        row = list(csv.DictReader(f))[-1]
    return {"energy_j": float(row["power_consumption(kWh)"]) * 3.6e6, "cpu_j": None, "ram_j": None,
            "process_cpu_s": cpu, "seconds": float(row["duration(s)"]), "cpu_name": row.get("CPU_name")}


HONESTY = {"carbon_magic": honesty_carbon_magic, "codecarbon": honesty_codecarbon,
           "carbontracker": honesty_carbontracker, "eco2ai": honesty_eco2ai}


def _kill_children() -> int:
    """Helper processes a tool spawned (Zeus's RAPL monitors) would outlive os._exit: end them."""
    try:
        import psutil  # noqa: PLC0415

        kids = psutil.Process().children(recursive=True)
    except Exception:  # noqa: BLE001
        return 0
    for c in kids:
        try:
            c.kill()
        except Exception:  # noqa: BLE001
            pass
    return len(kids)


TOOLS = {"carbon_magic": run_carbon_magic, "codecarbon": run_codecarbon, "zeus": run_zeus,
         "carbontracker": run_carbontracker, "eco2ai": run_eco2ai}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--peer", required=True, choices=sorted(TOOLS))
    ap.add_argument("--cells", type=int, default=200)
    ap.add_argument("--bg-seconds", type=float, default=15.0)
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--powercap-root", default=None)
    ap.add_argument("--sim-cpu", default=None)
    ap.add_argument("--sim-cpu-tdp", type=float, default=None)
    ap.add_argument("--honesty", action="store_true", help="run the idle/busy workloads instead")
    ap.add_argument("--seconds", type=float, default=10.0, help="length of each honesty workload")
    a = ap.parse_args()
    RESULT["peer"] = a.peer
    guard = sys.modules.get("sitecustomize")
    RESULT["offline_guard"] = bool(getattr(guard, "BENCH_OFFLINE_GUARD", False))
    real_stdout = sys.stdout
    sys.stdout = sys.stderr  # tools print banners; only our JSON goes to stdout
    with tempfile.TemporaryDirectory(prefix=f"peer-{a.peer}-") as tmp:
        try:
            (honesty if a.honesty else TOOLS[a.peer])(a, tmp)
        except BaseException as exc:  # noqa: BLE001 - report whatever the tool raised, exit codes too
            err("run", exc)
    RESULT["network_attempts"] = list(getattr(guard, "ATTEMPTS", []))
    RESULT["children_killed"] = _kill_children()
    RESULT.pop("tracebacks", None) if not RESULT["errors"] else None
    real_stdout.write(json.dumps(RESULT, default=str) + "\n")
    real_stdout.flush()
    os._exit(0)  # do not wait for the tools' non-daemon threads or atexit hooks


if __name__ == "__main__":
    main()
