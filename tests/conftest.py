import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from disk_helpers import LockHolders, Tmpfs, set_read_only
from fakes import FakeClock, FakePowercap


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def powercap(tmp_path):
    return FakePowercap(tmp_path / "powercap")


@pytest.fixture
def env(tmp_path, powercap, monkeypatch):
    """Environment for a loaded extension: a fake (readable) RAPL package, a temp ledger, no network."""
    powercap.add_zone("intel-rapl:0", "package-0", 1_000_000)
    monkeypatch.setenv("CARBON_MAGIC_POWERCAP_ROOT", str(powercap.root))
    monkeypatch.setenv("CARBON_MAGIC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    # Fake counters do not follow this machine's real load, and a CI box is shared: tests of the
    # counters bill the devices whole. Tests of the scope set it themselves (test_scope*.py).
    monkeypatch.setenv("CARBON_MAGIC_SCOPE", "machine")
    for var in ("CARBON_MAGIC_ZONE", "ELECTRICITYMAPS_API_TOKEN", "WATTTIME_USERNAME", "WATTTIME_PASSWORD",
                "CARBON_MAGIC_PROVIDER", "CARBON_MAGIC_INTERVAL_S", "CARBON_MAGIC_PUE"):
        monkeypatch.delenv(var, raising=False)
    return os.environ


@pytest.fixture
def shell(env):
    """A real IPython InteractiveShell with the extension loaded; unloaded afterwards."""
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "carbon_magic")
    yield ip
    ip.run_line_magic("unload_ext", "carbon_magic")


@pytest.fixture
def lock_holder():
    """hold(path, kind): another process takes the ledger's lock until release()."""
    holders = LockHolders()
    yield holders.hold
    holders.close()


@pytest.fixture
def tmpfs(tmp_path):
    where = tmp_path / "mnt"
    where.mkdir()
    fs = Tmpfs(where)
    if os.geteuid() != 0 or shutil.which("mount") is None or not fs.mount("size=1m"):
        pytest.skip("a real full or read-only disk needs a tmpfs mount (root with mount rights)")
    try:
        yield fs
    finally:
        fs.unmount()


@pytest.fixture
def read_only_folder(tmp_path, request):
    """(folder, read_only(on)): a folder that can be made read-only for real: a tmpfs as root
    (root ignores chmod), else chmod."""
    if os.geteuid() == 0:
        fs = request.getfixturevalue("tmpfs")
        return fs.where, lambda on: set_read_only(fs.where, fs, on)
    folder = tmp_path / "ro"
    folder.mkdir()
    return folder, lambda on: set_read_only(folder, None, on)


@pytest.fixture
def http():
    """A requests session for a provider talking to the fake API on 127.0.0.1."""
    import requests

    with requests.Session() as s:
        yield s


@pytest.fixture
def loaded(env, monkeypatch):
    """A shell whose extension is loaded after the test has set its environment."""
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    loaded_here = []

    def load(**variables):
        for k, v in variables.items():
            monkeypatch.setenv(k, v)
        ip.run_line_magic("load_ext", "carbon_magic")
        loaded_here.append(ip)
        return ip

    yield load
    for shell in loaded_here:
        shell.run_line_magic("unload_ext", "carbon_magic")


@pytest.fixture
def services():
    """Intensity services a test makes (append them); closed after it."""
    made = []
    yield made
    for s in made:
        s.close()


def run(ip, code):
    """Run a cell as a frontend would (stored in history, so Out[n] is set)."""
    return ip.run_cell(code, store_history=True)
