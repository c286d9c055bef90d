"""The live benchmark runs (quick mode) and prints its table; its numbers are not asserted here."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_live_quick_prints_its_table(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_live.py"), "--quick"],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert any(ln.startswith("| slowdown, wall time") and ln.rstrip().endswith("| ≤ 1 % |") for ln in lines)
    update = next(ln for ln in lines if ln.startswith("| one update after 24 h"))
    median, p95 = (float(v) for v in update.split("|")[2].replace("ms", "").split("/"))
    assert 0 < median <= p95  # measured numbers, whatever they are on this machine
    assert update.rstrip().endswith("| ≤ 2 ms |")
