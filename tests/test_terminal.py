"""The README's first example in a terminal IPython: `%%carbon` lines typed at the prompt.

The terminal asks IPython's completeness check on every Enter; the header transformer must leave
that check to treat `%%carbon` as the cell magic it is (more lines until a blank one). Tested
through `check_complete` and through real `ipython` sessions on a pseudo-terminal (pexpect).
"""
import re
import sys
from pathlib import Path

import pytest

from conftest import run

pytestmark = pytest.mark.slow  # real terminal sessions

pexpect = pytest.importorskip("pexpect")

ROOT = Path(__file__).resolve().parents[1]
ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07")


@pytest.mark.parametrize("cell, expected", [
    ("%%carbon\n", "incomplete"),
    ("%%carbon --label t\n", "incomplete"),
    ("%%carbon\nimport time\n", "incomplete"),  # a cell magic ends with a blank line
    ("%%carbon\nfor i in range(3):\n", "incomplete"),
    ("%%carbon\nimport time\n\n", "complete"),
    ("%%carbon --no-such-option\n", "incomplete"),  # the UsageError comes when it runs
])
def test_completeness_check_treats_carbon_as_a_cell_magic(shell, cell, expected):
    assert shell.check_complete(cell)[0] == expected


def test_completeness_check_is_unchanged_for_other_cells(shell):
    assert shell.check_complete("x = 1\n")[0] == "complete"
    assert shell.check_complete("for i in range(3):\n") == ("incomplete", "    ")
    assert shell.check_complete("%%time\nx = 1\n")[0] == "incomplete"


def test_header_alone_still_runs_and_is_measured(shell, capsys):
    assert run(shell, "%%carbon --label empty").success
    assert "⚡ [empty]" in capsys.readouterr().out


def _ipython(env, tmp_path, *args):
    child = pexpect.spawn(sys.executable, ["-m", "IPython", "--no-banner", "--colors=nocolor",
                                           "--HistoryManager.hist_file=:memory:", *args],
                          env={**env, "PYTHONPATH": str(ROOT), "TERM": "xterm"}, cwd=str(tmp_path),
                          encoding="utf-8", timeout=30, dimensions=(40, 200))
    child.expect(r"In \[1\]")
    return child


def _session(child) -> str:
    """Load the extension, type the README's first cell line by line, then use the shell again.

    Two blank lines end the cell, as they end `%%time` (or any cell magic) typed the same way.
    """
    out = []

    def expect(pattern):
        child.expect(pattern)
        out.append(child.before + (child.after if isinstance(child.after, str) else ""))

    child.sendline("%load_ext carbon_magic")
    expect(r"In \[2\]")
    for line in ("%%carbon --label t", "x = 6 * 7"):
        child.sendline(line)
        expect(r"\.\.\.:")  # a continuation prompt: the cell goes on
    child.sendline("")
    child.sendline("")
    expect("⚡ \\[t\\]")
    expect(r"In \[3\]")
    child.sendline("print(x + 1)")
    expect("43")
    child.sendline("exit")
    child.expect(pexpect.EOF)
    out.append(child.before)
    child.close()
    return ANSI.sub("", "".join(out))


def test_simple_prompt_session(env, tmp_path):
    text = _session(_ipython(env, tmp_path, "--simple-prompt"))
    assert "IndexError" not in text and "Traceback" not in text, text


def test_prompt_toolkit_session(env, tmp_path):
    text = _session(_ipython(env, tmp_path))
    assert "Unhandled exception" not in text and "IndexError" not in text, text
