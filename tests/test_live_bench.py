"""The live benchmark runs (quick mode) and prints its table; its numbers are not asserted here."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # runs a benchmark

ROOT = Path(__file__).resolve().parents[1]


def test_bench_live_quick_prints_its_table(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_live.py"), "--quick"],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    slowdown = [ln for ln in lines if ln.startswith("| slowdown, wall time")]
    assert len(slowdown) == 2
    assert all(re.fullmatch(r"[+-]\d+\.\d\d %( \([+-]\d+\.\d\d %\))?", ln.split("|")[2].strip()) for ln in slowdown)
    update = next(ln for ln in lines if ln.startswith("| one update after 24 h"))
    median, p95 = (float(v) for v in update.split("|")[2].replace("ms", "").split("/"))
    assert 0 < median <= p95  # measured numbers, whatever they are on this machine
    full = next(ln for ln in lines if ln.startswith("| one update, view open all day"))
    assert float(full.split("|")[2].replace("ms", "")) > 0
