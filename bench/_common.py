"""Helpers shared by the benchmark scripts: tables, medians, machine description, thread CPU.

Every script prints one Markdown table per measurement (so it pastes into docs/ and a test can
parse it) and a header saying the command, the machine and the date. Nothing here is imported
by the package; bench/ is not shipped.
"""
from __future__ import annotations

import datetime as _dt
import os
import platform
import shlex
import statistics
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"


def ensure_repo_on_path() -> None:
    """Import carbon_magic (and tests/fakes.py) from this checkout, whatever is installed."""
    for p in (str(REPO), str(REPO / "tests")):
        if p not in sys.path:
            sys.path.insert(0, p)


def median(values) -> float:
    values = list(values)
    return statistics.median(values) if values else float("nan")


def machine() -> str:
    """One line: cores, Python, OS, CPU model where /proc/cpuinfo says it."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{os.cpu_count()} logical CPUs ({model}), Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}")


def header(title: str, argv: list[str] | None = None) -> str:
    argv = sys.argv if argv is None else argv
    cmd = "python " + " ".join(shlex.quote(a) for a in [os.path.relpath(argv[0], REPO), *argv[1:]])
    today = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    try:
        load = "load average {:.1f} {:.1f} {:.1f} (1/5/15 min) at start".format(*os.getloadavg())
    except OSError:
        load = "load average unknown"
    return f"# {title}\n\ncommand: `{cmd}`  \nmachine: {machine()}; {load}  \ndate: {today}\n"


def table(columns: list[str], rows: list[list], title: str | None = None) -> str:
    """A Markdown pipe table; cells are str()-ed, floats should be formatted by the caller."""
    out = [f"\n## {title}\n"] if title else []
    out.append("| " + " | ".join(columns) + " |")
    out.append("|" + "|".join(" --- " for _ in columns) + "|")
    for r in rows:
        out.append("| " + " | ".join(str(c).replace("|", "/") for c in r) + " |")
    return "\n".join(out)


def parse_tables(text: str) -> list[list[dict]]:
    """Inverse of `table` for tests: each Markdown table as a list of {column: cell} dicts."""
    tables, cur, cols = [], None, None
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("|"):
            if cur is not None:
                tables.append(cur)
            cur, cols = None, None
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cols is None:
            cols, cur = cells, []
        elif all(set(c) <= set("- :") for c in cells):
            continue
        else:
            cur.append(dict(zip(cols, cells)))
    if cur is not None:
        tables.append(cur)
    return tables


def thread_cpu_clock(thread: threading.Thread):
    """A function returning CPU seconds used so far by `thread` (ns resolution on Linux).

    time.pthread_getcpuclockid gives the thread's own CPU clock; psutil's per-thread times are
    only 10 ms ticks, too coarse for a thread that should use 20 ms in 20 s.
    """
    clk = time.pthread_getcpuclockid(thread.ident)
    return lambda: time.clock_gettime(clk)


def fmt_us(seconds: float) -> str:
    return f"{seconds * 1e6:,.0f} µs"


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.1f} ms"


def fmt_pct(fraction: float) -> str:
    return f"{fraction * 100:.3f} %"


def verdict(value: float, target: float) -> str:
    return "meets" if value <= target else "MISSES"
