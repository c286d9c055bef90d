"""What the user reads says one thing, once, plainly (issue 16, "Confusing").

Real sessions on fake hardware (report_helpers.Bench), a real IPython shell for the magics.
"""
from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from IPython.utils.capture import capture_output

from carbon_magic.cli import main
from carbon_magic.config import Settings
from carbon_magic.extension import session_for
from carbon_magic.ledger import Ledger
from carbon_magic.magics import CarbonMagics
from carbon_magic.report import Report, formats
from carbon_magic.report.equivalents import equivalents
from carbon_magic.report.table import CellTable
from carbon_magic.session import CarbonSession
from carbon_magic.sources import Discovery, discover
from carbon_magic.sources.estimators import CpuEstimator, RamEstimator
from carbon_magic.units import fmt_energy, fmt_mass_g
from conftest import run
from report_helpers import Bench, FakePsutil

NAMES = ("cells", "idle", "session")


@pytest.fixture
def bench(tmp_path, clock, powercap):
    b = Bench(tmp_path, clock, powercap, zone="FR")
    yield b
    b.close()


def shown(shell, line):
    with capture_output() as cap:
        r = run(shell, line)
    return r, cap


# -- one set of totals: cells, idle, session -------------------------------------------------
def test_cells_idle_and_session_are_the_same_numbers_in_table_status_and_comm(bench):
    bench.cell(10, cpu_j=500, count=1)
    bench.idle(30, cpu_j=300)
    bench.cell(4, cpu_j=80, count=2)
    s = bench.session
    t = s.totals()
    assert t["cells"] == 2
    assert t["session_energy_j"] == pytest.approx(t["cells_energy_j"] + t["idle_energy_j"])
    assert t["idle_energy_j"] == pytest.approx(300 + 30 * 8 * 0.3725)  # the package and RAM between cells
    assert t["idle_emissions_g"] > 0 and t["session_emissions_g"] == pytest.approx(
        t["cells_emissions_g"] + t["idle_emissions_g"])

    footer = {row[0]: row for row in CellTable(Report.from_session(s)).footer()}
    assert list(footer) == list(NAMES)
    from IPython.core.interactiveshell import InteractiveShell

    status = CarbonMagics(InteractiveShell.instance(), s).status_text().split("  totals:")[1]
    for name in NAMES:
        energy, co2 = fmt_energy(t[f"{name}_energy_j"]), fmt_mass_g(t[f"{name}_emissions_g"])
        assert energy in footer[name] and co2 in footer[name]
        (line,) = [ln for ln in status.splitlines() if ln.split()[:1] == [name]]
        assert energy in line and co2 in line

    # The sidebar gets the very same dict: in the hello and in every sample.
    from carbon_magic.extension import hello_message

    assert hello_message(s)["totals"] == t
    assert s.sample_message(s.sampler.snapshot())["totals"] == t


def test_idle_is_never_negative(bench):
    s = bench.session
    w = s.begin()
    bench.clock.advance(5)
    bench.powercap.advance("intel-rapl:0", 50)  # no sampler tick: the session's sum lags the cell
    s.end(w, sync=False)
    t = s.totals()
    assert t["idle_energy_j"] == 0 and t["idle_emissions_g"] == 0
    assert t["session_energy_j"] == t["cells_energy_j"] > 0


class _Comm:
    """What FrontendBridge needs of a comm: it keeps what would go to the frontend."""

    def __init__(self, **kw):
        self.sent = [kw["data"]]

    def on_msg(self, fn):
        pass

    def on_close(self, fn):
        pass

    def send(self, data):
        self.sent.append(data)

    def close(self):
        pass


def test_comm_hello_and_records_carry_the_kernels_totals(bench):
    from carbon_magic.extension import _open_bridge

    comms = []
    _open_bridge(bench.session, create_comm=lambda **kw: comms.append(_Comm(**kw)) or comms[-1])
    (hello,) = comms[0].sent
    assert hello["type"] == "hello" and set(hello["totals"]) >= {f"{n}_energy_j" for n in NAMES}
    bench.cell(2, cpu_j=20)
    record = comms[0].sent[-1]
    assert record["type"] == "record" and record["totals"]["cells"] == 1
    assert record["totals"] == bench.session.totals()


