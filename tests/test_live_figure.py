"""The live widget built headless: mark traits after driving samples with a fake clock, and the
comm messages one update sends (through a recording comm, no frontend)."""
import numpy as np
import pytest

from carbon_magic.live.store import PlotStore
from carbon_magic.live.updater import (
    BEFORE_ANY_CELL_S,
    CONTEXT_MIN_S,
    LiveUpdater,
    follow_range,
    nice_top,
    to_dates,
    updater_for,
)
from carbon_magic.units import fmt_mass_g, mass_unit
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
    assert view.session.figure.animation_duration == 0
    # Measured CPU package: solid, W = J / 0.5 s; no power at the first read of a counter (a gap).
    assert view.session.measured.line_style == "solid" and view.session.measured.visible
    assert np.array_equal(view.session.measured.x, (walls * 1000).round().astype("int64").astype("datetime64[ms]"))
    assert np.isnan(view.session.measured.y[0])
    assert np.array_equal(view.session.measured.y[1:], np.array(joules) * 2.0)
    assert list(view.session.measured.labels) == ["cpu:package-0 W"]
    # Estimated RAM: dashed, its own legend entry.
    assert view.session.estimated.line_style == "dashed" and view.session.estimated.labels == ["ram W (estimated)"]
    assert np.all(view.session.estimated.y > 0)
    # Grid intensity: a step line on the right axis, one point per change plus the last sample.
    assert view.session.intensity.interpolation == "step-after"
    assert list(view.session.intensity.y) == [400.0, 250.0, 250.0]
    # From 0 (no padding below it), with head room above the highest value for the cell labels.
    assert view.session.intensity_scale.max == 500.0  # 400 × INTENSITY_HEADROOM, rounded up
    assert view.session.power_scale.max == 50.0  # the highest line, 40 W, + 10 %, rounded up
    assert not view.session.power_scale.allow_padding and view.session.power_scale.min == 0.0
    # Its axis says where the values come from (escaped by bqplot's SVG text, shown literally).
    assert view.session.intensity_axis.label == "g CO₂e/kWh · FR, <script>x</script>, live"
    sides = {a.label: a.side for a in view.session.figure.axes}
    assert sides["power, W"] == "left" and sides[view.session.intensity_axis.label] == "right"
    assert view.session.intensity.scales["y"] is not view.session.measured.scales["y"]


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
    assert "<b>250 g/kWh</b> grid intensity now" in html


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
    assert list(view.session.cell_labels.text) == ["<b>train</b>", "[4]"]  # SVG text: shown literally
    starts = np.array([window.start.wall, window2.start.wall])
    assert np.array_equal(view.session.cell_labels.x, (starts * 1000).round().astype("int64").astype("datetime64[ms]"))
    edges = view.session.cell_lines.x.astype("int64")  # rows [t, t]: start and end of cell 3, start of cell 4
    assert edges.shape == (3, 2) and np.all(edges[:, 0] == edges[:, 1])
    assert view.session.cell_lines.visible and view.session.cell_labels.visible


def test_one_update_message_per_mark_per_tick(session, clock, powercap, comms):
    updater = LiveUpdater(session, period_s=0.75).attach()
    view = updater.view()
    drive(session, clock, powercap, [10])  # the listener's first call: an update
    start = len(comms)
    drive(session, clock, powercap, [10])  # 0.5 s later: below the period, nothing sent
    assert updates_by_widget(comms, start) == {}
    drive(session, clock, powercap, [10])  # 1.0 s after the last update: one update
    sent = updates_by_widget(comms, start)
    ids = {name: getattr(view.session, name).model_id for name in ("measured", "estimated", "intensity",
                                                                  "cell_lines", "cell_labels", "figure")}
    ids["readout"] = view.readout.model_id
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
    assert sent.get(views[0].session.measured.model_id) == 1 and sent.get(views[0].readout.model_id) == 1


