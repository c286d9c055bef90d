"""ProcFS reads /proc with raw reads and parses /proc/stat's first line (perf): the numbers it
gives must be those of the whole files, whatever their layout or size."""
import os

import pytest

from carbon_magic.attribution import ProcFS, ProcUnavailable
from fakes import FakeProc

KERNEL, CHILD, GRANDCHILD, OTHER = 100, 101, 102, 200


@pytest.mark.parametrize("cpus", [1, 2, 7, 64])
def test_the_cpu_count_follows_proc_stat_at_every_read(tmp_path, cpus):
    p = FakeProc(tmp_path / "proc", cpus=cpus)
    p.add_process(KERNEL, 1)
    fs = ProcFS(p.root, pid=KERNEL)
    p.set_machine(12.5)
    assert fs.machine() == (pytest.approx(12.5), cpus)
    p.cpus = cpus + 3  # CPUs brought online: the next read sees them
    p.set_machine(20.0)
    assert fs.machine() == (pytest.approx(20.0), cpus + 3)


def test_a_proc_stat_without_the_sum_first_is_still_read_line_by_line(tmp_path):
    root = tmp_path / "proc"
    root.mkdir()
    (root / "stat").write_text("intr 0\ncpu0 10 0 0 5\ncpu  300 20 80 9 0 0 0 0 0 0\ncpu1 290 20 80 4\nctxt 1\n")
    assert ProcFS(root, pid=1, clk_tck=100).machine() == (pytest.approx(4.0), 2)


@pytest.mark.parametrize("text, problem", [
    ("cpu  x y z\ncpu0 1 2 3\n", "no readable cpu line"),
    ("cpu  1\n", "no readable cpu line"),
    ("intr 0\nctxt 0\n", "no cpu line"),
])
def test_an_unreadable_proc_stat_says_why(tmp_path, text, problem):
    root = tmp_path / "proc"
    root.mkdir()
    (root / "stat").write_text(text)
    with pytest.raises(ProcUnavailable, match=problem):
        ProcFS(root, pid=1).machine()


def test_proc_stat_missing_says_so(tmp_path):
    with pytest.raises(ProcUnavailable, match="cannot read"):
        ProcFS(tmp_path / "nothing", pid=1).machine()


def test_files_longer_than_one_read_are_read_whole(tmp_path):
    """A children file of 12,000 PIDs (> 64 KiB) and a /proc/stat of 4,096 CPUs."""
    p = FakeProc(tmp_path / "proc", cpus=4096)
    p.add_process(KERNEL, 1, cpu_s=1.0)
    kids = list(range(100_000, 112_000))
    children = p.root / str(KERNEL) / "task" / str(KERNEL) / "children"
    children.write_text(" ".join(map(str, kids)) + " ")
    assert os.path.getsize(children) > 65536 and os.path.getsize(p.root / "stat") > 65536
    fs = ProcFS(p.root, pid=KERNEL)
    assert fs._children(KERNEL) == kids
    assert fs.machine()[1] == 4096


def test_a_tree_that_changes_between_edges_is_seen_at_the_end_edge(tmp_path, clock):
    """Cell edges always walk the tree: a child started (and one that started its own) right
    after the begin edge is in the end edge's tree and time, even within TREE_EVERY_S."""
    p = FakeProc(tmp_path / "proc")
    p.add_process(KERNEL, 1, cpu_s=1.0)
    p.add_process(OTHER, 1, cpu_s=5.0)
    fs = ProcFS(p.root, pid=KERNEL, clock=clock)
    begin = fs.read()
    assert begin.pids == {KERNEL} and begin.tree_s == pytest.approx(1.0)
    clock.advance(0.01)
    p.add_process(CHILD, KERNEL, cpu_s=0.5)
    p.add_process(GRANDCHILD, CHILD, cpu_s=0.25)
    end = fs.read()  # fresh, as at a cell edge
    assert end.pids == {KERNEL, CHILD, GRANDCHILD} and end.tree_s == pytest.approx(1.75)
    clock.advance(0.01)
    p.reap(GRANDCHILD)  # its time moves into CHILD's cutime: the sum stays
    assert fs.read().pids == {KERNEL, CHILD} and fs.read().tree_s == pytest.approx(1.75)


def test_a_tick_reuses_a_recent_walk_but_an_edge_does_not(tmp_path, clock):
    p = FakeProc(tmp_path / "proc")
    p.add_process(KERNEL, 1, cpu_s=1.0)
    fs = ProcFS(p.root, pid=KERNEL, clock=clock)
    fs.read()
    p.add_process(CHILD, KERNEL, cpu_s=0.5)
    clock.advance(0.1)
    assert fs.read(fresh=False).pids == {KERNEL}  # a sampler tick within TREE_EVERY_S
    assert fs.read().pids == {KERNEL, CHILD}


def test_process_times_parse_a_comm_with_spaces_and_parens(tmp_path):
    p = FakeProc(tmp_path / "proc")
    p.add_process(KERNEL, 1, cpu_s=2.0, children_cpu_s=0.5)  # comm is "py (kernel)"
    fs = ProcFS(p.root, pid=KERNEL)
    assert fs.process_cpu_s(KERNEL) == pytest.approx(2.5)
    assert fs.process_cpu_s(999) is None
    assert fs.own_cpu_by_process() == {(KERNEL, "1000"): pytest.approx(2.0)}


def test_the_real_proc_of_this_process(tmp_path):
    if not os.path.exists("/proc/self/task"):
        pytest.skip("no /proc here")
    fs = ProcFS()
    t = fs.read()
    assert os.getpid() in t.pids and t.tree_s > 0 and t.cpus == len(
        [line for line in open("/proc/stat") if line.startswith("cpu") and not line.startswith("cpu ")])