# -- measure() in a kernel uses the kernel's session -------------------------------------------
def test_measure_uses_the_loaded_sessions_zone(shell):
    run(shell, "%carbon zone FR")
    run(shell, "import carbon_magic\nwith carbon_magic.measure(label='block') as m:\n    x = sum(range(1000))")
    rec = shell.user_ns["m"].record
    assert rec.intensity["zone"] == "FR" and 40 <= rec.intensity_g_per_kwh <= 60
    assert rec in session_for(shell).records  # and it is in %carbon table


# -- zones: said at load, refused, or priced plainly -------------------------------------------
def test_bad_zone_in_the_environment_is_said_at_load_and_not_contradicted(env, monkeypatch):
    from IPython.core.interactiveshell import InteractiveShell

    monkeypatch.setenv("CARBON_MAGIC_ZONE", "FRR")
    ip = InteractiveShell.instance()
    with capture_output() as cap:
        ip.run_line_magic("load_ext", "carbon_magic")
    try:
        lines = [ln for ln in (cap.stdout + cap.stderr).splitlines() if "CARBON_MAGIC_ZONE" in ln]
        assert len(lines) == 1
        assert "'FRR'" in lines[0] and "did you mean FR" in lines[0] and "world average" in lines[0]
        with capture_output() as cap:
            run(ip, "%%carbon\nx = 1")
        assert "no grid zone set" not in cap.stdout + cap.stderr
        assert "CARBON_MAGIC_ZONE" not in cap.stdout + cap.stderr  # said once
    finally:
        ip.run_line_magic("unload_ext", "carbon_magic")


def test_a_known_zone_without_data_says_in_one_line_it_uses_the_world_average(shell):
    r, cap = shown(shell, "%carbon zone XX")
    assert r.error_in_exec is None and cap.stderr == ""
    (line,) = cap.stdout.strip().splitlines()
    assert "XX (Northern Cyprus)" in line and "no figure of its own" in line and "world average" in line
    r, cap = shown(shell, "%carbon zone XQ")
    assert type(r.error_in_exec).__name__ == "UsageError" and "unknown zone" in str(r.error_in_exec)


def test_a_zone_without_data_in_the_environment_is_said_at_load(env, monkeypatch):
    from IPython.core.interactiveshell import InteractiveShell

    monkeypatch.setenv("CARBON_MAGIC_ZONE", "XX")
    ip = InteractiveShell.instance()
    with capture_output() as cap:
        ip.run_line_magic("load_ext", "carbon_magic")
    try:
        assert "zone XX (Northern Cyprus) has no figure of its own" in cap.stdout
        with capture_output() as cap:
            run(ip, "%%carbon\nx = 1")
        assert "Northern Cyprus" not in cap.stdout + cap.stderr  # said once
    finally:
        ip.run_line_magic("unload_ext", "carbon_magic")


def test_no_zone_hint_is_plain_output_and_quiet_cells_keep_it_for_later(shell):
    r, cap = shown(shell, "%%carbon --quiet\nx = 1")
    assert cap.stdout == "" and cap.stderr == ""
    r, cap = shown(shell, "%%carbon\nx = 2")
    assert cap.stderr == ""
    (hint,) = [ln for ln in cap.stdout.splitlines() if "no grid zone set" in ln]
    assert hint.startswith("Hint:") and "%carbon zone FR" in hint


# -- help and whatif ---------------------------------------------------------------------------
@pytest.mark.parametrize("line", ["%carbon", "%carbon help"])
def test_carbon_alone_and_help_print_the_short_help(shell, line):
    r, cap = shown(shell, line)
    assert r.error_in_exec is None and r.error_before_exec is None
    for sub in ("%%carbon", "%carbon status", "%carbon zone", "%carbon whatif", "%carbon table"):
        assert sub in cap.stdout
    assert len(cap.stdout.splitlines()) <= 12