def test_a_closed_view_is_rebuilt_and_no_longer_updated(session, clock, powercap, comms):
    updater = updater_for(session)
    old = updater.view()
    old.close()
    new = updater.view()
    assert new is not old and new.alive and updater.views == [new]
    drive(session, clock, powercap, [10, 10, 10])  # updates at the 1st and 3rd tick
    assert new.session.measured.y.size == 4  # the session's first snapshot and three ticks
    assert old.session.measured.y.size == 0


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
    assert len(view.session.measured.x) <= 150 and view.session.measured.y.shape == view.session.measured.x.shape
    assert np.nanmax(view.session.measured.y) == pytest.approx(800.0)
    recent = np.array([s.wall for s in session.sampler.fine if s.wall >= session.sampler.fine[-1].wall - 20])
    assert np.isin(to_dates(recent), view.session.measured.x).all()


def test_detaches_when_the_session_closes(tmp_path, powercap, clock, comms):
    s = make_session(tmp_path, powercap, clock)
    updater = updater_for(s)
    view = updater.view()
    assert updater.attached
    shown = view.session.measured.y.size
    s.close()
    assert not updater.attached
    start = len(comms)
    drive(s, clock, powercap, [10, 10, 10])  # ticks after the close reach no widget
    assert not updates_by_widget(comms, start).keys() & {view.session.measured.model_id, view.readout.model_id}
    assert view.session.measured.y.size == shown


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
    assert view.session.measured.x[0] == to_dates([window.start.wall])[0]
    assert view.session.measured.y.size == 1 + 8
    assert "so far" in view.readout.value and "final" not in view.readout.value
    record = session.end(window)
    updater.finish(record)
    # Frozen on the record: its numbers, its end, and it says the cell ended.
    frozen = {name: np.array(getattr(view.session, name).y, copy=True) for name in ("measured", "estimated", "intensity")}
    readout = view.readout.value
    assert f"final: <b style='font-size:15px'>{record.energy_text()}</b>" in readout
    assert fmt_mass_g(record.emissions_g) in readout and "(cell ended)" in readout
    assert view.session.measured.x[-1] <= to_dates([clock.wall()])[0]
    assert list(view.session.cell_labels.text) == ["train"] and view.session.cell_lines.x.shape == (2, 2)
    assert not updater.attached
    # An hour of idle kernel later: nothing about the cell's view has changed.
    updates = updater.updates
    drive(session, clock, powercap, [50] * 40)
    updater.update()  # even asked directly (a tick already on its way when the cell ended)
    assert updater.updates == updates
    for name, y in frozen.items():
        assert np.array_equal(getattr(view.session, name).y, y, equal_nan=True)
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


def test_during_a_cell_the_session_view_follows_the_cell_and_keeps_the_session_one_click_away(
        session, clock, powercap):
    """A 4 s cell after 70 minutes of session: the `cell` panel spans the cell and a little
    context, the `session` panel the whole session; the toggle switches them in the browser."""
    updater = LiveUpdater(session).attach()
    view = updater.view()
    drive(session, clock, powercap, [300] * 140, step_s=30.0)  # 70 idle minutes at 10 W ...
    drive(session, clock, powercap, [5] * 20)  # ... the last 10 s sampled every 0.5 s
    window = session.begin(label="train", execution_count=7)
    updater.window_source = lambda: window
    drive(session, clock, powercap, [30] * 8)  # the cell: 4 s at 60 W
    updater.update()
    start, newest = window.start.wall, session.sampler.fine[-1].wall
    cell, whole = view.cell, view.session
    assert (cell.x_scale.min, cell.x_scale.max) == (to_dates([start - CONTEXT_MIN_S])[0], to_dates([newest])[0])
    assert to_dates([start - CONTEXT_MIN_S])[0] <= cell.measured.x[0] < to_dates([start])[0]
    assert cell.measured.x.size == 10 + 1 + 8  # 5 s of context, the cell's start and its samples, not 70 minutes
    assert list(cell.cell_labels.text) == ["train"]
    # The session panel: its own range, from the session's first sample.
    assert whole.x_scale.min is None and whole.x_scale.max is None
    assert whole.measured.x[0] == to_dates([session.sampler.first.wall])[0]
    # cell | session, linked in the browser (works while the kernel is busy in the cell).
    assert view.toggle.options == ("cell", "session") and view.toggle.value == "cell"
    assert view.stack.children == (cell.box, whole.box) and view.stack.selected_index == 0
    assert view.link.source == (view.toggle, "index") and view.link.target == (view.stack, "selected_index")
    assert view.toggle in view.header.children

    # The cell ends; twenty idle seconds later the panel still shows it, with its context.
    session.end(window)
    updater.window_source = lambda: None
    drive(session, clock, powercap, [5] * 40)
    updater.update()
    assert cell.x_scale.min == to_dates([start - CONTEXT_MIN_S])[0]
    assert cell.x_scale.max == to_dates([session.sampler.fine[-1].wall])[0]


