"""The source contract shared by NVML, RAPL and the estimators."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Reading:
    """Cumulative energy since the source started, and the latest power if known.

    The last three fields are cumulative too, so that any two readings bound an interval:
    `uncertainty_j` is the uncertainty of the energy that had to be estimated (a counter reset, a
    gap that may hide wraps), and `resets` / `ambiguous` count those events.
    """

    energy_j: float
    power_w: float | None = None
    uncertainty_j: float = 0.0
    resets: int = 0
    ambiguous: int = 0


@dataclass(frozen=True)
class Skipped:
    """A sensor that was looked for and not used: why, and the one-line fix."""

    name: str
    reason: str
    fix: str = ""

    def line(self) -> str:
        return f"{self.name}: {self.reason}" + (f" Fix: {self.fix}" if self.fix else "")


class SourceFailed(Exception):
    """A source stopped working (GPU fell off the bus, file vanished).

    The sampler marks the source failed (any other exception from `read` is treated the same),
    keeps it in every record with status `failed`, and tries it again every few seconds.
    """


class Source(Protocol):
    name: str
    kind: str  # gpu | cpu | dram | ram
    method: str  # counter | sampled | estimated
    # Time between counter updates; a cell shorter than this may read 0 J from a counter.
    resolution_s: float
    # Optional: the longest gap between reads in which the counter cannot wrap more than once
    # (max range / ceiling power); the sampler keeps its interval well under it.
    # safe_gap_s: float | None

    def read(self, now: float) -> Reading:
        """Cumulative energy at monotonic time `now`. Raises SourceFailed when the device is gone."""
        ...

    def close(self) -> None:
        ...
