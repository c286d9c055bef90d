"""The user's cell, unchanged, in every combination: bad `%%carbon` lines (one line, the cell does
not run, later cells work), `-o` names that would shadow Python or IPython, `{var}`/`$var` in the
header, `%%time`/`%%timeit`/`%%prun`/`%%capture` stacked with `%%carbon`, and an interrupted
`await` cell. All through a real IPython shell (and a real kernel for the interrupt)."""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from IPython.utils.capture import capture_output

from carbon_magic.extension import session_for
from conftest import run

ROOT = Path(__file__).resolve().parents[1]


def outputs(ip, code):
    with capture_output() as cap:
        r = run(ip, code)
    return r, cap


def without_timing(text):
    """Output with %%time's lines and cell numbers set aside (they differ run to run)."""
    text = re.sub(r"(In|Out)\s*\[\d+\]", r"\1[n]", text)
    return [ln for ln in text.splitlines() if not ln.startswith(("CPU times", "Wall time"))]


def split_summary(stdout):
    i = stdout.rindex("⚡ ")
    return stdout[:i], stdout[i:]


# -- bad header lines ----------------------------------------------------------------------
@pytest.mark.parametrize("line, words", [
    ('%%carbon --label "abc', "No closing quotation"),
    ("%%carbon --label 'abc", "No closing quotation"),
    ('%%carbon -l "two words', "No closing quotation"),
    ("%%carbon --label", "expected one argument"),
    ("%%carbon --bogus", "unrecognized arguments"),
    ("%%carbon -h", "unrecognized arguments"),
    ("%%carbon extra words", "unrecognized arguments"),
    ("%%carbon --x\x1b[2J\x00", "unrecognized arguments"),
])
def test_bad_header_is_one_line_and_the_next_cell_works(shell, line, words):
    shell.user_ns.pop("ran", None)
    s = session_for(shell)
    before = len(s.records)
    r, cap = outputs(shell, line + "\nran = True")
    err = r.error_in_exec or r.error_before_exec
    assert type(err).__name__ == "UsageError" and words in str(err)
    assert str(err).isprintable() and "Accepted: %%carbon [--label NAME]" in str(err)
    printed = (cap.stdout + cap.stderr).strip()
    assert printed.count("\n") == 0 and "Traceback" not in printed and printed.startswith("UsageError")
    assert "ran" not in shell.user_ns and len(s.records) == before  # nothing ran, nothing recorded
    r, cap = outputs(shell, '%%carbon --label "ok now" -o rec\n6 * 7')
    assert r.result == 42 and shell.user_ns["rec"].label == "ok now"


@pytest.mark.parametrize("name, why", [
    ("print", "builtin"), ("len", "builtin"), ("open", "builtin"), ("None", "keyword"), ("class", "keyword"),
    ("get_ipython", "IPython"), ("exit", "IPython"), ("quit", "IPython"), ("In", "IPython"), ("Out", "IPython"),
    ("_", "IPython"), ("__", "IPython"), ("___", "IPython"), ("_i", "IPython"), ("_ii", "IPython"),
    ("_iii", "IPython"), ("_oh", "IPython"), ("_ih", "IPython"), ("_dh", "IPython"), ("_i7", "IPython"),
    ("_12", "IPython"), ("__builtins__", "dunder"), ("__name__", "dunder"), ("1x", "variable name"),
])
def test_output_names_that_shadow_python_or_ipython_are_refused(shell, name, why):
    shell.user_ns.pop("ran", None)
    before = shell.user_ns.get(name, "absent")
    r, cap = outputs(shell, f"%%carbon -o {name}\nran = True")
    err = r.error_in_exec or r.error_before_exec
    assert type(err).__name__ == "UsageError" and why in str(err) and "\n" not in str(err)
    assert "ran" not in shell.user_ns
    after = shell.user_ns.get(name, "absent")
    assert after is before or type(after).__name__ != "CellRecord"  # _i… move on with the history
    r, _ = outputs(shell, "print('still works'); get_ipython() is not None")
    assert r.error_in_exec is None and r.result is True


