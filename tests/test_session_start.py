"""A session is built without touching anything; `start()` sets up measuring (issue #15).

Building a CarbonSession keeps its settings and collaborators and nothing else: no file, sysfs,
NVML, network or thread. Proof by the interpreter's own audit events (every open, listdir,
scandir, mkdir, SQLite connect, library load and socket), recorded in a fresh process while the
session is built, and by the files a start would make. `start()` (once) then discovers the fake
powercap tree, opens the ledger and measures; `begin()` starts a session not started yet, as
`%%carbon` and `measure()` would, and what only reads says clearly that the session is not started.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading

import pytest
from IPython.utils.capture import capture_output

from carbon_magic.config import Settings
from carbon_magic.extension import session_for
from carbon_magic.script import measure
from carbon_magic.session import CarbonSession
from conftest import run

WATCHED = ("open", "os.listdir", "os.scandir", "os.mkdir", "os.rmdir", "os.remove", "os.rename",
           "sqlite3.connect", "ctypes.dlopen", "socket.", "subprocess.Popen", "urllib.Request")

BUILD_THEN_START = textwrap.dedent("""
    import json, sys, threading
    from pathlib import Path
    from carbon_magic.config import Settings
    from carbon_magic.session import CarbonSession

    root, data = sys.argv[1], Path(sys.argv[2])
    watched = tuple(json.loads(sys.argv[3]))
    seen = []
    sys.addaudithook(lambda event, args: seen.append([event, str(args[0]) if args else ""])
                     if event.startswith(watched) else None)
    before = set(threading.enumerate())
    s = CarbonSession(Settings(data_dir=data, powercap_root=root, scope="machine"))
    print(json.dumps({"built": list(seen), "data_dir": data.exists(),
                      "threads": [t.name for t in threading.enumerate() if t not in before]}), flush=True)
    seen.clear()
    s.start(thread=False)
    assert s.ledger.flush(5)
    out = {"start": list(seen), "sensors": [src.name for src in s.sampler.sources]}
    w = s.begin()
    out["record"] = s.end(w, sync=False).session_id == s.session_id
    s.close()
    print(json.dumps(out))
""")


def hermetic_env() -> dict:
    """This process's environment without carbon_magic's settings or tokens, and no GPUs."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CARBON_MAGIC_", "ELECTRICITYMAPS_", "WATTTIME_"))}
    env["CUDA_VISIBLE_DEVICES"] = ""
    return env


@pytest.fixture
def rapl(powercap):
    powercap.add_zone("intel-rapl:0", "package-0", 1_000_000)
    return powercap


def unstarted(tmp_path, rapl) -> CarbonSession:
    return CarbonSession(Settings(data_dir=tmp_path / "data", powercap_root=str(rapl.root), scope="machine"))


def test_building_a_session_opens_nothing_and_start_then_measures(tmp_path, rapl):
    data = tmp_path / "data"
    done = subprocess.run([sys.executable, "-c", BUILD_THEN_START, str(rapl.root), str(data), json.dumps(WATCHED)],
                          capture_output=True, text=True, timeout=60, env=hermetic_env())
    lines = done.stdout.strip().splitlines()
    built = json.loads(lines[0])
    assert built == {"built": [], "data_dir": False, "threads": []}
    assert done.returncode == 0, done.stderr
    out = json.loads(lines[1])
    # start() does what the constructor did before: the same watch sees it.
    opened = [arg for event, arg in out["start"] if event == "open"]
    assert any(arg.startswith(str(rapl.root)) for arg in opened), out["start"]
    assert ["os.mkdir", str(data)] in out["start"]
    assert any(event == "sqlite3.connect" and arg.startswith(str(data)) for event, arg in out["start"])
    assert out["sensors"] and "cpu:package-0" in out["sensors"] and out["record"]


