"""Deferrals (a wait before a cell, pauses inside one) written into the records they concern.

A `%carbon wait` is written into the next record that starts after the wait ended; the pauses of
`green()` into the record of the cell they ran in. Each record gets `deferred_s`, `avoided_g` and
`avoided_basis` (record.DEFERRAL_KEYS). The saving is priced with the forecast first; once the
intensity service holds realised values over both spans (the wait's "start at once" and the real
run), the record is re-priced with them and marked `actual`. That happens whenever a later record
is built (or `settle()` is called), in the session's records (table, exports); the ledger row
keeps the figure it was written with.
"""
from __future__ import annotations

import logging
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

from ..intensity.schedule import Series, pieces_of
from ..record import CellRecord
from .forecast import moved_saving_g, series_at

log = logging.getLogger("carbon_magic")

TOLERANCE_S = 1.0  # record edges and the moments a wait or a pause were noted


@dataclass
class Deferral:
    kind: str  # "wait" (before the next cell) or "pause" (inside the running cell)
    deferred_s: float
    noted_s: float  # the session's wall time when it ended (which record it belongs to)
    began_noted_s: float | None = None  # pause: the session's wall time when the loop started
    zone: str | None = None
    # wait: the forecast saving is priced over the record's energy, moved from `began_s` (start
    # at once) to `start_s` (when the wait ended), in the times of `forecast` (a replay's times).
    began_s: float | None = None
    start_s: float | None = None
    forecast: Series | None = None
    settle: bool = True  # re-price with realised values later (not for a recorded forecast)
    avoided_g: float | None = None  # pause: priced by the pauser
    basis: str = "forecast"
    resettle: Callable[[], tuple[float | None, bool]] | None = None  # pause: (grams, realised) by the service's current values


@dataclass
class _Applied:
    record: CellRecord
    deferrals: list[Deferral] = field(default_factory=list)


class Book:
    """One session's deferrals, waiting for their record, then for realised values."""

    def __init__(self, session):
        self._session = weakref.ref(session)
        self.pending: list[Deferral] = []
        self.unsettled: list[_Applied] = []

    def now(self) -> float:
        s = self._session()
        return s.intensity.now() if s is not None else 0.0

    def note(self, d: Deferral) -> None:
        self.pending.append(d)

    def annotate(self, record) -> None:
        """Session annotator: write pending deferrals into `record`, then settle older ones."""
        start, end = record.start_s, record.end_s
        mine, keep = [], []
        for d in self.pending:
            if d.kind == "wait" and start >= d.noted_s - TOLERANCE_S:
                mine.append(d)
            elif d.kind == "pause" and start <= (d.began_noted_s or d.noted_s) + TOLERANCE_S \
                    and end >= d.noted_s - TOLERANCE_S:
                mine.append(d)
            elif d.kind == "wait" or end < d.noted_s:  # a wait waits for its cell; a pause in an
                keep.append(d)                          # unmeasured cell is dropped by the next one
        self.pending = keep
        self.settle()
        if mine:
            applied = _Applied(record, mine)
            self._write(applied, realised_only=False)
            if any(d.settle for d in mine) and record.avoided_basis != "actual":
                self.unsettled.append(applied)

    def settle(self) -> None:
        """Re-price records whose savings were forecast, where realised values now cover them."""
        still = []
        for applied in self.unsettled:
            if not self._write(applied, realised_only=True):
                still.append(applied)
        self.unsettled = still

    def _write(self, applied: _Applied, realised_only: bool) -> bool:
        """Price `applied`; write it unless realised_only and some value is not realised. True if
        every part was priced with realised values."""
        record = applied.record
        total, realised, priced = 0.0, True, False
        for d in applied.deferrals:
            grams, r = self._price(d, record, realised_only)
            if grams is not None:
                total += grams
                priced = True
            realised = realised and r
        if realised_only and not (realised and priced):
            return False
        record.deferred_s = sum(d.deferred_s for d in applied.deferrals)
        record.avoided_g = total if priced else None
        record.avoided_basis = ("actual" if realised else "forecast") if priced else None
        return realised and priced

    def _price(self, d: Deferral, record, realised_only: bool):
        if d.kind == "pause":
            if realised_only:
                if not d.settle or d.resettle is None:
                    return None, False
                return d.resettle()
            return d.avoided_g, d.basis == "actual"
        pieces = record_pieces(record)
        if not realised_only:
            if d.forecast is None or d.began_s is None or d.start_s is None:
                return None, False
            grams, _ = moved_saving_g(pieces, series_at(d.forecast), d.began_s, d.start_s)
            return grams, False
        session = self._session()
        if not d.settle or session is None or d.began_s is None:
            return None, False
        feed = session.intensity.for_zone(d.zone)
        return moved_saving_g(pieces, feed.at, d.began_s, record.start_s)


def record_pieces(record) -> list[tuple[float, float, float]]:
    """(offset_start_s, offset_end_s, energy_j) of a record's intensity segments, from its start."""
    t0 = record.start_s
    return [(p.start_s - t0, p.end_s - t0, p.energy_j) for p in pieces_of([record]) if p.energy_j > 0]


_BOOKS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def book_for(session) -> Book:
    """The session's book, created (and hooked into its records) on first use."""
    book = _BOOKS.get(session)
    if book is None:
        book = _BOOKS[session] = Book(session)
        session.record_annotators.append(book.annotate)
    return book


def settle(session) -> None:
    """Re-price this session's deferred records where realised intensities have come in."""
    book = _BOOKS.get(session)
    if book is not None:
        book.settle()
