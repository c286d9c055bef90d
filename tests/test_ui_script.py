"""labextension/run_ui_tests.sh says what it installs and why, and needs no root when told where a
browser is. Run with stand-ins for the commands it calls (a fake PATH); nothing is installed."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "labextension" / "run_ui_tests.sh"


def fake_bin(tmp_path: Path, uid: int) -> Path:
    """jupyter and python that succeed, `id -u` that says uid, apt-get that records being called."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    scripts = {
        "jupyter": "exit 0",
        "python": "exit 0",
        "id": f'[ "$1" = -u ] && echo {uid}',
        "apt-get": f'echo "$@" >> {tmp_path / "apt-get.calls"}; [ "$1" = update ]',  # install fails
    }
    for name, body in scripts.items():
        p = bin_dir / name
        p.write_text(f"#!/bin/sh\n{body}\n")
        p.chmod(0o755)
    return bin_dir


def run_script(tmp_path: Path, uid: int):
    env = {**os.environ, "PATH": f"{fake_bin(tmp_path, uid)}:/usr/bin:/bin",
           "CHROMIUM_PATH": str(tmp_path / "no-chromium")}
    env.pop("VENV", None)
    return subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=30)


def test_without_root_and_without_a_browser_it_says_how_and_installs_nothing(tmp_path):
    out = run_script(tmp_path, uid=1000)
    assert out.returncode == 2
    assert not (tmp_path / "apt-get.calls").exists()
    (line,) = out.stderr.strip().splitlines()
    assert "CHROMIUM_PATH" in line and "no root needed" in line and "apt-get install chromium" in line


def test_as_root_it_says_what_it_installs_before_apt_get(tmp_path):
    out = run_script(tmp_path, uid=0)
    assert out.returncode != 0  # the stand-in apt-get fails; nothing was installed
    assert "install -y -qq chromium" in (tmp_path / "apt-get.calls").read_text()
    assert "Debian's chromium with apt-get" in out.stderr and "290 MB" in out.stderr


@pytest.mark.parametrize("doc", ["README.md", "labextension/README.md"])
def test_the_readmes_say_what_needs_root_and_how_to_do_without(doc):
    text = " ".join((ROOT / doc).read_text(encoding="utf-8").split())
    assert "CHROMIUM_PATH" in text and "apt-get" in text and "root" in text