def test_ordinary_output_names_still_work(shell):
    for name in ("rec", "match", "case", "record_1", "_rec", "type_"):
        outputs(shell, f"%%carbon -o {name}\nx = 1")
        assert type(shell.user_ns[name]).__name__ == "CellRecord"


# -- {var} and $var in the header ------------------------------------------------------------
@pytest.mark.parametrize("header", ["%%carbon --label {name} -o rec", "%%carbon --label $name -o rec",
                                    "%%carbon --label {name.upper()} -o rec"])
def test_header_variables_expand_at_top_level_as_under_another_magic(shell, header):
    shell.user_ns["name"] = "run-7"
    want = "RUN-7" if "upper" in header else "run-7"
    outputs(shell, header + "\nx = 1")
    top = shell.user_ns["rec"].label
    outputs(shell, "%%capture captured\n" + header + "\nx = 1")
    nested = shell.user_ns["rec"].label
    run(shell, "%carbon auto on")
    try:
        outputs(shell, header + "\nx = 1")
        auto = shell.user_ns["rec"].label
    finally:
        run(shell, "%carbon auto off")
    assert top == nested == auto == want


def test_header_variables_reach_every_option(shell):
    shell.user_ns.update(z="fr", var="rec2")
    outputs(shell, "%%carbon --zone $z -o {var}\nx = 1")
    assert shell.user_ns["rec2"].intensity["zone"] == "FR"
    shell.user_ns.pop("undefined_name", None)
    outputs(shell, "%%carbon --label {undefined_name} -o rec\nx = 1")  # as IPython: left as typed
    assert shell.user_ns["rec"].label == "{undefined_name}"


# -- stacked cell magics ---------------------------------------------------------------------
BODY = "print('before')\nside = [1, 2]\nside.append(3)\nside"


def test_time_over_carbon_shows_what_time_alone_shows_plus_the_summary(shell):
    s = session_for(shell)
    plain, cap_plain = outputs(shell, "%%time\n" + BODY)
    plain_side = shell.user_ns.pop("side")
    before = len(s.records)
    measured, cap = outputs(shell, "%%time\n%%carbon -o rec\n" + BODY)
    assert measured.result == plain.result == [1, 2, 3]
    assert shell.user_ns["side"] == plain_side
    own, summary = split_summary(cap.stdout)
    assert without_timing(own) == without_timing(cap_plain.stdout)  # 'before', times, then Out
    assert "Out[n]: [1, 2, 3]" in without_timing(own)
    assert "CO₂e" in summary and len(s.records) == before + 1
    assert shell.user_ns["rec"].status == "ok"


def test_timeit_over_carbon_times_the_body_and_measures_once(shell):
    s = session_for(shell)
    shell.user_ns["calls"] = []
    before = len(s.records)
    r, cap = outputs(shell, "%%timeit -n 3 -r 2\n%%carbon -o rec\ncalls.append(1)\n5")
    assert r.error_in_exec is None
    assert len(shell.user_ns["calls"]) == 6  # the body, 3 loops x 2 runs, nothing else
    assert "Out" not in cap.stdout and cap.stdout.count("⚡") == 1 and "per loop" in cap.stdout
    assert len(s.records) == before + 1  # one window around the whole %%timeit
    assert shell.user_ns["rec"] is s.records[-1]


def test_prun_over_carbon_measures_once(shell):
    s = session_for(shell)
    before = len(s.records)
    r, cap = outputs(shell, "%%prun -q\n%%carbon --label p\nx = sum(range(10))")
    assert r.error_in_exec is None and shell.user_ns["x"] == 45
    assert [x.label for x in s.records[before:]] == ["p"]


