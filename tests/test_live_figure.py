"""The live widget built headless: mark traits after driving samples with a fake clock, and the
comm messages one update sends (through a recording comm, no frontend)."""
import numpy as np
import pytest

from carbon_magic.live.store import PlotStore
from carbon_magic.live.updater import LiveUpdater, to_dates, updater_for
from carbon_magic.units import fmt_mass_g
from fakes import StepIntensity
from live_helpers import drive, install_recording_comm, make_session, updates_by_widget


@pytest.fixture
def comms(monkeypatch):
    return install_recording_comm(monkeypatch)


@pytest.fixture
def session(tmp_path, powercap, clock, comms):
    s = make_session(tmp_path, powercap, clock, intensity=StepIntensity(clock.wall() + 5.0, 400.0, 250.0, zone="FR",
                                                                        provider="<script>x</script>", kind="live"))
    yield s
    s.close()


def test_marks_show_the_driven_samples(session, clock, powercap):
    joules = [10, 10, 15, 20, 20, 5, 5, 10, 10, 12, 14, 16, 18, 20]  # per 0.5 s; 7 s in all
    drive(session, clock, powercap, joules)
    view = LiveUpdater(session).attach().view()
    # The session's first snapshot, then every tick.
    walls = np.array([session.sampler.first.wall] + [s.wall for s in session.sampler.fine])
    assert view.figure.animation_duration == 0
    # Measured CPU package: solid, W = J / 0.5 s; no power at the first read of a counter (a gap).
    assert view.measured.line_style == "solid" and view.measured.visible
    assert np.array_equal(view.measured.x, (walls * 1000).round().astype("int64").astype("datetime64[ms]"))
    assert np.isnan(view.measured.y[0])
    assert np.array_equal(view.measured.y[1:], np.array(joules) * 2.0)
    assert list(view.measured.labels) == ["cpu:package-0 W"]
    # Estimated RAM: dashed, its own legend entry.
    assert view.estimated.line_style == "dashed" and view.estimated.labels == ["ram W (estimated)"]
    assert np.all(view.estimated.y > 0)
    # Grid intensity: a step line on the right axis, one point per change plus the last sample.
    assert view.intensity.interpolation == "step-after"
    assert list(view.intensity.y) == [400.0, 250.0, 250.0]
    assert "FR" in view.intensity.labels[0] and "live" in view.intensity.labels[0]
    sides = {a.label: a.side for a in view.figure.axes}
    assert sides["W"] == "left" and sides["g CO₂e/kWh"] == "right"
    assert view.intensity.scales["y"] is not view.measured.scales["y"]


def test_readout_shows_totals_and_escapes_provenance(session, clock, powercap):
    drive(session, clock, powercap, [10] * 12)  # 6 s: past the switch to 250 g/kWh
    view = LiveUpdater(session).attach().view()
    html = view.readout.value
    assert "<script>" not in html and "&lt;script&gt;x&lt;/script&gt;" in html
    ram_w = session.sampler.fine[-1].power_w["ram"]
    from carbon_magic.units import fmt_energy, fmt_mass_g, fmt_power
    assert fmt_power(20.0 + ram_w) in html  # current W
    assert fmt_energy(session.cumulative_energy_j) in html
    assert fmt_mass_g(session.cumulative_emissions_g) in html
    assert "250</b> g CO₂e/kWh now" in html


def test_cell_boundaries_from_records_and_the_running_cell(session, clock, powercap):
    updater = LiveUpdater(session).attach()
    view = updater.view()
    drive(session, clock, powercap, [10] * 4)
    window = session.begin(label="<b>train</b>", execution_count=3)
    drive(session, clock, powercap, [30] * 4)
    session.end(window)
    window2 = session.begin(execution_count=4)
    updater.window_source = lambda: window2
    drive(session, clock, powercap, [30] * 2)
    updater.update()
    assert list(view.cell_labels.text) == ["<b>train</b>", "[4]"]  # SVG text: shown literally
    starts = np.array([window.start.wall, window2.start.wall])
    assert np.array_equal(view.cell_labels.x, (starts * 1000).round().astype("int64").astype("datetime64[ms]"))
    edges = view.cell_lines.x.astype("int64")  # rows [t, t]: start and end of cell 3, start of cell 4
    assert edges.shape == (3, 2) and np.all(edges[:, 0] == edges[:, 1])
    assert view.cell_lines.visible and view.cell_labels.visible


def test_one_update_message_per_mark_per_tick(session, clock, powercap, comms):
    updater = LiveUpdater(session, period_s=0.75).attach()
    view = updater.view()
    drive(session, clock, powercap, [10])  # the listener's first call: an update
    start = len(comms)
    drive(session, clock, powercap, [10])  # 0.5 s later: below the period, nothing sent
    assert updates_by_widget(comms, start) == {}
    drive(session, clock, powercap, [10])  # 1.0 s after the last update: one update
    sent = updates_by_widget(comms, start)
    ids = {name: getattr(view, name).model_id for name in ("measured", "estimated", "intensity", "readout",
                                                          "cell_lines", "cell_labels", "figure")}
    assert sent.get(ids["measured"]) == 1 and sent.get(ids["estimated"]) == 1
    assert sent.get(ids["intensity"]) == 1 and sent.get(ids["readout"]) == 1
    assert ids["cell_lines"] not in sent and ids["figure"] not in sent  # unchanged: nothing sent
    state = next(m["data"]["state"] for m in comms[start:] if m["comm_id"] == ids["measured"])
    assert {"x", "y"} <= set(state)
    session.end(session.begin(execution_count=1))
    start = len(comms)
    drive(session, clock, powercap, [10, 10])
    sent = updates_by_widget(comms, start)
    assert sent.get(ids["cell_lines"]) == 1 and sent.get(ids["cell_labels"]) == 1


