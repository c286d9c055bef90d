"""Power sources: anything that reports cumulative energy in joules.

A source has a `name` (``gpu:0``, ``cpu:package-0``), a `kind` (``gpu``, ``cpu``, ``dram``,
``ram``), a `method` (``counter``: a hardware energy counter; ``sampled``: instantaneous power
integrated over time; ``estimated``: a model from utilisation), and `read()` which returns
a `Reading` of cumulative energy since the source was created. Units are converted once, where
the number enters (µJ, mJ and mW never leave their source module).
"""
from .base import Reading, Skipped, Source, SourceFailed
from .discovery import Discovery, discover

__all__ = ["Reading", "Skipped", "Source", "SourceFailed", "Discovery", "discover"]
