"""Where a backtest's range really ends: at the stored data, never past it.

A range asked past the last stored window ends at that window (as the scorecard does), so the
run is not annualised over hours it has no data for. A trade closing at a window end counts every
settlement of both legs up to that end, so the range also ends at the last window by which both
legs' settlements are stored: a leg whose next settlement is due at or before a later window end
but not stored yet would give that trade one leg's funding only. Each cut comes with a note saying
why, which `arbdb backtest` prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlite_utils

from pipelines.config.pairs import Pair
from pipelines.core.timeutil import parse_iso
from pipelines.store.market import has_funding_from, last_funding
from pipelines.store.windows import has_window_after, last_window_end

_MINUTE = "%Y-%m-%d %H:%M"


@dataclass
class Span:
    """The range a backtest runs over, (start, end], and why its end is before the one asked."""

    start: datetime
    end: datetime
    asked: datetime
    notes: list[str] = field(default_factory=list)


def _last_window(db: sqlite_utils.Database, pair: str, start: datetime, end: datetime) -> datetime | None:
    last = last_window_end(db, pair, start, end)
    return parse_iso(last) if last else None


def next_due(db: sqlite_utils.Database, exchange: str, symbol: str, end: datetime) -> tuple | None:
    """None when the leg has a settlement stored at or after `end` (all before it are known), else
    (last stored funding time or None, the time its next settlement is due): a window end before
    that due time has all its settlements stored. With no interval stored, due = just after the last."""
    if has_funding_from(db, exchange, symbol, end):
        return None
    row = last_funding(db, exchange, symbol)
    if not row:
        return None, datetime.min.replace(tzinfo=end.tzinfo)
    last = parse_iso(row[0])
    return last, last + (timedelta(hours=row[1]) if row[1] else timedelta(microseconds=1))


def usable_span(db: sqlite_utils.Database, pair: Pair, start: datetime, end: datetime) -> Span:
    """(start, end] held to the last stored window, then to the last window end by which both legs'
    settlements are stored; a note for each cut."""
    span = Span(start, end, end)
    last = _last_window(db, pair.name, start, end)
    if last is None:
        return span  # nothing stored in the range: the caller says so
    later = has_window_after(db, pair.name, end)
    if last < end and not later:
        span.end = last
        span.notes.append(f"range ends at the last stored window {last:{_MINUTE}} (asked to {end:{_MINUTE}})")
    for leg in pair.legs:
        due = next_due(db, leg.exchange, leg.symbol, span.end)
        if due is None or due[1] > span.end:
            continue
        cut = _last_window(db, pair.name, start, due[1] - timedelta(microseconds=1)) if due[0] else None
        held = f"range ends at {cut:{_MINUTE}}" if cut else "no window to backtest"
        stored = (
            f"are stored to {due[0]:{_MINUTE}}, the next one (due {due[1]:{_MINUTE}}) is not"
            if due[0]
            else "are not stored"
        )
        which = "a later" if due[0] else "every"
        span.notes.append(
            f"{held}: {leg.exchange}:{leg.symbol} settlements {stored}, so {which} close would count"
            " one leg's funding only"
        )
        span.end = cut or start
    return span
