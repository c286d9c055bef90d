"""`%carbon live` and `%%carbon --live` in a real IPython shell: text where widgets cannot render,
the widget where a kernel is present (faked: a kernel attribute and a recording comm), auto mode,
%unload_ext/%load_ext, interrupts, and no widget import at load time."""
import html
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from IPython.core.error import UsageError

from carbon_magic.extension import session_for
from carbon_magic.live import updater as live_updater
from carbon_magic.units import fmt_mass_g
from conftest import run
from live_helpers import install_recording_comm, last_state, opened, updates_by_widget

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
    assert f"[{r.execution_count}]" in list(updater.views[0].session.cell_labels.text)
    assert run(shell, "%carbon live").success  # a second copy: same updater, same widgets
    assert live_updater.updater_for(session) is updater and len(updater.views) == 1
    run(shell, "%carbon auto off")


def test_live_cell_shows_the_widget_above_its_output_and_marks_itself_running(kernel_shell, capsys):
    shell, comms = kernel_shell
    start = len(comms)
    r = run(shell, '%%carbon --live --label "<i>fit</i>"\nprint("body")')
    assert r.success
    out = capsys.readouterr().out
    assert out.index("carbon_magic live: ") < out.index("body")
    widgets = opened(comms, start)
    labels = next(c for c, name in widgets.items() if name == "LabelModel")
    lines = [c for c, name in widgets.items() if name == "LinesModel"]
    assert list(last_state(comms, labels, "text")) == ["<i>fit</i>"]  # the cell's own mark, nothing else
    assert any(tuple(last_state(comms, c, "x")["shape"]) == (2, 2) for c in lines)  # its start and end


def test_live_cell_freezes_on_its_record_and_the_session_view_goes_on(kernel_shell, capsys):
    """Seventy minutes after a 4 s cell its view read the idle kernel's 15.3 Wh: a cell's view
    stops with the cell and shows the cell's numbers; `%carbon live` keeps following."""
    shell, comms = kernel_shell
    assert run(shell, "%carbon live").success
    session_lines = [c for c, name in opened(comms).items() if name == "LinesModel"]
    start = len(comms)
    r = run(shell, "%%carbon --live -o rec\nimport time\ntime.sleep(1.6)\nprint('body')")
    assert r.success
    rec = shell.user_ns["rec"]
    cell = opened(comms, start)
    cell_lines = [c for c, name in cell.items() if name == "LinesModel"]
    readout = _readout(comms, cell)
    assert updates_by_widget(comms, start).keys() & set(cell_lines)  # it followed the running cell
    final = last_state(comms, readout, "value")
    assert "final:" in final and "(cell ended)" in final
    assert html.escape(rec.energy_text()) in final and html.escape(fmt_mass_g(rec.emissions_g)) in final
    out = capsys.readouterr().out  # the text fallback (nbconvert, no widget manager) is final too
    assert f"carbon_magic live: final: {rec.energy_text()} · {fmt_mass_g(rec.emissions_g)} CO₂e" in out

    # More samples arrive: the session's view updates, the cell's view never again.
    ended = len(comms)
    deadline = time.monotonic() + 8
    while (sum(updates_by_widget(comms, ended).get(c, 0) for c in session_lines) < 4
           and time.monotonic() < deadline):
        time.sleep(0.05)
    after = updates_by_widget(comms, ended)
    assert sum(after.get(c, 0) for c in session_lines) >= 4
    assert not after.keys() & set(cell), after


def _readout(comms, widgets: dict) -> str:
    """The comm id of the view's readout: its HTML widget that is not the legend."""
    return next(c for c, name in widgets.items()
                if name == "HTMLModel" and "cm-live-legend" not in (last_state(comms, c, "value") or ""))


def test_survives_unload_and_load(kernel_shell):
    shell, comms = kernel_shell
    run(shell, "%carbon live")
    old_session = session_for(shell)
    old = live_updater.updater_for(old_session)
    shell.run_line_magic("unload_ext", "carbon_magic")
    assert not old.attached
    assert "stopped: carbon_magic was unloaded" in old.views[0].readout.value
    start = len(comms)
    old_session.sampler.tick()  # a tick of the unloaded session's sampler reaches no old widget
    old_ids = {w.model_id for v in old.views for w in (*[p.measured for p in v.panels], v.readout)}
    assert not updates_by_widget(comms, start).keys() & old_ids
    shell.run_line_magic("load_ext", "carbon_magic")
    assert run(shell, "%carbon live").success
    new = live_updater.updater_for(session_for(shell))
    assert new is not old and new.attached and new.session is session_for(shell)


def test_after_an_interrupted_live_cell_the_session_view_keeps_updating(kernel_shell):
    shell, comms = kernel_shell
    run(shell, "%carbon live")
    start = len(comms)
    r = run(shell, "%%carbon --live -o rec\nraise KeyboardInterrupt")
    assert shell.user_ns["rec"].status == "interrupted"
    readout = _readout(comms, opened(comms, start))
    assert "(cell interrupted)" in last_state(comms, readout, "value")
    updater = live_updater.updater_for(session_for(shell))
    assert updater.attached
    before = updater.updates
    deadline = time.monotonic() + 5
    while updater.updates == before and time.monotonic() < deadline:
        time.sleep(0.05)  # the sampler thread updates about once a second
    assert updater.updates > before
    updater.update()
    assert f"[{r.execution_count}]" in list(updater.views[0].session.cell_labels.text)