def test_a_session_never_used_touches_nothing_even_when_closed(tmp_path, rapl):
    threads = set(threading.enumerate())
    s = unstarted(tmp_path, rapl)
    assert not (tmp_path / "data").exists() and set(threading.enumerate()) <= threads
    assert not s.started and s.start_s is None
    assert s.drain_notices() == [] and s.drain_load_notices() == []
    s.close()  # a session never started: nothing to release
    s.close()
    assert not s.started and not (tmp_path / "data").exists()
    assert set(threading.enumerate()) <= threads


@pytest.mark.parametrize("use", ["totals", "describe", "sampler", "ledger", "cumulative_energy_j"])
def test_a_session_not_started_starts_on_first_use(tmp_path, rapl, use):
    """Code that builds a session and reads it, as before start() existed, gets a measuring session."""
    s = unstarted(tmp_path, rapl)
    try:
        value = getattr(s, use)
        value = value() if callable(value) else value
        assert s.started and value is not None and (tmp_path / "data").exists()
        assert s.sampler.sources and s.start_s is not None
    finally:
        s.close()


def test_a_data_dir_that_cannot_be_made_does_not_stop_building_and_start_keeps_records(tmp_path, rapl):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    s = CarbonSession(Settings(data_dir=blocker / "data", powercap_root=str(rapl.root), scope="machine"))
    assert blocker.read_text() == "not a folder"
    s.start(thread=False)
    try:
        assert s.ledger.wait_ready(5)
        assert any("is a file" in n for n in s.drain_notices())  # told once; records kept in memory
        w = s.begin()
        rec = s.end(w, sync=False)
        assert s.records == [rec] and s.ledger.mode == "memory"
    finally:
        s.close()


def test_start_is_done_once(tmp_path, rapl):
    s = unstarted(tmp_path, rapl)
    try:
        assert s.start(thread=False) is s
        sampler, ledger = s.sampler, s.ledger
        assert s.start() is s and s.sampler is sampler and s.ledger is ledger
        assert not sampler.running  # the second call changed nothing
        assert ledger.flush(5) and [d["session_id"] for d in ledger.sessions()] == [s.session_id]
        assert s.totals()["cells"] == 0 and s.describe()["sensors"]
    finally:
        s.close()


def test_measure_starts_a_session_that_is_not_started(tmp_path, rapl):
    s = unstarted(tmp_path, rapl)
    try:
        with measure(label="block", session=s) as m:
            rapl.advance("intel-rapl:0", 5.0)
        assert s.started and s.sampler.running  # as a session built and started in one step was
        assert m.record.label == "block" and s.records == [m.record]
        assert s.ledger.flush(5) and [r.label for r in s.ledger.records()] == ["block"]
    finally:
        s.close()
    assert not s.sampler.running


def test_loading_the_extension_starts_its_session_as_before(shell, rapl):
    s = session_for(shell)
    assert s.sampler.running
    with capture_output() as cap:
        shell.run_line_magic("carbon", "status")
    assert "cpu:package-0" in cap.stdout and "every 0.5 s" in cap.stdout
    with capture_output():
        r = run(shell, "%%carbon -o rec\nx = 6 * 7\nx")
    assert r.success and r.result == 42
    rec = shell.user_ns["rec"]
    assert rec.session_id == s.session_id and s.records[-1] is rec and rec.status == "ok"
    assert s.ledger.flush(5) and s.ledger.records(s.session_id)[-1].execution_count == rec.execution_count


def test_callers_from_before_start_still_get_a_started_session(tmp_path, rapl):
    """Code written before start() passed start_thread=…: it still gets a measuring session."""
    threads = set(threading.enumerate())
    s = CarbonSession(Settings(data_dir=tmp_path / "data", powercap_root=str(rapl.root), scope="machine"),
                      start_thread=False)
    try:
        assert s.started and set(threading.enumerate()) - threads <= {t for t in threading.enumerate()
                                                                      if t.name == "carbon_magic-ledger"}
        assert s.started_at is not None and s.started_at.endswith("Z")
        w = s.begin()
        assert s.end(w, sync=False).session_id == s.session_id and s.totals()
    finally:
        s.close()
