"""The magics through a real IPython InteractiveShell on a fake powercap tree."""
import ast
import subprocess
import sys
import textwrap
import time

import re

import pytest
from IPython.utils.capture import capture_output

from carbon_magic.extension import session_for
from carbon_magic.record import CellRecord
from conftest import run


def same_text(a, b):
    """Equal once the cell numbers (In[n], Out[n]) are set aside."""
    norm = lambda s: re.sub(r"(In|Out)\s*\[\d+\]", r"\1[n]", s)  # noqa: E731
    return norm(a) == norm(b)


def split_summary(stdout):
    """(the cell's own output, our summary) — the summary is the last two lines, starting with ⚡
    (a one-time `Hint:` line may follow it)."""
    i = stdout.rindex("⚡ ")
    return stdout[:i], "".join(ln for ln in stdout[i:].splitlines(True) if not ln.startswith("Hint:"))


def outputs(ip, code):
    with capture_output() as cap:
        r = run(ip, code)
    return r, cap


def test_cell_runs_unchanged_and_a_summary_follows(shell):
    plain, cap_plain = outputs(shell, "print('hi')\n40 + 2")
    n = shell.execution_count
    measured, cap = outputs(shell, "%%carbon -o rec\nprint('hi')\n40 + 2")
    assert measured.result == plain.result == 42
    assert shell.user_ns["Out"][n] == 42  # same Out[n] as the cell would have
    own, summary = split_summary(cap.stdout)
    assert same_text(own, cap_plain.stdout)
    assert len(summary.splitlines()) == 2 and "CO₂e" in summary and "g/kWh" in summary
    assert "cpu:package-0" in summary and "measured" in summary
    rec = shell.user_ns["rec"]
    assert isinstance(rec, CellRecord)
    assert rec.execution_count == n and rec.code_head == "print('hi')" and rec.status == "ok"


def test_exception_and_traceback_are_the_users(shell):
    code = "def f():\n    raise ValueError('bad input')\nf()"
    # The same cell with the %%carbon line as a comment: line numbers count the line the user sees.
    plain, cap_plain = outputs(shell, "# %%carbon -o rec\n" + code)
    measured, cap = outputs(shell, "%%carbon -o rec\n" + code)
    assert type(measured.error_in_exec) is ValueError and str(measured.error_in_exec) == "bad input"
    assert shell.user_ns["rec"].status == "error"
    own, summary = split_summary(cap.stdout)
    assert "bad input" in own and "Traceback" in own
    assert same_text(own, cap_plain.stdout)  # the very same traceback, frame for frame
    assert "error" in summary


def test_keyboard_interrupt_interrupts_and_is_recorded(shell):
    r, _ = outputs(shell, "%%carbon -o rec\nraise KeyboardInterrupt")
    assert isinstance(r.error_in_exec, KeyboardInterrupt)
    assert shell.user_ns["rec"].status == "interrupted"
    assert session_for(shell).ledger.records()[-1].status == "interrupted"


@pytest.mark.parametrize("line, words", [
    ("%%carbon --bogus", "unrecognized arguments: --bogus"),
    ("%%carbon --zone 'not a zone!'", "unknown zone"),
    ("%%carbon -o 1x", "Python variable name"),
])
def test_bad_options_are_one_line_usage_errors_and_the_cell_does_not_run(shell, line, words):
    shell.user_ns.pop("ran", None)
    r, cap = outputs(shell, line + "\nran = True")
    err = r.error_in_exec or r.error_before_exec
    assert type(err).__name__ == "UsageError" and words in str(err)
    assert "\n" not in str(err).strip(), str(err)
    assert "ran" not in shell.user_ns


def test_quoted_label_and_quiet(shell):
    r, cap = outputs(shell, '%%carbon --label "two words" --quiet -o rec\nx = 1')
    assert shell.user_ns["rec"].label == "two words"
    assert cap.stdout == ""


def test_auto_mode_counts_a_carbon_cell_once(shell):
    s = session_for(shell)
    run(shell, "%carbon auto on")
    before = len(s.records)
    outputs(shell, "a = 1")
    outputs(shell, "%%carbon --label once\nb = 2")
    outputs(shell, "%carbon status")
    run(shell, "%carbon auto off")
    outputs(shell, "c = 3")
    labels = [r.label for r in s.records[before:]]
    assert labels == [None, "once"]
    assert [r.code_head for r in s.records[before:]] == ["a = 1", "b = 2"]


