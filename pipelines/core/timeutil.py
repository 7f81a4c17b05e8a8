"""One timestamp representation for the whole store: ISO 8601 UTC text, second precision, `Z` suffix.

`2024-03-01T08:00:00Z` sorts as text in time order, reads at a glance in `sqlite3`, and round-trips
through pandas. Everything in memory is a timezone-aware UTC `datetime` or `datetime64[ns, UTC]`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pandas as pd

from pipelines.core.errors import UsageError

ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def to_iso(ts: datetime | pd.Timestamp) -> str:
    """Format a timestamp (naive = UTC) as the store's ISO text."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC).strftime(ISO_FORMAT)


def parse_iso(text: str) -> datetime:
    """Parse the store's ISO text (or any ISO 8601 string) into an aware UTC datetime."""
    ts = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def series_to_iso(values: pd.Series) -> pd.Series:
    """Vectorized `to_iso` for a datetime64 series; NaT becomes None."""
    text = pd.to_datetime(values, utc=True).dt.strftime(ISO_FORMAT)
    return text.astype(object).where(text.notna(), None)


def series_from_iso(values: pd.Series) -> pd.Series:
    """Parse a series of store ISO text into datetime64[ns, UTC]."""
    return pd.to_datetime(values, utc=True, format="ISO8601")


def day_start(d: date | datetime) -> datetime:
    """Midnight UTC of the day holding `d`."""
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def days(start: date, end: date) -> list[date]:
    """Days from `start` up to but excluding `end`."""
    return [start + timedelta(days=i) for i in range((end - start).days)]


def utcnow() -> datetime:
    """The current time, aware UTC. The only clock the pipeline reads; jobs pass it down."""
    return datetime.now(UTC)


class DateRangeError(UsageError):
    """A day range outside what the data allows. `problem` says which rule: order, future or early.

    The message speaks of dates only; a command line turns it into one naming its options.
    """

    def __init__(self, problem: str, message: str, start: date, end: date, limit: date) -> None:
        super().__init__(message)
        self.problem, self.start, self.end, self.limit = problem, start, end, limit
