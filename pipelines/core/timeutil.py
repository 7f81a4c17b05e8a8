"""One timestamp representation for the whole store: ISO 8601 UTC text, second precision, `Z` suffix.

`2024-03-01T08:00:00Z` sorts as text in time order, reads at a glance in `sqlite3`, and round-trips
through pandas. Everything in memory is a timezone-aware UTC `datetime` or `datetime64[ns, UTC]`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

import pandas as pd

from pipelines.core.columns import BITFINEX, GATE
from pipelines.core.errors import UsageError
from pipelines.venues.registry import venue

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


# The two venues of the default pairs: the history bound when the caller names no pairs.
DEFAULT_PAIR_VENUES = ((GATE, BITFINEX),)


def history_first_day(pair_venues: Iterable[Iterable[str]] = DEFAULT_PAIR_VENUES) -> date:
    """First day on which some pair has history on Tardis on both its venues: ranges may not start
    earlier. `pair_venues` holds each pair's exchanges; a venue's days before its own history start
    are skipped by the backfill, so a later venue (Hyperliquid) never moves the other pairs' start."""
    return min(max(date.fromisoformat(venue(ex).history_start) for ex in venues) for venues in pair_venues)


def _venues_of(pair_venues: list[tuple[str, ...]]) -> list[str]:
    return list(dict.fromkeys(exchange for venues in pair_venues for exchange in venues))


def check_range(
    start: date,
    end: date,
    latest_end: date | None,
    pair_venues: Iterable[Iterable[str]] = DEFAULT_PAIR_VENUES,
) -> None:
    """Raise DateRangeError unless start < end (exclusive), end <= latest_end, start >= history start.

    `latest_end` is the last exclusive end the caller accepts (today for complete days only, None
    for no limit); the history start is `history_first_day(pair_venues)`.
    """
    pair_venues = [tuple(venues) for venues in pair_venues]
    first = history_first_day(pair_venues)
    if start >= end:
        raise DateRangeError(
            "order", f"start {start} is not before end {end} (end is exclusive)", start, end, end
        )
    if latest_end is not None and end > latest_end:
        raise DateRangeError(
            "future", f"end {end} is after the latest allowed end {latest_end}", start, end, latest_end
        )
    if start < first:
        raise DateRangeError(
            "early",
            f"start {start} is before the history both venues of a pair share on Tardis (from {first}; "
            + ", ".join(
                f"{ex} since {venue(ex).history_start}"
                for ex in dict.fromkeys(e for v in pair_venues for e in v)
            )
            + ")",
            start,
            end,
            first,
        )
