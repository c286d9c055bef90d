"""CPU time of this kernel's process tree and of the whole machine, read from Linux /proc.

Times come from `/proc/<pid>/stat` (utime, stime, cutime, cstime) and the first line of
`/proc/stat` (user, nice, system), in clock ticks. A process tree's CPU time is, for the root and
every living descendant, its own time plus its reaped children's (cutime, cstime): when a child
exits and is reaped, its time moves from its own line into its parent's, so the sum stays
continuous and a `multiprocessing.Pool` that the cell started and joined is counted whole.
Threads are inside their process's line.

The tree is walked through `/proc/<pid>/task/<tid>/children` (only the kernel's own processes are
read), at cell edges and at most every TREE_EVERY_S in between (sampler ticks read the known
processes' times only); kernels built without those files (CONFIG_PROC_CHILDREN) get one pass over
every `/proc/<pid>/stat` to map parents instead, at most every PARENT_MAP_EVERY_S (a JupyterHub
node runs thousands of processes). A child found late brings its whole CPU time with it, so only
the timing of that time shifts, and one that exits first is in its parent's cutime anyway.
Nothing here reads a name, a command line or a user: only numbers.
The root of /proc is injected, so tests give a fake tree in a temp dir (as for powercap).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass

CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
TREE_EVERY_S = 0.45  # under the default 0.5 s interval: every tick walks it; at 0.1 s every fifth
PARENT_MAP_EVERY_S = 2.0
_CHUNK = 65536


class ProcUnavailable(Exception):
    """/proc cannot tell this kernel's CPU time (not Linux, or the files are unreadable)."""


@dataclass(frozen=True)
class CpuTimes:
    """One look at the CPU time counters (seconds, cumulative)."""

    tree_s: float  # the process tree: own + reaped children, every process
    busy_s: float  # the machine: user + nice + system over every CPU
    cpus: int  # logical CPUs counted in /proc/stat
    pids: frozenset  # the tree's processes at this look