def test_status_lists_sensors_skipped_fix_and_session_energy(shell, powercap):
    powercap.advance("intel-rapl:0", 3.0)
    with capture_output() as cap:
        shell.run_line_magic("carbon", "status")
    out = cap.stdout
    assert "cpu:package-0" in out and "counter" in out and "measured" in out
    assert "ram" in out and "estimated" in out
    assert "skipped:" in out and "gpu" in out
    assert "zone: not set" in out and "%carbon zone" in out
    assert "every 0.5 s" in out


def test_unknown_subcommand_is_a_usage_error(shell):
    r, _ = outputs(shell, "%carbon frobnicate")
    assert "unknown subcommand 'frobnicate'" in str(r.error_in_exec)
    r, _ = outputs(shell, "%carbon auto maybe")
    assert "'on' or 'off'" in str(r.error_in_exec)


def test_unload_removes_hooks_and_stops_the_sampler(env):
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "carbon_magic")
    s = session_for(ip)
    assert s.sampler.running
    ip.run_line_magic("unload_ext", "carbon_magic")
    assert not s.sampler.running
    assert session_for(ip) is None
    assert "carbon" not in ip.magics_manager.magics["cell"]
    r = run(ip, "%%carbon\n1")
    assert r.error_in_exec is not None or r.error_before_exec is not None
    ip.run_line_magic("load_ext", "carbon_magic")  # and back
    assert session_for(ip).sampler.running
    ip.run_line_magic("unload_ext", "carbon_magic")


def test_bad_environment_value_warns_naming_the_variable(env, monkeypatch):
    from IPython.core.interactiveshell import InteractiveShell

    monkeypatch.setenv("CARBON_MAGIC_PUE", "lots")
    ip = InteractiveShell.instance()
    with capture_output() as cap:
        ip.run_line_magic("load_ext", "carbon_magic")
    try:
        assert "CARBON_MAGIC_PUE='lots' is not a number; using 1.0" in cap.stderr
        assert session_for(ip).settings.pue == 1.0
    finally:
        ip.run_line_magic("unload_ext", "carbon_magic")


