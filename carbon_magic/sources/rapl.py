"""CPU package and DRAM energy from Linux RAPL powercap zones (Intel and AMD).

Layout (flat symlinks under /sys/class/powercap, subzones also nested):
``intel-rapl:0`` name ``package-0`` · ``intel-rapl:0:0`` ``core`` · ``intel-rapl:0:1`` ``uncore`` ·
``intel-rapl:0:2`` ``dram`` · ``intel-rapl:1`` ``psys`` · ``intel-rapl-mmio:0`` ``package-0`` (a copy).
Zones are chosen by their ``name`` file, never by index: packages and dram are kept; core and
uncore are inside the package and psys overlaps it, so they are left out; MMIO copies of a
package are dropped when the MSR zone is readable. ``energy_uj`` wraps at ``max_energy_range_uj``.
"""
from __future__ import annotations

import os
import re
import threading
from pathlib import Path

from .base import Reading, Skipped

_ZONE_DIR = re.compile(r"^[a-z]+-rapl(-mmio)?:\d+(:\d+)?$")
_CONTROL_DIR = re.compile(r"^[a-z]+-rapl(-mmio)?$")

RAPL_FIX = (
    "sudo chmod a+r {root}/*/energy_uj (until reboot; a udev rule or systemd-tmpfiles entry makes it "
    "permanent), then %reload_ext carbon_magic"
)


# Power no zone can draw (W), used to tell a wrap from a reset and to size the safe read gap.
# Without constraint files: 1 kW per package (the largest server CPUs are rated ~500 W) and
# 500 W for DRAM (a fully populated 12-channel DDR5 socket draws well under 200 W).
DEFAULT_CEILING_W = {"cpu": 1000.0, "dram": 500.0}
MIN_CEILING_W = 50.0
# Slack on the plausibility test: a read can land just after a ~1 ms counter update.
SLACK_S = 0.05
# Power is derived over at least this window, never from two reads a few µs apart.
POWER_WINDOW_S = 0.1
# A counter that has not moved for this long really reads 0 W (a package never does; an idle
# DRAM zone on a coarse counter might): only then is a still window taken as zero power.
STILL_S = 1.0
GAP_POWER_WINDOW_S = 1.0


def _read_int(path: Path) -> int | None:
    try:
        value = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    return value if value > 0 else None


def _ceiling_w(path: Path, kind: str) -> float:
    """Twice the largest power limit the zone accepts (constraint_*_max_power_uw), else a default."""
    limits_uw = [_read_int(f) for f in sorted(path.glob("constraint_*_max_power_uw"))]
    limits_w = [v / 1e6 for v in limits_uw if v]
    if limits_w:
        return max(MIN_CEILING_W, 2.0 * max(limits_w))
    return DEFAULT_CEILING_W.get(kind, 1000.0)


