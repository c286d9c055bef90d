"""`%carbon live` and `%%carbon --live` in a real IPython shell: text where widgets cannot render,
the widget where a kernel is present (faked: a kernel attribute and a recording comm), auto mode,
%unload_ext/%load_ext, interrupts, and no widget import at load time."""
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from IPython.core.error import UsageError

from carbon_magic.extension import session_for
from carbon_magic.live import updater as live_updater
from conftest import run
from live_helpers import install_recording_comm

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def kernel_shell(shell, monkeypatch):
    """The shell as if it ran in a kernel (widgets can render); widget messages are recorded."""
    monkeypatch.setattr(shell, "kernel", object(), raising=False)
    return shell, install_recording_comm(monkeypatch)


def test_loading_the_extension_imports_no_widget_library(env, tmp_path):
    code = (
        "import sys\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "ip = InteractiveShell.instance()\n"
        "ip.run_line_magic('load_ext', 'carbon_magic')\n"
        "ip.run_cell('%%carbon\\nx = 1')\n"
        "ip.run_line_magic('carbon', 'live')\n"
        "print('IMPORTED', 'bqplot' in sys.modules, 'ipywidgets' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "IMPORTED False False" in out.stdout
    assert "carbon_magic live:" in out.stdout  # a terminal shell gets the text snapshot


def test_terminal_shell_gets_a_text_line(shell, capsys):
    assert run(shell, "%carbon live").success
    out = capsys.readouterr().out
    assert out.startswith("carbon_magic live: ") and " W now (" in out and "g/kWh (world average, static)" in out
    assert "cpu:package-0" in out and "measured" in out
    r = run(shell, "%%carbon --live\nprint('body')\nz = 3")
    assert r.success and shell.user_ns["z"] == 3
    out = capsys.readouterr().out
    assert out.index("carbon_magic live: ") < out.index("body") < out.index("⚡")


def test_bad_arguments_are_a_usage_error(shell):
    r = run(shell, "%carbon live now")
    assert isinstance(r.error_in_exec, UsageError)
    assert "takes no arguments" in str(r.error_in_exec)


def test_without_bqplot_it_degrades_to_text(kernel_shell, monkeypatch, capsys):
    shell, comms = kernel_shell
    monkeypatch.setitem(sys.modules, "bqplot", None)
    assert run(shell, "%carbon live").success
    assert "carbon_magic live: " in capsys.readouterr().out
    assert comms == []


def test_widget_is_displayed_and_marks_auto_mode_cells(kernel_shell, capsys):
    shell, comms = kernel_shell
    assert run(shell, "%carbon live").success
    out = capsys.readouterr().out
    assert "carbon_magic live: " in out  # the text/plain part of the displayed bundle
    session = session_for(shell)
    updater = live_updater.updater_for(session)
    assert updater.attached and len(updater.views) == 1 and comms
    run(shell, "%carbon auto on")
    r = run(shell, "y = sum(range(1000))")
    updater.update()
    assert f"[{r.execution_count}]" in list(updater.views[0].cell_labels.text)
    assert run(shell, "%carbon live").success  # a second copy: same updater, same widgets
    assert live_updater.updater_for(session) is updater and len(updater.views) == 1
    run(shell, "%carbon auto off")


def test_live_cell_shows_the_widget_above_its_output_and_marks_itself_running(kernel_shell, capsys):
    shell, comms = kernel_shell
    r = run(shell, '%%carbon --live --label "<i>fit</i>"\n'
                   "from carbon_magic.extension import session_for\n"
                   "from carbon_magic.live.updater import updater_for\n"
                   "u = updater_for(session_for(get_ipython()))\n"
                   "u.update()\n"
                   "running = list(u.views[-1].cell_labels.text)\n"
                   "print('body')")
    assert r.success
    out = capsys.readouterr().out
    assert out.index("carbon_magic live: ") < out.index("body")
    assert shell.user_ns["running"][-1] == "<i>fit</i>"
    u = shell.user_ns["u"]
    u.update()
    assert len(u.views[-1].cell_lines.x) == 2  # after the cell: its start and its end


def test_survives_unload_and_load(kernel_shell):
    shell, comms = kernel_shell
    run(shell, "%carbon live")
    old_session = session_for(shell)
    old = live_updater.updater_for(old_session)
    shell.run_line_magic("unload_ext", "carbon_magic")
    assert not old.attached
    assert "stopped: carbon_magic was unloaded" in old.views[0].readout.value
    assert all(lst.fn != old._on_sample for lst in old_session.sampler._listeners)
    assert old_session not in live_updater._UPDATERS
    shell.run_line_magic("load_ext", "carbon_magic")
    assert run(shell, "%carbon live").success
    new = live_updater.updater_for(session_for(shell))
    assert new is not old and new.attached and new.session is session_for(shell)


def test_keeps_updating_after_an_interrupted_cell(kernel_shell):
    shell, comms = kernel_shell
    r = run(shell, "%%carbon --live -o rec\nraise KeyboardInterrupt")
    assert shell.user_ns["rec"].status == "interrupted"
    updater = live_updater.updater_for(session_for(shell))
    assert updater.attached
    before = updater.updates
    deadline = time.monotonic() + 5
    while updater.updates == before and time.monotonic() < deadline:
        time.sleep(0.05)  # the sampler thread updates about once a second
    assert updater.updates > before
    updater.update()
    assert f"[{r.execution_count}]" in list(updater.views[0].cell_labels.text)