def test_capture_over_carbon_keeps_the_cell_and_its_output(shell):
    plain, _ = outputs(shell, "%%capture c1\n" + BODY)
    measured, cap = outputs(shell, "%%capture c2\n%%carbon -o rec\n" + BODY)
    assert measured.result is plain.result is None
    c1, c2 = shell.user_ns["c1"], shell.user_ns["c2"]
    assert c2.stdout.startswith(c1.stdout)  # the body's own output, then our summary
    assert [o.data for o in c2.outputs] == [o.data for o in c1.outputs]  # the same Out value
    assert cap.stdout == ""


def test_carbon_over_time_keeps_working(shell):
    plain, cap_plain = outputs(shell, "%%time\n" + BODY)
    measured, cap = outputs(shell, "%%carbon -o rec\n%%time\n" + BODY)
    assert measured.result == plain.result
    own, summary = split_summary(cap.stdout)
    assert without_timing(own) == without_timing(cap_plain.stdout)
    assert shell.user_ns["rec"].status == "ok" and shell.user_ns["rec"].code_head == "%%time"


def test_bad_carbon_line_under_time_is_a_usage_error(shell):
    shell.user_ns.pop("ran", None)
    r, cap = outputs(shell, '%%time\n%%carbon --label "x\nran = True')
    err = r.error_in_exec or r.error_before_exec
    assert type(err).__name__ == "UsageError" and "No closing quotation" in str(err)
    assert "ran" not in shell.user_ns


# -- an interrupted await cell, in a real kernel -----------------------------------------------
def test_interrupted_await_cell_is_recorded_as_interrupted(tmp_path, powercap):
    pytest.importorskip("ipykernel")
    from jupyter_client.manager import start_new_kernel

    powercap.add_zone("intel-rapl:0", "package-0", 1_000_000)
    env = {**os.environ, "CARBON_MAGIC_POWERCAP_ROOT": str(powercap.root),
           "CARBON_MAGIC_DATA_DIR": str(tmp_path / "data"), "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": str(ROOT)}
    for var in ("CARBON_MAGIC_ZONE", "ELECTRICITYMAPS_API_TOKEN", "CARBON_MAGIC_PROVIDER"):
        env.pop(var, None)
    km, kc = start_new_kernel(kernel_name="python3", env=env, cwd=str(tmp_path))
    try:
        assert kc.execute_interactive("%load_ext carbon_magic", timeout=30)["content"]["status"] == "ok"
        kc.execute_interactive("import asyncio", timeout=30)
        # The loop wakes every 0.1 s, so the stop button's cancel lands at once (a single long
        # sleep would only be cancelled when it ends).
        # stop_on_error=False: else ipykernel may abort the next request (status "aborted", no
        # output) when it arrives while the interrupted one is being wound up.
        msg_id = kc.execute("%%carbon -o rec\nfor _ in range(200):\n    await asyncio.sleep(0.1)",
                            stop_on_error=False)
        time.sleep(1.5)
        km.interrupt_kernel()
        reply = kc.get_shell_msg(timeout=30)
        assert reply["parent_header"]["msg_id"] == msg_id and reply["content"]["status"] == "error"
        got = []
        kc.execute_interactive("print(rec.status)", timeout=30,
                               output_hook=lambda m: got.append(m["content"].get("text", "")))
        assert "".join(got).split() == ["interrupted"]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_stacked_magics_in_auto_mode_are_one_record_with_the_carbon_options(shell):
    s = session_for(shell)
    run(shell, "%carbon auto on")
    try:
        before = len(s.records)
        r, cap = outputs(shell, "%%timeit -n 2 -r 1\n%%carbon --label stacked\nx = 1")
        r2, _ = outputs(shell, "%%time\n%%carbon --label timed\n7")
        assert r.error_in_exec is None and r2.result == 7
        assert [x.label for x in s.records[before:]] == ["stacked", "timed"]
    finally:
        run(shell, "%carbon auto off")
