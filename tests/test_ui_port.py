"""The browser tests' Jupyter server and Playwright agree on one port, chosen at start, so
`./dev.sh test` runs beside a `./dev.sh lab` that holds 8888 (the tests themselves need a browser:
labextension/run_ui_tests.sh)."""
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # starts a Jupyter server

ROOT = Path(__file__).resolve().parents[1]
UI = ROOT / "labextension" / "ui-tests"


def test_server_config_takes_the_port_and_does_not_wander():
    pytest.importorskip("jupyterlab.galata")
    code = ("from traitlets.config import Config\n"
            "c = Config()\n"
            f"path = {str(UI / 'jupyter_server_test_config.py')!r}\n"
            "exec(compile(open(path).read(), path, 'exec'), {'c': c, '__file__': path})\n"
            "print(c.ServerApp.port, c.ServerApp.port_retries)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "CARBON_MAGIC_UI_PORT": "18931"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["18931", "0"]


def test_playwright_uses_the_same_port_for_pages_and_the_server(tmp_path):
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    # galata's base config, where ui-tests/node_modules is not installed: an empty one.
    stub = tmp_path / "node_modules" / "@jupyterlab" / "galata" / "lib"
    stub.mkdir(parents=True)
    (stub / "playwright-config.js").write_text("module.exports = { use: {} };\n")
    script = ("const c = require(process.argv[1]);\n"
              "console.log(JSON.stringify({baseURL: c.use.baseURL, url: c.webServer.url,\n"
              "  port: c.webServer.env && c.webServer.env.CARBON_MAGIC_UI_PORT}));\n")
    out = subprocess.run([node, "-e", script, str(UI / "playwright.config.js")], capture_output=True, text=True,
                         timeout=60, env={**os.environ, "CARBON_MAGIC_UI_PORT": "18931",
                                          "NODE_PATH": str(tmp_path / "node_modules")})
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got == {"baseURL": "http://localhost:18931", "url": "http://localhost:18931/lab", "port": "18931"}


def test_no_test_page_hardcodes_a_port():
    for spec in (UI / "tests").glob("*.ts"):
        assert "localhost:8888" not in spec.read_text(), f"{spec.name}: use the baseURL fixture"


def test_runner_picks_a_free_port_when_8888_is_taken():
    """run_ui_tests.sh's own port choice, run as the script runs it."""
    script = (ROOT / "labextension" / "run_ui_tests.sh").read_text()
    line = next(ln.strip() for ln in script.splitlines() if ln.strip().startswith("CARBON_MAGIC_UI_PORT=$("))
    with socket.socket() as busy:
        try:
            busy.bind(("127.0.0.1", 8888))
        except OSError:
            pass  # already taken by something else: just as good
        out = subprocess.run(["bash", "-c", f"{line}; echo $CARBON_MAGIC_UI_PORT"], capture_output=True, text=True,
                             timeout=30, env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"})
    port = int(out.stdout.strip())
    assert port != 8888 and 1024 <= port < 65536
