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

RAPL_FIX = (
    "sudo chmod a+r {root}/*/energy_uj (until reboot; a udev rule or systemd-tmpfiles entry makes it "
    "permanent), then %reload_ext carbon_magic"
)


class RaplZone:
    """One powercap zone read as a cumulative, wrap-corrected energy counter."""

    method = "counter"
    resolution_s = 0.001  # RAPL updates about every millisecond

    def __init__(self, path: Path, name: str, kind: str, opener=open):
        self._open = opener
        self.path = Path(path)
        self.name = name
        self.kind = kind
        self._energy_file = self.path / "energy_uj"
        try:
            self.max_range_uj = int((self.path / "max_energy_range_uj").read_text().strip())
        except (OSError, ValueError):
            self.max_range_uj = 2**32  # conservative: a 32-bit counter
        self._lock = threading.Lock()
        self._last_uj = self._read_uj()
        self._last_t: float | None = None
        self._total_uj = 0
        self._power_w: float | None = None
        self.wraps = 0

    def _read_once(self) -> bytes:
        with self._open(self._energy_file, "rb") as f:
            return f.read().strip()

    def _read_uj(self) -> int:
        # One retry: a file being rewritten can read empty for an instant.
        return int(self._read_once() or self._read_once())

    def read(self, now: float) -> Reading:
        with self._lock:
            raw = self._read_uj()
            delta = raw - self._last_uj
            if delta < 0:  # the counter wrapped once since the last read
                delta += self.max_range_uj
                self.wraps += 1
            self._last_uj = raw
            self._total_uj += delta
            if self._last_t is not None and now > self._last_t:
                self._power_w = delta / 1e6 / (now - self._last_t)
            self._last_t = now
            return Reading(self._total_uj / 1e6, self._power_w)

    def close(self) -> None:
        pass


def _zone_dirs(root: Path) -> list[Path]:
    """All zone directories below root (flat symlinks and nested subzones), each once."""
    seen: set[str] = set()
    found: list[Path] = []
    stack = [root]
    while stack:
        d = stack.pop()
        try:
            entries = sorted(os.scandir(d), key=lambda e: e.name)
        except OSError:
            continue
        for e in entries:
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
    for mmio, label, kind, d in sorted(candidates, key=lambda c: c[0]):
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
