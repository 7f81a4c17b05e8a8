"""The day-range rule: a range may not start before the history its pairs' venues have on Tardis.

It lives with the venues (not in `core.timeutil`) because the bound is each venue's
`history_start`; the error type, `DateRangeError`, is core's.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from pipelines.core.columns import BITFINEX, GATE
from pipelines.core.timeutil import DateRangeError
from pipelines.venues.registry import venue

# The two venues of the default pairs: the history bound when the caller names no pairs.
DEFAULT_PAIR_VENUES = ((GATE, BITFINEX),)


def history_first_day(pair_venues: Iterable[Iterable[str]] = DEFAULT_PAIR_VENUES) -> date:
    """First day on which some pair has history on Tardis on both its venues: ranges may not start
    earlier. `pair_venues` holds each pair's exchanges; a venue's days before its own history start
    are skipped by the backfill, so a later venue (Hyperliquid) never moves the other pairs' start."""
    return min(max(date.fromisoformat(venue(ex).history_start) for ex in venues) for venues in pair_venues)


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
