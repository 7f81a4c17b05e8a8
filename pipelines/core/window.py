"""The funding window: the unit of work. Pure functions of a timestamp and an interval."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


@dataclass(frozen=True, order=True)
class Window:
    """A funding period [start, end); `end` is the settlement time the window is named by."""

    start: datetime
    end: datetime

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600


def funding_window(ts: datetime, interval_hours: float = 8) -> Window:
    """The window holding `ts`: start <= ts < end, periods aligned to 00:00 UTC.

    A timestamp exactly on a funding time opens the next window (08:00:00 is in [08:00, 16:00)).
    """
    if ts.tzinfo is None:
        raise ValueError(f"timestamp {ts!r} has no timezone; arbdb works in UTC only")
    ts = ts.astimezone(UTC)
    period = timedelta(hours=interval_hours)
    midnight = ts.replace(hour=0, minute=0, second=0, microsecond=0)
    start = midnight + period * ((ts - midnight) // period)
    return Window(start, start + period)


def last_closed_window(now: datetime, interval_hours: float = 8) -> Window:
    """The most recent window whose settlement time is at or before `now`."""
    current = funding_window(now, interval_hours)
    period = current.end - current.start
    return Window(current.start - period, current.start)


def windows_between(start: datetime, end: datetime, interval_hours: float = 8) -> list[Window]:
    """Every window whose settlement time lies in (start, end], oldest first."""
    out = []
    w = funding_window(start, interval_hours)
    while w.end <= end:
        out.append(w)
        w = Window(w.end, w.end + (w.end - w.start))
    return out