def test_whatif_without_zones_says_to_name_them(shell):
    run(shell, "%%carbon\nx = 1")
    r, cap = shown(shell, "w = %carbon whatif")
    assert r.error_in_exec is None
    (line,) = cap.stdout.strip().splitlines()
    assert "name the zones" in line and "e.g. %carbon whatif SE FR" in line


# -- what an estimate is made of ----------------------------------------------------------------
def test_status_has_sensor_headers_and_the_models_inputs_with_overrides(shell):
    r, cap = shown(shell, "%carbon status")
    lines = cap.stdout.splitlines()
    header = lines[lines.index("  sensors:") + 1].split()
    assert header == ["name", "kind", "method", "shown", "as", "status"]
    (ram,) = [ln for ln in lines if ln.strip().startswith("RAM:")]
    assert "W per GB" in ram and "GB installed" in ram and "CARBON_MAGIC_RAM_W_PER_GB" in ram


def test_cpu_model_inputs_say_where_the_tdp_came_from():
    default = CpuEstimator(FakePsutil().cpu_times, 4)
    assert "× 4" in default.model_inputs() and "CARBON_MAGIC_CPU_TDP_W" in default.model_inputs()
    tdp = CpuEstimator(FakePsutil().cpu_times, 4, tdp_w=65)
    assert "TDP 65 W from CARBON_MAGIC_CPU_TDP_W" in tdp.model_inputs()


def test_ram_watts_per_gb_can_be_overridden():
    s = Settings.from_env({"CARBON_MAGIC_RAM_W_PER_GB": "0.1"})
    assert s.ram_w_per_gb == 0.1 and not s.warnings
    d = discover("/nonexistent", nvml=None, env={}, psutil_module=FakePsutil(), ram_w_per_gb=s.ram_w_per_gb)
    (ram,) = [src for src in d.sources if src.kind == "ram"]
    assert ram.power_w == pytest.approx(8 * 0.1)
    assert "0.1 W per GB from CARBON_MAGIC_RAM_W_PER_GB" in ram.model_inputs()
    bad = Settings.from_env({"CARBON_MAGIC_RAM_W_PER_GB": "lots"})
    assert bad.ram_w_per_gb is None and "CARBON_MAGIC_RAM_W_PER_GB='lots' is not a number" in bad.warnings[0]


# -- carbon-magic report: ranking and names ----------------------------------------------------
def test_report_ranks_notebooks_without_data_last(bench, tmp_path, capsys):
    import nbformat

    rec = bench.cell(10, cpu_j=400, count=1)
    full = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    full.cells[0].metadata["carbon_magic"] = {"last": rec.to_dict()}
    nbformat.write(full, str(tmp_path / "full.ipynb"))
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("y")]), str(tmp_path / "empty.ipynb"))
    assert main(["report", str(tmp_path / "empty.ipynb"), str(tmp_path / "full.ipynb")]) == 0
    board = capsys.readouterr().out.split("Leaderboard")[1].splitlines()[3:]
    assert board[0].split()[:2] == ["1", "full.ipynb"]
    assert board[1].split()[:2] == ["–", "empty.ipynb"] and "no measured cells" in board[1]


def test_ledger_sessions_are_named_by_their_notebook(tmp_path, clock, powercap, monkeypatch, capsys):
    monkeypatch.setenv("JPY_SESSION_NAME", "course/analysis.ipynb")
    b = Bench(tmp_path, clock, powercap)
    try:
        b.cell(5, cpu_j=50)
        assert b.session.describe()["notebook"] == "course/analysis.ipynb"
        assert b.session.ledger.flush(5.0)  # the writer thread takes queued rows to the file
        assert main(["report", "--ledger", str(b.session.ledger.path)]) == 0
        assert f"analysis.ipynb (session {b.session.session_id})" in capsys.readouterr().out
    finally:
        b.close()


def test_the_kernels_notebook_path_is_kept_without_the_home_directory(env, monkeypatch):
    from pathlib import Path

    from IPython.core.interactiveshell import InteractiveShell

    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    ip = InteractiveShell.instance()
    ip.user_ns["__session__"] = str(Path.home() / "work" / "demo.ipynb")
    ip.run_line_magic("load_ext", "carbon_magic")
    try:
        assert session_for(ip).describe()["notebook"] == "~/work/demo.ipynb"
    finally:
        ip.run_line_magic("unload_ext", "carbon_magic")
        ip.user_ns.pop("__session__", None)


