"""One measuring session: sources, sampler, intensity, ledger, and the records of its cells.

Both the IPython magics and `carbon_magic.measure()` use it: `begin()` takes the start snapshot,
`end()` takes the end snapshot, builds the CellRecord, appends it to the ledger and tells the
listeners (summary printer, live widget, JupyterLab comm). All collaborators are injected, and
none is touched before `start()`: building a session reads no file, sensor or network.
The attributor (attribution/) follows the sampler and the cell edges, so each record can bill
this kernel's share of shared devices where the scope says so.
"""
from __future__ import annotations

import logging
import platform
import threading
import time
import uuid
from typing import Any
from dataclasses import dataclass, field

from . import __version__
from . import uncertainty as U  # noqa: N812 - U.SENSOR_ACCURACY reads as the uncertainty model's constant
from .attribution import Attributor, Decision, OtherConsumers, attribute, decide
from .co2 import emissions_of_pieces, integrate, intensity_pieces
from .config import Settings
from .cuda_sync import synchronize_cuda
from .host import cpu_model_name
from .ledger import Ledger
from .notebook import notebook_path
from .record import RECORD_SCOPES, SCHEMA, SCHEMA_V2, CellRecord, Component, iso_utc, top_level
from .sampler import NO_MARKS, Sampler, Snapshot
from .sources import Discovery, discover

log = logging.getLogger("carbon_magic")
CONSUMERS_EVERY_S = 60.0  # how often the sampler thread counts the other processes (reads all of /proc)

LEDGER_OPEN_WAIT_S = 0.05


@dataclass
class Window:
    """An open measurement: what `begin()` saw, kept until `end()`."""

    start: Snapshot
    label: str | None = None
    zone: str | None = None
    cell_id: str | None = None
    execution_count: int | None = None
    code_head: str | None = None
    attribution: Any = None  # the attributor's Mark at the start (None where it failed)
    scope: str | None = None  # this cell's scope setting (`%%carbon --scope`), else the session's
    scope_source: str = "%%carbon --scope"  # where this cell's scope setting came from
    parent: Window | None = None  # the outermost window open when this one began (nesting)
    units: dict | None = None  # `--per N UNIT`: {"count": N, "unit": UNIT}
    extras: dict = field(default_factory=dict)  # what cell hooks keep between begin and end


def _local_fraction(record: CellRecord) -> float:
    """The part of a record's energy drawn on this machine (not on cluster nodes)."""
    if record.energy_j <= 0:
        return 1.0
    return max(0.0, 1.0 - record.cluster_energy_j / record.energy_j)


def gpu_boards(sources) -> list[tuple[str, str | None]]:
    """(name, model) of each physical GPU among `sources` (MIG slices of one board counted once)."""
    seen, out = set(), []
    for s in sources:
        if s.kind != "gpu":
            continue
        key = getattr(s, "uuid", None) or s.name
        if key not in seen:
            seen.add(key)
            out.append((s.name, getattr(s, "model", None)))
    return out


def resource_shares(record: CellRecord) -> dict[str, float] | None:
    """This kernel's share of each device for embodied carbon under process scope (None: machine
    scope, the devices whole): a GPU by its component's share, "host" by the CPU, DRAM and RAM
    components' joint share of their device energy. Devices billed whole are left out (share 1)."""
    if record.scope != "process":
        return None
    out: dict[str, float] = {}
    host_billed = host_device = 0.0
    host_shared = False
    for c in record.components:
        share = c.share if c.scope == "process" else None
        shared = share is not None
        if c.kind == "gpu" and share is not None:
            out[c.name] = share
        elif c.kind in ("cpu", "dram", "ram"):
            host_billed += share * c.device_j if share is not None else c.device_j
            host_device += c.device_j
            host_shared = host_shared or shared
    if host_shared and host_device > 0:
        out["host"] = host_billed / host_device
    return out


def gpu_model_text(sources) -> str:
    """CodeCarbon's gpu_model: `2 x NVIDIA A100-SXM4-80GB`, models joined with ', '; '' without GPUs."""
    models = [m or "unknown GPU" for _, m in gpu_boards(sources)]
    return ", ".join(f"{models.count(m)} x {m}" for m in dict.fromkeys(models))