def test_copies_share_one_updater_and_cost_the_same(session, clock, powercap, comms):
    drive(session, clock, powercap, [10] * 4)
    first = updater_for(session)
    views = [updater_for(session).view() for _ in range(3)]
    assert updater_for(session) is first
    assert all(v is views[0] for v in views)  # three displays = three views of one set of models
    start = len(comms)
    drive(session, clock, powercap, [10, 10])  # one listener call
    sent = updates_by_widget(comms, start)
    assert sent.get(views[0].measured.model_id) == 1 and sent.get(views[0].readout.model_id) == 1


def test_a_closed_view_is_rebuilt_and_no_longer_updated(session, clock, powercap, comms):
    updater = updater_for(session)
    old = updater.view()
    old.close()
    new = updater.view()
    assert new is not old and new.alive and updater.views == [new]
    drive(session, clock, powercap, [10, 10, 10])  # updates at the 1st and 3rd tick
    assert new.measured.y.size == 4  # the session's first snapshot and three ticks
    assert old.measured.y.size == 0


def test_plotted_window_stays_bounded_after_many_samples(session, clock, powercap):
    store = PlotStore(2, cap=500, compact_to=200, recent_s=20)  # small, so that it compacts here
    updater = LiveUpdater(session, max_points=150, recent_s=20, period_s=5.0, store=store).attach()
    view = updater.view()
    rng = np.random.default_rng(1)
    joules = rng.uniform(5, 15, 1200)
    joules[100] = 400  # an 800 W spike long ago
    drive(session, clock, powercap, joules)
    updater.update()  # the samples since the last periodic update
    assert store.compactions >= 2 and store.n <= store.cap
    assert len(view.measured.x) <= 150 and view.measured.y.shape == view.measured.x.shape
    assert np.nanmax(view.measured.y) == pytest.approx(800.0)
    recent = np.array([s.wall for s in session.sampler.fine if s.wall >= session.sampler.fine[-1].wall - 20])
    assert np.isin(to_dates(recent), view.measured.x).all()


def test_detaches_when_the_session_closes(tmp_path, powercap, clock, comms):
    s = make_session(tmp_path, powercap, clock)
    updater = updater_for(s)
    view = updater.view()
    assert updater.attached
    shown = view.measured.y.size
    s.close()
    assert not updater.attached
    start = len(comms)
    drive(s, clock, powercap, [10, 10, 10])  # ticks after the close reach no widget
    assert not updates_by_widget(comms, start).keys() & {view.measured.model_id, view.readout.model_id}
    assert view.measured.y.size == shown


def test_displayed_bundle_carries_a_text_fallback(session, clock, powercap):
    """nbconvert, VS Code without the widget manager: they render text/plain or text/html."""
    drive(session, clock, powercap, [10] * 4)
    updater = LiveUpdater(session).attach()
    view = updater.view()
    from carbon_magic.live.text import text_summary
    bundle = view.displayable(text_summary(updater.last_message))._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == view.box.model_id
    assert bundle["text/plain"].startswith("carbon_magic live: ") and "cpu:package-0 20 W measured" in bundle["text/plain"]
    assert "&lt;script&gt;" in bundle["text/html"] and "<script>" not in bundle["text/html"]


def test_a_cells_view_follows_the_cell_then_freezes_on_its_record(session, clock, powercap):
    drive(session, clock, powercap, [10] * 20)  # ten idle seconds before the cell
    window = session.begin(label="train")
    updater = LiveUpdater(session, cell=window).attach()
    view = updater.view()
    drive(session, clock, powercap, [30] * 8)  # the cell: 4 s at 60 W
    updater.update()  # the ticks since the last periodic update
    # The chart starts at the cell, not at the session's start; the readout counts from the cell.
    assert view.measured.x[0] == to_dates([window.start.wall])[0]
    assert view.measured.y.size == 1 + 8
    assert "so far" in view.readout.value and "final" not in view.readout.value
    record = session.end(window)
    updater.finish(record)
    # Frozen on the record: its numbers, its end, and it says the cell ended.
    frozen = {name: np.array(getattr(view, name).y, copy=True) for name in ("measured", "estimated", "intensity")}
    readout = view.readout.value
    assert f"final: <b style='font-size:15px'>{record.energy_text()}</b>" in readout
    assert fmt_mass_g(record.emissions_g) in readout and "(cell ended)" in readout
    assert view.measured.x[-1] <= to_dates([clock.wall()])[0]
    assert list(view.cell_labels.text) == ["train"] and view.cell_lines.x.shape == (2, 2)
    assert not updater.attached
    # An hour of idle kernel later: nothing about the cell's view has changed.
    updates = updater.updates
    drive(session, clock, powercap, [50] * 40)
    updater.update()  # even asked directly (a tick already on its way when the cell ended)
    assert updater.updates == updates
    for name, y in frozen.items():
        assert np.array_equal(getattr(view, name).y, y, equal_nan=True)
    assert view.readout.value == readout


def test_a_cells_view_says_when_the_cell_was_interrupted_or_not_recorded(session, clock, powercap):
    for status, expected in (("interrupted", "(cell interrupted)"), (None, "final: not recorded (cell ended)")):
        window = session.begin()
        updater = LiveUpdater(session, cell=window).attach()
        view = updater.view()
        drive(session, clock, powercap, [10] * 4)
        record = session.end(window, status) if status else None
        if record is None:
            session.end(window)
        updater.finish(record)
        assert expected in view.readout.value and not updater.attached