# -- exports: equivalents, receipt, badge, CSV ---------------------------------------------------
@pytest.mark.parametrize("grams, start", [(0.003, "1.23 cm"), (2.9, "11.9 m"), (290, "1.19 km"),
                                          (290_000, "1,188 km")])
def test_equivalents_scale_their_unit_and_never_use_exponents(grams, start):
    car, phone = equivalents(grams)
    assert car.text().startswith(start + " driven")
    assert not re.search(r"\de[-+]?\d", car.text() + phone.text())


def test_amounts_read_as_plain_numbers():
    from carbon_magic.report.equivalents import fmt_amount, fmt_distance_km

    assert [fmt_amount(x) for x in (0, 0.00012, 0.0123, 0.5, 1.5, 42.25, 1234.4)] == \
        ["0", "less than 0.001", "0.012", "0.5", "1.5", "42.2", "1,234"]
    assert fmt_distance_km(1.2e-5) == "1.2 cm" and fmt_distance_km(1e-10) == "less than 0.001 mm"


class _Tables(HTMLParser):
    """For each <table>, the classes of the elements it is nested in."""

    def __init__(self):
        super().__init__()
        self.stack, self.tables = [], []

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([c for _, c in self.stack])
        self.stack.append((tag, dict(attrs).get("class", "")))

    def handle_endtag(self, tag):
        while self.stack and self.stack.pop()[0] != tag:
            pass


def test_html_receipt_tables_stay_within_the_page(bench):
    bench.cell(2, cpu_j=20, code="x = " + "very_long_name_" * 30)
    doc = formats.render(Report.from_session(bench.session), ".html")
    p = _Tables()
    p.feed(doc)
    assert len(p.tables) >= 3 and all("cm-scroll" in parents for parents in p.tables)
    assert ".cm-scroll{max-width:100%;overflow-x:auto}" in doc and "overflow-wrap:anywhere" in doc


def test_badge_says_estimated_when_no_hardware_measured_it(tmp_path, clock):
    s = CarbonSession(Settings.from_env({}), discovery=Discovery([RamEstimator(8 * 10**9)]),
                      ledger=Ledger(tmp_path / "l.db"), clock=clock, wall=clock.wall,
                      cuda_sync=lambda: []).start(thread=False)
    try:
        w = s.begin()
        clock.advance(10)
        s.end(w)
        svg = formats.render(Report.from_session(s), ".svg")
        assert re.search(r"<text [^>]*>[^<]* estimated</text>", svg) and "partly" not in svg
        assert "all estimated, no hardware sensor" in svg  # the tooltip says why
    finally:
        s.close()


def test_csv_cpu_model_is_the_processors_name(tmp_path, bench):
    from carbon_magic.host import cpu_model_name

    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R)  Gold 6248 CPU\n")
    assert cpu_model_name(str(info)) == "Intel(R) Xeon(R) Gold 6248 CPU"
    import platform

    assert cpu_model_name(str(tmp_path / "none")) == (platform.processor() or platform.machine())
    assert bench.session.describe()["cpu_model"] == cpu_model_name()


# -- tracebacks count the line the user sees -------------------------------------------------------
def test_traceback_line_numbers_count_the_carbon_line(shell):
    r, cap = shown(shell, "%%carbon\nx = 1\n1 / 0")
    assert type(r.error_in_exec) is ZeroDivisionError
    text = re.sub(r"\x1b\[[0-9;]*m", "", cap.stdout)  # the traceback's colours
    assert re.search(r"Cell In\[\d+\], line 3\b", text)
    assert re.search(r"----> 3 1 / 0", text)


def test_a_cell_magic_under_carbon_still_runs(shell):
    r, cap = shown(shell, "%%carbon -o rec\n%%capture captured\nprint('inside')")
    assert r.error_in_exec is None and "inside" in shell.user_ns["captured"].stdout
