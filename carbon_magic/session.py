"""One measuring session: sources, sampler, intensity, ledger, and the records of its cells.

Both the IPython magics and `carbon_magic.measure()` use it: `begin()` takes the start snapshot,
`end()` takes the end snapshot, builds the CellRecord, appends it to the ledger and tells the
listeners (summary printer, live widget, JupyterLab comm). All collaborators are injected.
"""
from __future__ import annotations

import logging
import platform
import time
import uuid
from dataclasses import dataclass, field

from . import __version__
from . import uncertainty as U
from .co2 import emissions_over, integrate
from .config import Settings
from .cuda_sync import synchronize_cuda
from .ledger import Ledger
from .record import CellRecord, Component, iso_utc
from .sampler import NO_MARKS, Sampler, Snapshot
from .sources import Discovery, discover

log = logging.getLogger("carbon_magic")


@dataclass
class Window:
    """An open measurement: what `begin()` saw, kept until `end()`."""

    start: Snapshot
    label: str | None = None
    zone: str | None = None
    cell_id: str | None = None
    execution_count: int | None = None
    code_head: str | None = None
    extras: dict = field(default_factory=dict)  # what cell hooks keep between begin and end


class CarbonSession:
    def __init__(self, settings: Settings | None = None, discovery: Discovery | None = None,
                 ledger: Ledger | None = None, intensity=None, clock=time.monotonic, wall=time.time,
                 cuda_sync=synchronize_cuda, start_thread: bool = True, intensity_for_zone=None):
        self.pending_notices: list[str] = []
        self.settings = settings or Settings.from_env()
        self.session_id = uuid.uuid4().hex[:16]
        self.discovery = discovery or discover(self.settings.powercap_root, cpu_tdp_w=self.settings.cpu_tdp_w)
        self.sampler = Sampler(self.discovery.sources, self.settings.interval_s, clock=clock, wall=wall)
        self.settings.interval_s = self.sampler.interval_s  # shortened where a counter could wrap twice
        self.pending_notices += self.sampler.warnings
        self.ledger = ledger or Ledger.in_dir(self.settings.data_dir)
        if intensity is None:
            from .intensity import make_service  # noqa: PLC0415
            intensity = make_service(self.settings, self.ledger)
        self.intensity = intensity
        self._intensity_for_zone = intensity_for_zone or getattr(intensity, "for_zone", None)
        self._cuda_sync = cuda_sync
        self.records: list[CellRecord] = []
        self.record_listeners: list = []  # fn(record) called on the main thread after each cell
        self.close_listeners: list = []  # fn() called once by close(), before the sampler stops
        # Objects with begin(window) and end(window, record), called at each cell's edges on the
        # main thread (end before the record is written): carbon_magic.cluster adds its part so.
        self.cell_hooks: list = []
        self.revision_listeners: list = []  # fn(record) after revise(), from any thread
        self._host = self._host_info()
        self.started_at = iso_utc(self.sampler.first.wall)
        self.ledger.put_session(self.session_id, self.started_at, self.describe())
        # Running session totals (idle time included), priced at the intensity of each tick.
        self.cumulative_energy_j = 0.0
        self.cumulative_emissions_g = 0.0
        self._last_tick = self.sampler.first
        self.sampler.add_listener(self._accumulate, period_s=0.0)
        if start_thread:
            self.sampler.start()

    # -- identity ------------------------------------------------------------------------
    def describe(self) -> dict:
        """Who measured what, for exports (no secrets, no user names)."""
        return {**self._host, "pue": self.settings.pue, "zone": self.settings.zone,
                "interval_s": self.settings.interval_s}

    def _host_info(self) -> dict:
        """The parts of `describe()` that cannot change during a session, read once."""
        import psutil  # noqa: PLC0415
        return {
            "carbon_magic_version": __version__,
            "python_version": platform.python_version(),
            "os": platform.platform(),
            "cpu_model": platform.processor() or platform.machine(),
            "cpu_count": psutil.cpu_count() or 1,
            "ram_total_size_gb": round(psutil.virtual_memory().total / 1e9, 3),
            "gpu_count": sum(1 for s in self.discovery.sources if s.kind == "gpu"),
            "gpu_uuids": [getattr(s, "uuid", None) for s in self.discovery.sources if s.kind == "gpu"],
            "sensors": [{"name": s.name, "kind": s.kind, "method": s.method,
                         **({"mig": s.mig} if getattr(s, "mig", None) else {})} for s in self.discovery.sources],
            "skipped": [{"name": k.name, "reason": k.reason, "fix": k.fix} for k in self.discovery.skipped],
        }

    # -- measuring -----------------------------------------------------------------------
    def begin(self, label=None, zone=None, cell_id=None, execution_count=None, code_head=None) -> Window:
        snap = self.sampler.snapshot()
        try:
            self.intensity_for(zone).prefetch(snap.wall)
        except Exception:  # noqa: BLE001 - prefetch is best effort and must not touch the cell
            log.debug("prefetch failed", exc_info=True)
        window = Window(snap, label, zone, cell_id, execution_count, code_head)
        for hook in list(self.cell_hooks):
            try:
                hook.begin(window)
            except Exception:  # noqa: BLE001 - a hook must never touch the cell
                log.warning("cell hook %r failed at begin", hook, exc_info=True)
        return window

    def intensity_for(self, zone: str | None):
        if zone and zone != getattr(self.intensity, "zone", None) and self._intensity_for_zone:
            return self._intensity_for_zone(zone)
        return self.intensity

    def end(self, window: Window, status: str = "ok", sync: bool | None = None) -> CellRecord:
        if self.settings.cuda_sync if sync is None else sync:
            self._cuda_sync()
        end = self.sampler.snapshot()
        record = self.build_record(window, end, status)
        for hook in list(self.cell_hooks):
            try:
                hook.end(window, record)
            except Exception:  # noqa: BLE001 - the record is kept without the hook's part
                log.warning("cell hook %r failed at end", hook, exc_info=True)
        try:
            self.ledger.append(record)
        except Exception as exc:  # noqa: BLE001 - the record is kept in memory and the user told
            log.warning("ledger write failed: %s", exc)
            self.pending_notices.append(f"carbon_magic: could not write the ledger ({exc}); "
                                        "the record is kept in memory for this session")
        self.records.append(record)
        for fn in list(self.record_listeners):
            try:
                fn(record)
            except Exception:  # noqa: BLE001
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
            except Exception:  # noqa: BLE001
                log.debug("revision listener failed", exc_info=True)

    def build_record(self, window: Window, end: Snapshot, status: str) -> CellRecord:
        start = window.start
        duration = max(0.0, end.t - start.t)
        points = [start, *self.sampler.window(start.t, end.t), end]
        components = [self._safe_component(src, start, end, duration, points) for src in self.sampler.sources]
        device_j = sum(c.energy_j for c in components)
        energy_j = device_j * self.settings.pue
        emissions_g, mean, segments = integrate(points, energy_j, self.intensity_for(window.zone).at)
        main = max(segments, key=lambda s: s["energy_j"])["intensity"] if segments else {}
        return CellRecord(
            session_id=self.session_id, started_at=iso_utc(start.wall), ended_at=iso_utc(end.wall),
            duration_s=duration, status=status, energy_j=energy_j, components=components,
            intensity_g_per_kwh=mean, intensity=dict(main), emissions_g=emissions_g,
            pue=self.settings.pue, cell_id=window.cell_id, execution_count=window.execution_count,
            label=window.label, code_head=window.code_head, intensity_segments=segments,
        )

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
        last, self._last_tick = self._last_tick, snap
        e = max(0.0, snap.total_j() - last.total_j()) * self.settings.pue
        self.cumulative_energy_j += e
        self.cumulative_emissions_g += emissions_over(last.wall, snap.wall, e, self.intensity.at)

    def sample_message(self, snap: Snapshot) -> dict:
        """What the live views plot for one instant: power by component, intensity, running totals."""
        iv = self.intensity.at(snap.wall)
        return {
            "t": snap.wall,
            "power_w": {k: v for k, v in snap.power_w.items() if v is not None},
            "methods": {s.name: s.method for s in self.sampler.sources},
            "intensity_g_per_kwh": iv.value_g_per_kwh,
            "intensity": dict(iv.provenance),
            "energy_j": self.cumulative_energy_j,
            "emissions_g": self.cumulative_emissions_g,
        }

    def session_energy_j(self) -> float:
        """All energy since the session started, idle time between cells included (after PUE)."""
        now = self.sampler.snapshot()
        return max(0.0, now.total_j() - self.sampler.first.total_j()) * self.settings.pue

    def totals(self) -> dict:
        cells_j = sum(r.energy_j - r.cluster_energy_j for r in self.records)  # this machine's part
        total_j = max(self.session_energy_j(), cells_j)
        return {"cells": len(self.records), "cells_energy_j": cells_j, "session_energy_j": total_j,
                "idle_energy_j": total_j - cells_j, "emissions_g": sum(r.emissions_g for r in self.records),
                "cluster_energy_j": sum(r.cluster_energy_j for r in self.records)}

    def drain_notices(self) -> list[str]:
        out = list(self.pending_notices)
        self.pending_notices.clear()
        try:
            out += self.intensity.notices()
        except Exception:  # noqa: BLE001
            pass
        return out

    def close(self) -> None:
        listeners, self.close_listeners = list(self.close_listeners), []
        for fn in listeners:  # views detach from this session (e.g. the live widget's updater)
            try:
                fn()
            except Exception:  # noqa: BLE001 - closing must finish whatever a listener does
                log.debug("close listener failed", exc_info=True)
        self.sampler.stop()
        try:
            self.intensity.close()
        except Exception:  # noqa: BLE001
            pass
        self.discovery.close()
        self.ledger.close()

