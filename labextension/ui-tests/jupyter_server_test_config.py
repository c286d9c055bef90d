"""Jupyter server for the Galata tests: galata's defaults, our freshly built extension, and a
kernel environment with a fake RAPL powercap tree whose counter a thread advances, so
`%%carbon` measures real (non-zero, 'counter') energy without hardware. No network: the
intensity provider is the embedded static table."""
import os
import tempfile
import threading
import time
from pathlib import Path

from jupyterlab.galata import configure_jupyter_server

configure_jupyter_server(c)  # noqa: F821 - `c` is the config object jupyter injects
# The port Playwright expects (playwright.config.js): run_ui_tests.sh picks a free one. No retries:
# a busy port is an error here, not a server on another port that the tests would not find.
c.ServerApp.port = int(os.environ.get("CARBON_MAGIC_UI_PORT", "8888"))  # noqa: F821
c.ServerApp.port_retries = 0  # noqa: F821
c.ServerApp.allow_root = True  # CI containers run as root  # noqa: F821
c.JupyterNotebookApp.expose_app_in_browser = True  # window.jupyterapp in Notebook 7 too  # noqa: F821

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent

# The built extension (labextension -> carbon_magic/labextension) under its npm name, first on
# the path so it wins over any copy installed into the environment.
_ext_root = Path(tempfile.mkdtemp(prefix="carbon-magic-labext-"))
(_ext_root / "carbon-magic-labextension").symlink_to(REPO / "carbon_magic" / "labextension")
_galata_ext = c.LabServerApp.extra_labextensions_path  # noqa: F821
c.LabServerApp.extra_labextensions_path = [str(_ext_root), str(_galata_ext)]  # noqa: F821

# Kernels inherit this environment: the package under test from this checkout.
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)

_powercap = Path(tempfile.mkdtemp(prefix="carbon-powercap-"))
_zone = _powercap / "intel-rapl:0"
_zone.mkdir()
(_zone / "name").write_text("package-0\n")
(_zone / "max_energy_range_uj").write_text("262143328850\n")
(_zone / "energy_uj").write_text("1000000\n")
os.environ["CARBON_MAGIC_POWERCAP_ROOT"] = str(_powercap)
os.environ["CARBON_MAGIC_DATA_DIR"] = tempfile.mkdtemp(prefix="carbon-data-")
os.environ["CARBON_MAGIC_PROVIDER"] = "static"
os.environ["CARBON_MAGIC_ZONE"] = "FR"
# The fake package is the whole machine: bill it whole, whatever else loads the test machine
# (`auto` would rightly bill this kernel only its share when other processes compute).
os.environ["CARBON_MAGIC_SCOPE"] = "machine"

FAKE_POWER_W = 20.0
_TICK_S = 0.05


def _advance_counter() -> None:
    """The fake CPU package draws FAKE_POWER_W. Each value is written to a temp file and renamed
    over energy_uj, so a reader never sees a half-written (empty) file; sysfs reads are atomic too."""
    value = 1_000_000
    tmp = _zone / ".energy_uj.tmp"
    while True:
        time.sleep(_TICK_S)
        value += int(FAKE_POWER_W * _TICK_S * 1e6)
        tmp.write_text(f"{value}\n")
        os.replace(tmp, _zone / "energy_uj")


threading.Thread(target=_advance_counter, name="fake-rapl", daemon=True).start()