def _read_all(path: str) -> bytes:
    """A /proc file's bytes, read without a Python file object (cell edges read several)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        data = os.read(fd, _CHUNK)
        more = os.read(fd, _CHUNK) if data else b""  # to the end: a short read need not be the end
        if not more:
            return data
        parts = [data, more]
        while more:
            more = os.read(fd, _CHUNK)
            parts.append(more)
        return b"".join(parts)
    finally:
        os.close(fd)


def _stat_fields(text: str) -> list[str]:
    """The fields of a /proc/<pid>/stat line after the `(comm)` (which may hold spaces or parens)."""
    return text[text.rindex(")") + 2:].split()


class ProcFS:
    """Reads the counters above for the tree rooted at `pid` (default: this process)."""

    def __init__(self, root: str = "/proc", pid: int | None = None, clk_tck: int = CLK_TCK, clock=time.monotonic):
        self.root = str(root)
        self.pid = os.getpid() if pid is None else int(pid)
        self.tick_s = 1.0 / clk_tck
        self._clock = clock
        self._stat_path = os.path.join(self.root, "stat")
        self._children_files: bool | None = None
        self._kids: dict[int, list[int]] | None = None
        self._kids_at = float("-inf")
        self._tree: list[int] | None = None
        self._tree_at = float("-inf")

    # -- availability --------------------------------------------------------------------
    def problem(self) -> str | None:
        """Why this tree's CPU time cannot be read here, or None."""
        try:
            self.read()
        except ProcUnavailable as exc:
            return str(exc)
        return None

    # -- the machine ---------------------------------------------------------------------
    def machine(self) -> tuple[float, int]:
        """(busy seconds over all CPUs, number of CPUs) from /proc/stat.

        Busy is user + nice + system (guest time is inside user). irq, softirq and steal are
        left out: no process's own time contains them, so a lone busy process reads close to 100 %.
        """
        try:
            data = _read_all(self._stat_path)
        except OSError as exc:
            raise ProcUnavailable(f"cannot read {self.root}/stat ({exc.strerror or exc})") from None
        if data.startswith(b"cpu "):  # Linux's layout: the sum first, then one line per CPU
            head = data[:data.find(b"\n")].split()[1:]
            try:
                busy = (int(head[0]) + int(head[1]) + int(head[2])) * self.tick_s
            except (IndexError, ValueError):
                raise ProcUnavailable(f"{self.root}/stat has no readable cpu line") from None
            return busy, max(1, data.count(b"\ncpu"))  # cpu0, cpu1, …: the only lines that start so
        return self._machine_any_layout(data.decode("ascii", "replace"))

    def _machine_any_layout(self, text: str) -> tuple[float, int]:
        """`machine()` for a /proc/stat whose first line is not the `cpu ` sum."""
        busy, cpus = None, 0
        for line in text.splitlines():
            if line.startswith("cpu "):
                v = line.split()[1:]
                try:
                    busy = (int(v[0]) + int(v[1]) + int(v[2])) * self.tick_s
                except (IndexError, ValueError):
                    raise ProcUnavailable(f"{self.root}/stat has no readable cpu line") from None
            elif line.startswith("cpu"):
                cpus += 1
        if busy is None:
            raise ProcUnavailable(f"{self.root}/stat has no cpu line")
        return busy, max(1, cpus)

    # -- one process ---------------------------------------------------------------------
    def _read_stat(self, pid: int) -> list[str] | None:
        try:
            return _stat_fields(_read_all(f"{self.root}/{pid}/stat").decode("ascii", "replace"))
        except (OSError, ValueError):  # gone, or a line without "(comm)"
            return None

    def process_cpu_s(self, pid: int) -> float | None:
        """utime + stime + cutime + cstime of one process, or None if it cannot be read."""
        f = self._read_stat(pid)
        try:
            return sum(int(x) for x in f[11:15]) * self.tick_s if f else None
        except ValueError:
            return None

    def exists(self, pid: int) -> bool:
        return os.path.exists(os.path.join(self.root, str(pid)))

    def all_pids(self) -> list[int]:
        try:
            return [int(n) for n in os.listdir(self.root) if n.isdigit()]
        except OSError:
            return []

    # -- the tree ------------------------------------------------------------------------
    def _children_supported(self) -> bool:
        if self._children_files is None:
            self._children_files = os.path.exists(
                os.path.join(self.root, str(self.pid), "task", str(self.pid), "children"))
        return self._children_files

    def _children(self, pid: int) -> list[int]:
        out: list[int] = []
        task = f"{self.root}/{pid}/task"
        try:
            tids = os.listdir(task)
        except OSError:
            return out
        for tid in tids:
            try:
                out += [int(x) for x in _read_all(f"{task}/{tid}/children").split()]
            except (OSError, ValueError):
                continue
        return out

    def _parent_map(self) -> dict[int, list[int]]:
        kids: dict[int, list[int]] = {}
        for pid in self.all_pids():
            f = self._read_stat(pid)
            if f and len(f) > 1 and f[1].lstrip("-").isdigit():
                kids.setdefault(int(f[1]), []).append(pid)
        return kids

    def tree_pids(self, fresh: bool = True) -> list[int]:
        """The root and every living descendant (`fresh` False: the last walk, if under TREE_EVERY_S old)."""
        now = self._clock()
        kids = None
        if not self._children_supported():
            if self._kids is None or now - self._kids_at >= PARENT_MAP_EVERY_S:
                self._kids, self._kids_at = self._parent_map(), now
            kids = self._kids
        elif not fresh and self._tree is not None and now - self._tree_at < TREE_EVERY_S:
            return self._tree
        out, stack, seen = [], [self.pid], set()
        while stack:
            p = stack.pop()
            if p in seen:
                continue
            seen.add(p)
            out.append(p)
            stack.extend(self._children(p) if kids is None else kids.get(p, ()))
        self._tree, self._tree_at = out, now
        return out

    def read(self, fresh: bool = True) -> CpuTimes:
        """The tree's and the machine's CPU time now. Raises ProcUnavailable.

        `fresh` False (sampler ticks) may reuse the tree's last walk (see the module docstring).
        """
        busy, cpus = self.machine()
        pids = self.tree_pids(fresh)
        times = {p: self.process_cpu_s(p) for p in pids}  # a process gone since the map: None, left out
        if times.get(self.pid) is None:
            raise ProcUnavailable(f"cannot read {self.root}/{self.pid}/stat")
        return CpuTimes(sum(t for t in times.values() if t is not None), busy, cpus,
                        frozenset(p for p, t in times.items() if t is not None))

    def own_cpu_by_process(self) -> dict[tuple[int, str], float]:
        """utime + stime of every visible process, keyed by (pid, start time) so a reused PID is a
        new process. For counting other consumers; no name or user is read."""
        out = {}
        for pid in self.all_pids():
            f = self._read_stat(pid)
            if f is None:
                continue
            try:
                out[(pid, f[19])] = (int(f[11]) + int(f[12])) * self.tick_s
            except (TypeError, IndexError, ValueError):
                continue
        return out

    def holds(self, pids, path: str) -> bool:
        """Whether any of `pids` has `path` open (a GPU's device node). Unreadable fds are skipped."""
        target = os.path.realpath(path)
        for pid in pids:
            fd_dir = os.path.join(self.root, str(pid), "fd")
            try:
                fds = os.listdir(fd_dir)
            except OSError:
                continue
            for fd in fds:
                try:
                    if os.readlink(os.path.join(fd_dir, fd)) in (path, target):
                        return True
                except OSError:
                    continue
        return False