class SessionNotStarted(RuntimeError):
    """Something that needs a started session was asked of one that is not: call its `start()`."""


class CarbonSession:
    """One kernel's (or script's) measuring, built in two steps.

    The constructor keeps the settings and the collaborators it is given, and nothing else: no
    file, sysfs, NVML, network or thread is touched, so a session can be built anywhere (a test,
    an import) at no cost. `start()` sets up measuring (sensors, first reading, ledger, intensity,
    attribution, the sampler's thread). A session not started yet starts on first use (`begin()`,
    as `%%carbon` and `measure()` do, totals, describe, the sampler, …), as a session built
    before `start()` existed was already measuring. `close()` releases what the session holds (a
    session never started holds only what it was given, and closing it touches nothing).
    """

    def __init__(self, settings: Settings | None = None, discovery: Discovery | None = None,
                 ledger: Ledger | None = None, intensity=None, clock=time.monotonic, wall=time.time,
                 cuda_sync=synchronize_cuda, intensity_for_zone=None, notebook: str | None = None,
                 attributor: Attributor | None = None, start_thread: bool | None = None):
        """`start_thread` is the constructor's argument from before `start()` existed: given (True or
        False), the session is started at once, as it was then (`start(thread=start_thread)`)."""
        self.settings = settings or Settings.from_env()
        self.notebook = notebook if notebook is not None else notebook_path()  # names ledger rows
        self.session_id = uuid.uuid4().hex[:16]
        self._clock, self._wall, self._cuda_sync = clock, wall, cuda_sync
        # Given, or made by start():
        self._discovery, self._ledger, self._intensity, self._attributor = discovery, ledger, intensity, attributor
        self._intensity_for_zone = intensity_for_zone
        self._sampler: Sampler | None = None  # set last by start(): the session is started
        self._consumers: OtherConsumers | None = None
        self._start_lock = threading.Lock()
        self._starting = False
        self.start_s: float | None = None  # unix seconds of the first reading, once started
        self.pending_notices: list[str] = []
        self.records: list[CellRecord] = []
        self._open: list[Window] = []  # begun and not yet ended, oldest first (nesting)
        self.record_listeners: list = []  # fn(record) called on the main thread after each cell
        self.record_annotators: list = []  # fn(record) that may add to a record before it is kept (act)
        self.close_listeners: list = []  # fn() called once by close(), before the sampler stops
        # Objects with begin(window) and end(window, record), called at each cell's edges on the
        # main thread (end before the record is written): carbon_magic.cluster adds its part so.
        self.cell_hooks: list = []
        self.revision_listeners: list = []  # fn(record) after revise(), from any thread
        # Running session totals (idle time included), priced at the intensity of each tick, kept
        # for both scopes: what the devices drew and this kernel's share (see cumulative_energy_j).
        self._running_j = dict.fromkeys(RECORD_SCOPES, 0.0)
        self._running_g = dict.fromkeys(RECORD_SCOPES, 0.0)
        self._host: dict = {}
        self._first_mark: Any = None
        self._last_tick: Snapshot | None = None
        self._last_attributed_j = 0.0
        if start_thread is not None:
            self.start(thread=start_thread)

    # -- starting --------------------------------------------------------------------------
    @property
    def started(self) -> bool:
        return self._sampler is not None

    @property
    def started_at(self) -> str | None:
        """ISO 8601 UTC time of the first reading (the ledger's session column), once started."""
        return None if self.start_s is None else iso_utc(self.start_s)

    def start(self, thread: bool = True) -> CarbonSession:
        """Set up measuring, once (a second call does nothing): discover the sensors, take the
        first reading, open the ledger (its writer thread) and write this session's row, make the
        intensity service, follow this kernel's processes, and start the sampler's thread
        (`thread=False`: none, the caller ticks the sampler, as tests and benchmarks do)."""
        with self._start_lock:
            if self._sampler is None:
                self._starting = True
                try:
                    self._set_up(thread)
                finally:
                    self._starting = False
        return self

    def _set_up(self, thread: bool) -> None:
        settings = self.settings
        if self._discovery is None:
            self._discovery = discover(settings.powercap_root, cpu_tdp_w=settings.cpu_tdp_w,
                                       ram_w_per_gb=settings.ram_w_per_gb)
        sources = self._discovery.sources
        sampler = Sampler(sources, settings.interval_s, clock=self._clock, wall=self._wall)
        settings.interval_s = sampler.interval_s  # shortened where a counter could wrap twice
        self.pending_notices += sampler.warnings
        if self._ledger is None:
            self._ledger = Ledger.in_dir(settings.data_dir)
        # The writer thread opens the file; a healthy one is open within a millisecond or two, so
        # its notices (a damaged file moved aside) come with the load. A slow one is not waited for.
        self._ledger.wait_ready(LEDGER_OPEN_WAIT_S)
        if self._intensity is None:
            from .intensity import make_service  # noqa: PLC0415 - the intensity service only when none is given
            self._intensity = make_service(settings, self._ledger)
        self._intensity_for_zone = self._intensity_for_zone or getattr(self._intensity, "for_zone", None)
        self._host = self._host_info(self._discovery)
        self.start_s = sampler.first.wall
        if self._attributor is None:
            self._attributor = Attributor(sources)
        attributor = self._attributor
        self._first_mark = self._observe(sampler.first)
        self._consumers = consumers = OtherConsumers(attributor.proc)
        sampler.add_listener(attributor.tick, period_s=0.0)  # before _accumulate reads it
        sampler.add_listener(lambda _snap: consumers.look(attributor.pids), period_s=CONSUMERS_EVERY_S)
        self._last_tick = sampler.first
        self._last_attributed_j = self._first_mark.total_j() if self._first_mark else 0.0
        sampler.add_listener(self._accumulate, period_s=0.0)
        self._sampler = sampler  # started from here on
        self._ledger.put_session(self.session_id, self.start_s, self.describe())
        if thread:
            sampler.start()

    def _given(self, attr: str, what: str):
        """The collaborator in `attr`, starting the session first where it has none yet (first use)."""
        thing = getattr(self, attr)
        if thing is None:
            if self._starting:  # asked for by start() itself before it made it: a bug, not a wait
                raise SessionNotStarted(f"this carbon_magic session is starting and has no {what} yet")
            self.start()
            thing = getattr(self, attr)
        return thing

    @property
    def sampler(self) -> Sampler:
        return self._given("_sampler", "sampler")

    @property
    def discovery(self) -> Discovery:
        return self._given("_discovery", "sensors")

    @property
    def ledger(self) -> Ledger:
        return self._given("_ledger", "ledger")

    @property
    def intensity(self):
        return self._given("_intensity", "intensity service")

    @property
    def attributor(self) -> Attributor:
        return self._given("_attributor", "attributor")

    @property
    def consumers(self) -> OtherConsumers:
        return self._given("_consumers", "process counter")

    # -- identity ------------------------------------------------------------------------
    def describe(self) -> dict:
        """Who measured what, for exports (no secrets, no user names)."""
        self._given("_sampler", "sensors")
        return {**self._host, "pue": self.settings.pue, "zone": self.settings.zone,
                "interval_s": self.settings.interval_s, "notebook": self.notebook}

    @staticmethod
    def _host_info(discovery: Discovery) -> dict:
        """The parts of `describe()` that cannot change during a session, read once."""
        import psutil  # noqa: PLC0415 - read once, at start()
        sources = discovery.sources
        return {
            "carbon_magic_version": __version__,
            "python_version": platform.python_version(),
            "os": platform.platform(),
            "cpu_model": cpu_model_name(),
            "cpu_count": psutil.cpu_count() or 1,
            "ram_total_size_gb": round(psutil.virtual_memory().total / 1e9, 3),
            "gpu_count": sum(1 for s in sources if s.kind == "gpu"),
            "gpu_uuids": [getattr(s, "uuid", None) for s in sources if s.kind == "gpu"],
            "gpu_model": gpu_model_text(sources),
            "sensors": [{"name": s.name, "kind": s.kind, "method": s.method,
                         **({"mig": s.mig} if getattr(s, "mig", None) else {})} for s in sources],
            "skipped": [{"name": k.name, "reason": k.reason, "fix": k.fix} for k in discovery.skipped],
        }

    # -- measuring -----------------------------------------------------------------------
    def begin(self, label=None, zone=None, cell_id=None, execution_count=None, code_head=None,
              units=None, scope: str | None = None, scope_source: str = "%%carbon --scope") -> Window:
        """Open a window. One begun while another is open (`measure()` inside a `%%carbon` cell)
        is nested: its record names the outermost open window as `parent` and is not summed.
        `scope` is this window's scope setting (None: the session's), `scope_source` where it came from.
        A session not started yet is started first (with its sampler's thread)."""
        if self._sampler is None:
            self.start()
        snap = self.sampler.snapshot()
        mark = self._observe(snap)
        try:
            self.intensity_for(zone).prefetch(snap.wall)
        except Exception:  # prefetch is best effort and must not touch the cell
            log.debug("prefetch failed", exc_info=True)
        parent = self._open[0] if self._open else None
        if scope is None and parent is not None and parent.scope is not None:
            # A block nested in a cell bills what its cell bills (`%%carbon --scope`), unless it names its own.
            scope, scope_source = parent.scope, f"{parent.scope_source}, the enclosing cell's"
        window = Window(snap, label, zone, cell_id, execution_count, code_head, attribution=mark, scope=scope,
                        scope_source=scope_source, units=units, parent=parent)
        self._open.append(window)
        # Cell hooks (the cluster) bill top-level windows only: a nested block's tasks are its cell's.
        for hook in list(self.cell_hooks) if parent is None else []:
            try:
                hook.begin(window)
            except Exception:
                log.warning("cell hook %r failed at begin", hook, exc_info=True)
        return window

    def _close_window(self, window: Window) -> None:
        for i, w in enumerate(self._open):
            if w is window:
                del self._open[i]
                return

    def intensity_for(self, zone: str | None):
        if zone and zone != getattr(self.intensity, "zone", None) and self._intensity_for_zone:
            return self._intensity_for_zone(zone)
        return self.intensity

    def end(self, window: Window, status: str = "ok", sync: bool | None = None) -> CellRecord:
        if self.settings.cuda_sync if sync is None else sync:
            self._cuda_sync()
        end = self.sampler.snapshot()
        self._close_window(window)
        record = self.build_record(window, end, status, self._observe(end))
        for hook in list(self.cell_hooks) if window.parent is None else []:
            try:
                hook.end(window, record)
            except Exception:
                log.warning("cell hook %r failed at end", hook, exc_info=True)
        for fn in list(self.record_annotators):
            try:
                fn(record)
            except Exception:  # an annotation must not cost the record
                log.debug("record annotator failed", exc_info=True)
        self.records.append(record)  # kept before anything else can go wrong (or be interrupted)
        try:
            self.ledger.append(record)  # queued: the writer thread takes it to the file
        except Exception as exc:  # noqa: BLE001 - the record is kept in memory and the user told
            log.warning("ledger append failed: %s", exc)
            self.pending_notices.append(f"carbon_magic: could not queue the record for the ledger ({exc}); "
                                        "it is kept in memory for this session")
        for fn in list(self.record_listeners):
            try:
                fn(record)
            except Exception:
                log.debug("record listener failed", exc_info=True)
        return record

    def revise(self, record: CellRecord, revised: CellRecord) -> None:
        """Replace `record` (one of this session's) by `revised`, its next revision: the same object
        takes the new values (so `-o VAR` and the table see them), the ledger gets the new version,
        and the revision listeners (the JupyterLab comm) are told. Safe from any thread."""
        record.__dict__.update(revised.__dict__)  # one step under the GIL: readers see old or new
        try:
            self.ledger.append(record)
        except Exception as exc:  # noqa: BLE001 - kept in memory; the next revision tries again
            log.warning("ledger write of a revised record failed: %s", exc)
        for fn in list(self.revision_listeners):
            try:
                fn(record)
            except Exception:
                log.debug("revision listener failed", exc_info=True)

    def build_record(self, window: Window, end: Snapshot, status: str, end_mark=None) -> CellRecord:
        """The record of `window` ending at `end`; `end_mark` is the attributor's mark there (taken if None)."""
        end_mark = self._observe(end) if end_mark is None else end_mark
        start = window.start
        duration = max(0.0, end.t - start.t)
        points: list[Any] = [start, *self.sampler.window(start.t, end.t), end]
        components = [self._safe_component(src, start, end, duration, points) for src in self.sampler.sources]
        components, scope, reason = self._scoped(components, window, end, end_mark)
        if scope == "process":  # weigh the billed energy over time by the kernel's own profile
            inside = self.attributor.points(start.t, end.t)
            if inside is not None and window.attribution is not None and end_mark is not None:
                points = [window.attribution, *inside, end_mark]
        billed_j = sum(c.energy_j for c in components)
        energy_j = billed_j * self.settings.pue
        emissions_g, mean, segments = integrate(points, energy_j, self.intensity_for(window.zone).at)
        main = max(segments, key=lambda s: s["energy_j"])["intensity"] if segments else {}
        record = CellRecord(
            session_id=self.session_id, start_s=start.wall, end_s=end.wall,
            duration_s=duration, status=status, energy_j=energy_j, components=components,
            intensity_g_per_kwh=mean, intensity=dict(main), emissions_g=emissions_g,
            pue=self.settings.pue, cell_id=window.cell_id, execution_count=window.execution_count,
            label=window.label, code_head=window.code_head, intensity_segments=segments,
            scope=scope, scope_reason=reason, schema=SCHEMA_V2 if scope == "process" else SCHEMA,
            parent=None if window.parent is None else {
                "start_s": window.parent.start.wall, "cell_id": window.parent.cell_id,
                "label": window.parent.label},
            units=dict(window.units) if window.units else None,
        )
        self._disclose(record)
        return record

    def _disclose(self, record: CellRecord) -> None:
        """Water and embodied carbon of the record, estimated; left unset where they cannot be."""
        try:
            from .report import embodied, water  # noqa: PLC0415 - the report modules on the first record

            record.water_l, record.water = water.estimate(
                record.energy_j, record.pue, self.settings.wue_l_per_kwh,
                water.grid_water_l_per_kwh(record.intensity), (record.intensity or {}).get("provider"))
            record.embodied_g, record.embodied = embodied.estimate(
                gpu_boards(self.sampler.sources), record.duration_s, self.settings.embodied_host,
                resource_shares(record))
        except Exception:  # an estimate that fails must not cost the record
            log.warning("water/embodied estimate failed", exc_info=True)

    # -- scope -----------------------------------------------------------------------------
    def _observe(self, snap: Snapshot):
        """The attributor's mark at `snap`, or None (then the record is machine scope, with the reason)."""
        try:
            return self.attributor.observe(snap)
        except Exception as exc:  # noqa: BLE001 - attribution must never cost a record
            log.warning("attribution failed: %s", exc)
            return None

    def decide_scope(self, cell_scope: str | None = None, cell_source: str = "%%carbon --scope") -> Decision:
        """The scope a record ending now gets, and why (the cell's setting, else the session's)."""
        requested = cell_scope or self.settings.scope
        source = cell_source if cell_scope else self.settings.scope_source
        return decide(requested, source, self.attributor.usage(), self.attributor.cpu_problem)

    def _scoped(self, components, window: Window, end: Snapshot, end_mark):
        """(components with both figures, scope, reason) for a cell."""
        try:
            decision = self.decide_scope(window.scope, window.scope_source)
            if window.attribution is None or end_mark is None:
                return components, "machine", f"{decision.reason}; attribution unavailable, devices billed whole"
            return attribute(components, window.attribution, end_mark, decision)
        except Exception as exc:  # noqa: BLE001 - one odd number must not cost the record
            log.warning("scope could not be applied: %s", exc)
            return components, "machine", f"attribution failed ({type(exc).__name__}), devices billed whole"

    def _safe_component(self, src, start: Snapshot, end: Snapshot, duration: float, points: list) -> Component:
        """`_component`, or the source shown as failed if its numbers cannot be made sense of."""
        try:
            return self._component(src, start, end, duration, points)
        except Exception as exc:  # noqa: BLE001 - one odd source must not cost the record
            log.warning("component %s could not be computed: %s", getattr(src, "name", src), exc)
            return Component(str(getattr(src, "name", "?")), str(getattr(src, "kind", "?")),
                             str(getattr(src, "method", "estimated")), 0.0, "failed",
                             uncertainty_cause="sensor-failed")

    def _component(self, src, start: Snapshot, end: Snapshot, duration: float, points: list) -> Component:
        """One source's share of a cell: energy, method, status and uncertainty (model: uncertainty.py)."""
        name = src.name
        e = max(0.0, end.energy_j.get(name, 0.0) - start.energy_j.get(name, 0.0))
        m0, m1 = start.marks.get(name, NO_MARKS), end.marks.get(name, NO_MARKS)
        failed = (name in start.failed or name in end.failed or m1.failures != m0.failures
                  or m1.recoveries != m0.recoveries)
        method = src.method
        terms: list[tuple[str, float]] = []
        power = end.power_w.get(name) or start.power_w.get(name) or self.sampler.last_power_w(name)
        if failed:
            terms.append(("sensor-failed", (self.sampler.last_power_w(name) or 0.0) * duration))
        elif method == "counter":
            resolution = getattr(src, "resolution_s", 0.0)
            if power and (duration < resolution or e == 0.0):
                # Shorter than the counter's update period (or the counter did not move): its delta
                # is 0 or one whole update, both wrong. The last known power × duration instead.
                e, method = power * duration, "sampled"
                terms.append(("sampling", U.BELOW_RESOLUTION_FRACTION * e))
            else:
                cell_w = e / duration if duration > 0 else 0.0
                terms.append(("counter-resolution", U.COUNTER_EDGE_FRACTION * resolution * cell_w))
        elif method == "sampled":
            powers = [p.power_w.get(name) for p in points if p.power_w.get(name) is not None]
            spread = (max(powers) - min(powers)) if powers else 0.0
            terms.append(("sampling", U.SENSOR_ACCURACY * e + max(0.5 * spread * duration, U.ALIASING_FLOOR * e)))
        else:
            terms.append(("model", U.MODEL_FRACTION * e))
        estimated = max(0.0, end.uncertainty_j.get(name, 0.0) - start.uncertainty_j.get(name, 0.0))
        if m1.ambiguous != m0.ambiguous:
            terms.append(("ambiguous-gap", estimated))
        elif m1.resets != m0.resets:
            terms.append(("counter-reset", estimated))
        elif estimated > 0:
            terms.append(("estimated-interval", estimated))
        if failed:
            state = "failed"
        elif m1.ambiguous != m0.ambiguous:
            state = "ambiguous"
        elif m1.resets != m0.resets:
            state = "reset"
        else:
            state = "ok"
        kept = [(c, u) for c, u in terms if u > 0] or terms[:1]
        return Component(name, src.kind, method, e, state, uncertainty_j=sum(u for _, u in kept),
                         uncertainty_cause="+".join(c for c, _ in kept), mig=getattr(src, "mig", None))

    # -- session totals ------------------------------------------------------------------
    def _accumulate(self, snap: Snapshot) -> None:
        """Sampler-thread listener: add this tick's energy and emissions to the running totals."""
        last, self._last_tick = self._last_tick or snap, snap
        attributed = self.attributor.total_j()
        last_attributed, self._last_attributed_j = self._last_attributed_j, attributed
        pieces = intensity_pieces(last.wall, snap.wall, self.intensity.at)  # one look for both scopes
        for scope, e in (("machine", snap.total_j() - last.total_j()), ("process", attributed - last_attributed)):
            e = max(0.0, e) * self.settings.pue
            self._running_j[scope] += e
            self._running_g[scope] += emissions_of_pieces(last.wall, snap.wall, e, pieces)

    def applied_scope(self) -> str:
        """The scope the session's totals follow: the latest cell's, else the one a cell would get now."""
        for r in reversed(self.records):
            if r.parent is None:
                return r.scope
        return self.decide_scope().scope

    @property
    def cumulative_energy_j(self) -> float:
        """Running energy since the session started (after PUE), in the applied scope: under
        process scope this kernel's share, as its cells are, so idle = session − cells stays its own."""
        return self._running_j[self.applied_scope()]

    @property
    def cumulative_emissions_g(self) -> float:
        return self._running_g[self.applied_scope()]

    def sample_message(self, snap: Snapshot) -> dict:
        """What the live views plot for one instant: power by component, intensity, running totals."""
        iv = self.intensity.at(snap.wall)
        totals = self.totals()
        return {
            "t": snap.wall,
            "power_w": {k: v for k, v in snap.power_w.items() if v is not None},
            "methods": {s.name: s.method for s in self.sampler.sources},
            "intensity_g_per_kwh": iv.value_g_per_kwh,
            "intensity": dict(iv.provenance),
            "energy_j": totals["session_energy_j"],
            "emissions_g": totals["session_emissions_g"],
            "totals": totals,
        }

    def session_energy_j(self) -> float:
        """All energy since the session started, idle time between cells included (after PUE)."""
        return self.totals()["session_energy_j"]

    def totals(self) -> dict:
        """The session's three totals, named and computed the same for every view (the table's
        footer, `%carbon status`, the JupyterLab sidebar through the comm):

        - cells: the sum of the measured cells' records (top level only: a nested record's
          energy is already its parent's, so it is counted as `nested` and never summed);
        - session: everything the sampler saw since the extension loaded (its ticks, priced at the
          session's intensity tick by tick), never less than cells;
        - scope: which figure they are, the applied scope (`applied_scope`): under process scope
          every total is this kernel's share (session and idle from the attributor's running sum).
        - idle: session − cells, the energy between measured cells (never negative).

        Read from running sums, so it is cheap and safe from the sampler thread.
        """
        self._given("_sampler", "totals")
        every = list(self.records)
        records = top_level(every)
        scope = self.applied_scope()
        # Cluster nodes' energy is in the records but not in this machine's sampler: the cells'
        # figure here is this machine's part, and the cluster's is reported apart.
        cells_j = sum(r.energy_j - r.cluster_energy_j for r in records)
        cells_g = sum(r.emissions_g * _local_fraction(r) for r in records)
        session_j = max(self._running_j[scope], cells_j)
        session_g = max(self._running_g[scope], cells_g)
        return {"cells": len(records), "nested": len(every) - len(records),
                "cells_energy_j": cells_j, "cells_emissions_g": cells_g,
                "idle_energy_j": session_j - cells_j, "idle_emissions_g": session_g - cells_g,
                "session_energy_j": session_j, "session_emissions_g": session_g,
                "emissions_g": sum(r.emissions_g for r in records),
                "scope": scope, "cluster_energy_j": sum(r.cluster_energy_j for r in records)}

    def drain_load_notices(self) -> list[str]:
        """What setting up found (a bad zone, a shortened interval): to say at load, once."""
        out = list(self.pending_notices)
        self.pending_notices.clear()
        load = getattr(self._intensity, "load_notices", None)
        if isinstance(load, list):
            out += load
            load.clear()
        return out

    def drain_notices(self) -> list[str]:
        out = list(self.pending_notices)
        self.pending_notices.clear()
        for source in (self._ledger, self._intensity):
            try:
                out += source.notices() if source is not None else []
            except Exception:  # noqa: BLE001
                pass
        return out

    def close(self) -> None:
        """Stop measuring and release what the session holds: what start() made, and what it was
        given. A session never started, given nothing, has nothing to release: no file or sensor
        is touched."""
        listeners, self.close_listeners = list(self.close_listeners), []
        for fn in listeners:  # views detach from this session (e.g. the live widget's updater)
            try:
                fn()
            except Exception:  # closing must finish whatever a listener does
                log.debug("close listener failed", exc_info=True)
        if self._sampler is not None:
            self._sampler.stop()
        try:
            if self._intensity is not None:
                self._intensity.close()
        except Exception:  # noqa: BLE001
            pass
        if self._discovery is not None:
            self._discovery.close()
        if self._ledger is not None:
            self._ledger.close()  # never waits: what is queued is written in the background (and at exit)