@pytest.mark.parametrize("v,top", [(0, None), (-1, None), (float("nan"), None), (0.3, 0.3), (1.1, 1.2),
                                   (2.2, 2.5), (50.6, 60.0), (460.0, 500.0), (7.34, 8.0), (1000.0, 1000.0)])
def test_axis_tops_are_round_numbers(v, top):
    assert nice_top(v) == (pytest.approx(top) if top is not None else None)


def test_follow_range_context_grows_with_the_cell():
    assert follow_range(100.0, None, 104.0) == (100.0 - CONTEXT_MIN_S, 104.0)
    first, last = follow_range(1000.0, None, 1000.0 + 3600.0)  # an hour in: 12 minutes before it
    assert (first, last) == (1000.0 - 0.2 * 3600.0, 4600.0)
    assert follow_range(100.0, 110.0, 500.0) == (100.0 - CONTEXT_MIN_S, 500.0)
    assert follow_range(100.0, None, 99.0) == (100.0 - CONTEXT_MIN_S, 100.0)  # no sample since the start yet


def test_legend_sits_outside_the_plot_and_names_every_line(session, clock, powercap):
    drive(session, clock, powercap, [10] * 12)
    view = LiveUpdater(session).attach().view()
    for panel in view.panels:
        for fig in (panel.figure, panel.co2_figure):
            assert not any(m.display_legend for m in fig.marks)  # no legend box over the data
    assert view.legend in view.header.children and view.header in view.box.children
    legend = view.legend.value
    for text in ("cpu:package-0 W, measured", "ram W, estimated", "FR, &lt;script&gt;x&lt;/script&gt;, live",
                 "CO₂e, cumulative", "cell start and end"):
        assert text in legend
    assert "<script>" not in legend
    assert "dashed" in legend and "dotted" in legend


def test_cumulative_co2_is_a_line_in_a_unit_chosen_by_its_size(session, clock, powercap):
    drive(session, clock, powercap, [10] * 12)  # 6 s at 20 W + RAM: a few mg CO₂e
    view = LiveUpdater(session).attach().view()
    co2 = view.session.co2
    total_g = session.cumulative_emissions_g
    factor, unit = mass_unit(total_g)
    assert unit == "mg" and view.session.co2_axis.label == "mg CO₂e"
    assert co2.x.size == view.session.measured.x.size
    assert np.all(np.diff(co2.y) >= 0) and co2.y[0] == 0.0
    assert co2.y[-1] == pytest.approx(total_g / factor)
    assert co2.scales["x"] is view.session.x_scale  # under the power chart, on its time axis


def test_before_any_cell_the_cell_panel_shows_the_last_minute(session, clock, powercap):
    drive(session, clock, powercap, [10] * 400)  # 200 s, no cell
    view = LiveUpdater(session).attach().view()
    newest = session.sampler.fine[-1].wall
    assert view.cell.x_scale.min == to_dates([newest - BEFORE_ANY_CELL_S])[0]
    assert view.cell.measured.x.size == 2 * int(BEFORE_ANY_CELL_S) + 1
    assert view.session.measured.x.size == 401