def test_two_processes_writing_one_ledger_lose_no_rows(tmp_path):
    script = textwrap.dedent(f"""
        import sys
        from carbon_magic.config import Settings
        from carbon_magic.ledger import Ledger
        from carbon_magic.session import CarbonSession
        from carbon_magic.sources import Discovery
        from carbon_magic.sources.estimators import RamEstimator
        s = CarbonSession(Settings.from_env({{}}), discovery=Discovery([RamEstimator(10**9)]),
                          ledger=Ledger({str(tmp_path / 'shared.db')!r}), cuda_sync=lambda: []).start(thread=False)
        for i in range(150):
            s.end(s.begin(label=sys.argv[1] + str(i)))
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script, name], stderr=subprocess.PIPE, text=True)
             for name in ("a", "b")]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    from carbon_magic.ledger import Ledger

    labels = [r.label for r in Ledger(tmp_path / "shared.db").records()]
    assert sorted(labels) == sorted([f"a{i}" for i in range(150)] + [f"b{i}" for i in range(150)])


def test_measure_context_manager_in_a_script(tmp_path, powercap):
    from carbon_magic import measure
    from carbon_magic.config import Settings
    from carbon_magic.ledger import Ledger
    from carbon_magic.session import CarbonSession
    from carbon_magic.sources import discover

    powercap.add_zone("intel-rapl:0", "package-0")
    s = CarbonSession(Settings.from_env({"CARBON_MAGIC_SCOPE": "machine"}), discovery=discover(powercap.root, nvml=None),
                      ledger=Ledger(tmp_path / "l.db")).start(thread=False)
    with measure(label="train", session=s) as m:
        powercap.advance("intel-rapl:0", 12.0)
        time.sleep(0.01)  # longer than RAPL's 1 ms update: shorter blocks are last power × duration
    assert m.record.label == "train" and m.record.status == "ok"
    assert {c.name: c.energy_j for c in m.record.components}["cpu:package-0"] == pytest.approx(12.0)
    with pytest.raises(ZeroDivisionError):
        with measure(label="oops", session=s) as m2:
            1 / 0  # noqa: B018 - the measured block raises
    assert m2.record.status == "error"
    assert [r.label for r in s.ledger.records()] == ["train", "oops"]


def imported_by_loading(names, cells=("%%carbon\nx = 1",)) -> list[str]:
    """Which of `names` a fresh process imports for `%load_ext carbon_magic` and `cells` (not before)."""
    code = ("import sys\nfrom IPython.core.interactiveshell import InteractiveShell\n"
            "ip = InteractiveShell.instance()\nip.run_cell('x = 1')\n"
            f"names = {tuple(names)!r}\nbefore = {{m for m in names if m in sys.modules}}\n"
            "ip.run_line_magic('load_ext', 'carbon_magic')\n"
            + "".join(f"ip.run_cell({c!r})\n" for c in cells)
            + "print(sorted(m for m in names if m in sys.modules and m not in before))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return ast.literal_eval(out.stdout.strip().splitlines()[-1])


def test_loading_the_extension_does_not_import_the_widget_or_http_stack(env):
    assert imported_by_loading(("bqplot", "ipywidgets", "requests", "pandas", "numpy")) == []


def test_loading_the_extension_imports_no_asyncio_difflib_or_html(env):
    """asyncio is some 40 modules (ssl, subprocess, concurrent.futures): loading and measuring a
    cell must not bring it in where the user's code did not (nor difflib, nor html)."""
    assert imported_by_loading(("asyncio", "difflib", "html"), cells=("%%carbon\nx = 1", "%%carbon -o r\nr = 2")) == []


def test_asyncio_cancelled_error_is_an_interrupt_and_is_recorded(shell):
    r, _ = outputs(shell, "%%carbon -o rec\nimport asyncio\nraise asyncio.CancelledError()")
    assert type(r.error_in_exec).__name__ == "CancelledError"
    assert shell.user_ns["rec"].status == "interrupted"
    assert session_for(shell).ledger.records()[-1].status == "interrupted"


def test_carbon_nested_under_another_cell_magic_still_measures(shell):
    s = session_for(shell)
    before = len(s.records)
    r, cap = outputs(shell, "%%capture captured\n%%carbon --label nested\nz = 5")
    assert r.error_in_exec is None and shell.user_ns["z"] == 5
    assert [x.label for x in s.records[before:]] == ["nested"]
    assert "⚡" in shell.user_ns["captured"].stdout


def test_ipython_config_sets_pue(shell):
    shell.run_line_magic("config", "CarbonMagics.pue = 1.2")
    r, _ = outputs(shell, "%%carbon -o rec\nx = 1")
    assert shell.user_ns["rec"].pue == 1.2
    shell.run_line_magic("config", "CarbonMagics.pue = 1.0")


def test_help_shows_the_magic_as_users_type_it(shell):
    doc = shell.find_cell_magic("carbon").__doc__
    assert "%%carbon [--label LABEL] [--zone ZONE] [--per N UNIT] [--live]" in doc
    assert "measured (hardware counter" in doc


def test_ipython_config_sets_the_zone(shell):
    shell.run_line_magic("config", 'CarbonMagics.zone = "fr"')
    try:
        s = session_for(shell)
        assert s.settings.zone == s.intensity.zone == "FR"
        r, _ = outputs(shell, "%%carbon -o rec\nx = 1")
        assert shell.user_ns["rec"].intensity["zone"] == "FR"
    finally:  # the shell's config outlives this test's session
        shell.run_line_magic("config", "CarbonMagics.zone = None")


def test_carbon_nested_under_another_magic_in_auto_mode_is_counted_once(shell):
    s = session_for(shell)
    run(shell, "%carbon auto on")
    try:
        before = len(s.records)
        r, _ = outputs(shell, "%%capture captured\n%%carbon --label nested -o rec\nz = 6")
        assert r.error_in_exec is None and shell.user_ns["z"] == 6
        assert [x.label for x in s.records[before:]] == ["nested"]
        assert shell.user_ns["rec"] is s.records[-1]
    finally:
        run(shell, "%carbon auto off")