class RaplZone:
    """One powercap zone read as a cumulative, wrap-corrected energy counter.

    Every step between two reads is judged against a power ceiling before it is booked:
    - forward and plausible: booked as read;
    - backwards, and the wrap it implies is plausible (≤ ceiling × gap): one wrap;
    - backwards or forwards by more than the zone can draw: a reset (module reload, suspend);
      the interval is estimated as last power × gap, with that much uncertainty, and counted;
    - a gap longer than `safe_gap_s` (the interpreter was blocked, e.g. C code holding the GIL)
      may hide whole wraps: their number is estimated from the last power, the interval is
      counted as ambiguous with ± one counter range of uncertainty;
    - no readable max_energy_range_uj and a backwards step: estimated and counted as ambiguous.
    """

    method = "counter"
    resolution_s = 0.001  # RAPL updates about every millisecond

    def __init__(self, path: Path, name: str, kind: str, opener=open):
        self._open = opener
        self.path = Path(path)
        self.name = name
        self.kind = kind
        self._energy_file = self.path / "energy_uj"
        self.max_range_uj = _read_int(self.path / "max_energy_range_uj")  # None: unknown
        self.ceiling_w = _ceiling_w(self.path, kind)
        self._lock = threading.Lock()
        self._last_uj = self._read_uj()
        self._last_t: float | None = None
        self._total_uj = 0.0
        self._uncertainty_uj = 0.0
        self._power_w: float | None = None
        self._window: tuple[float, float] | None = None  # (t, total µJ) where the power window began
        # The mean power over the last ~GAP_POWER_WINDOW_S, for pricing a gap the counter cannot
        # resolve (several wraps, a reset): steadier than the 0.1 s window when load is bursty.
        self._gap_power_w: float | None = None
        self._gap_window: tuple[float, float] | None = None
        self.wraps = 0
        self.resets = 0
        self.ambiguous = 0

    @property
    def safe_gap_s(self) -> float | None:
        """Longest gap between reads that cannot hide a whole wrap at the ceiling power."""
        if self.max_range_uj is None:
            return None
        return self.max_range_uj / 1e6 / self.ceiling_w

    def _read_once(self) -> bytes:
        with self._open(self._energy_file, "rb") as f:
            return f.read().strip()

    def _read_uj(self) -> int:
        # One retry: a file being rewritten can read empty for an instant.
        value = int(self._read_once() or self._read_once())
        if value < 0:
            raise ValueError(f"{self._energy_file} read a negative energy ({value})")
        return value

    def _step_uj(self, raw: int, dt: float) -> tuple[float, float]:
        """(µJ to book, µJ of uncertainty) for the step from the last read to `raw` over dt seconds."""
        delta = raw - self._last_uj
        rng = self.max_range_uj
        allowed = self.ceiling_w * 1e6 * (dt + SLACK_S)
        p = self._gap_power_w if self._gap_power_w is not None else self._power_w
        if rng is not None and dt > 0 and allowed - (delta % rng) >= rng:
            # Long gap: the counter may have wrapped more than once; the reading cannot tell.
            base = delta % rng
            n_max = int((allowed - base) // rng)
            n = 0 if p is None else min(n_max, max(0, round((p * 1e6 * dt - base) / rng)))
            self.ambiguous += 1
            self.wraps += n + (1 if delta < 0 else 0)
            return base + n * rng, float(rng if p is not None else n_max * rng)
        if 0 <= delta <= allowed:
            return float(delta), 0.0
        if delta < 0 and rng is not None and delta + rng <= allowed:
            self.wraps += 1
            return float(delta + rng), 0.0
        estimate = (p or 0.0) * 1e6 * dt
        if delta < 0 and rng is None:  # a wrap of unknown size, or a reset: cannot tell
            self.ambiguous += 1
            estimate = max(estimate, float(raw))
        else:  # more than the zone can draw: the counter was reset, not wrapped
            self.resets += 1
        return estimate, estimate

    def read(self, now: float) -> Reading:
        with self._lock:
            raw = self._read_uj()
            if self._last_t is None:  # the first read only sets the baseline (no cell starts before it)
                booked, uncertain = 0.0, 0.0
            else:
                booked, uncertain = self._step_uj(raw, max(0.0, now - self._last_t))
            self._last_uj = raw
            self._last_t = now
            self._total_uj += booked
            self._uncertainty_uj += uncertain
            if self._gap_window is None:
                self._gap_window = (now, self._total_uj)
            elif now - self._gap_window[0] >= GAP_POWER_WINDOW_S and uncertain == 0.0:
                self._gap_power_w = (self._total_uj - self._gap_window[1]) / 1e6 / (now - self._gap_window[0])
                self._gap_window = (now, self._total_uj)
            elif uncertain > 0.0:  # an estimated step is no measurement of power: start again
                self._gap_window = (now, self._total_uj)
            if self._window is None:
                self._window = (now, self._total_uj)
            elif now - self._window[0] >= POWER_WINDOW_S:
                moved = self._total_uj > self._window[1]
                if moved or self._power_w is None or now - self._window[0] >= STILL_S:
                    self._power_w = (self._total_uj - self._window[1]) / 1e6 / (now - self._window[0])
                    self._window = (now, self._total_uj)
                # else: a counter that did not move at all in a window says nothing new (a counter
                # updated in coarse steps, a starved writer): keep the last power, widen the window.
            power = self._power_w
            if power is None and now > self._window[0]:
                # No full window yet (the session just started): what the partial one says, bounded.
                power = min(self.ceiling_w, (self._total_uj - self._window[1]) / 1e6 / (now - self._window[0]))
            return Reading(self._total_uj / 1e6, power, self._uncertainty_uj / 1e6, self.resets, self.ambiguous)

    def close(self) -> None:
        pass


def _zone_dirs(root: Path) -> list[Path]:
    """All zone directories below root, each once.

    root may be /sys/class/powercap (flat symlinks to every zone), the devices-level directory
    /sys/devices/virtual/powercap (control-type directories `intel-rapl`, `intel-rapl-mmio`
    holding the zones), a control-type directory, or a single zone (a container mount of one).
    """
    seen: set[str] = set()
    found: list[Path] = []
    if _ZONE_DIR.match(root.name) and (root / "energy_uj").exists():
        seen.add(os.path.realpath(root))
        found.append(root)
    stack = [root]
    while stack:
        d = stack.pop()
        try:
            entries = sorted(os.scandir(d), key=lambda e: e.name)
        except OSError:
            continue
        for e in entries:
            if _CONTROL_DIR.match(e.name) and d == root:  # control type: descend, it is not a zone
                real = os.path.realpath(e.path)
                if real not in seen:
                    seen.add(real)
                    stack.append(Path(e.path))
                continue
            if not _ZONE_DIR.match(e.name):
                continue
            real = os.path.realpath(e.path)
            if real in seen:
                continue
            seen.add(real)
            found.append(Path(e.path))
            stack.append(Path(e.path))
    return found


def discover_rapl(root: str | os.PathLike, opener=open) -> tuple[list[RaplZone], list[Skipped]]:
    """RAPL zones under root. `opener` is the one seam for tests (e.g. to deny access as root)."""
    root = Path(root)
    fix = RAPL_FIX.format(root=root)
    if not root.is_dir():
        return [], [Skipped(
            "cpu:rapl", f"no powercap directory at {root} (not Linux, or a VM or container without RAPL)",
            "in a container, mount the host's /sys/class/powercap read-only and set CARBON_MAGIC_POWERCAP_ROOT",
        )]
    zones: dict[str, RaplZone] = {}
    skipped: list[Skipped] = []
    denied: list[str] = []
    candidates = []
    for d in _zone_dirs(root):
        try:
            zname = (d / "name").read_text().strip()
        except OSError:
            continue
        mmio = "-mmio" in d.name
        if zname.startswith("package"):
            kind, label = "cpu", f"cpu:{zname}"
        elif zname == "dram":
            parent = d.parent
            try:
                pname = (parent / "name").read_text().strip() if _ZONE_DIR.match(parent.name) else ""
            except OSError:
                pname = ""
            if not pname:  # flat layout: intel-rapl:0:2 belongs to intel-rapl:0
                m = re.match(r"^(.*-rapl(?:-mmio)?:\d+):\d+$", d.name)
                if m and (root / m.group(1) / "name").exists():
                    pname = (root / m.group(1) / "name").read_text().strip()
            kind, label = "dram", f"dram:{pname or d.name}"
        else:
            continue  # core/uncore are inside the package; psys overlaps it
        candidates.append((mmio, label, kind, d))
    # MSR zones first so that an MMIO copy of the same package is the one dropped.
    for _mmio, label, kind, d in sorted(candidates, key=lambda c: c[0]):
        if label in zones:
            continue
        try:
            zones[label] = RaplZone(d, label, kind, opener)
        except PermissionError:
            denied.append(label)
        except (OSError, ValueError) as exc:
            skipped.append(Skipped(label, f"cannot read {d / 'energy_uj'}: {exc}", ""))
    for label in denied:
        if label not in zones:
            skipped.append(Skipped(
                label, f"{root}/…/energy_uj is readable by root only (Linux ≥ 5.10, CVE-2020-8694)", fix))
    if not zones and not skipped:
        skipped.append(Skipped("cpu:rapl", f"no RAPL package zones under {root}", ""))
    return list(zones.values()), skipped
