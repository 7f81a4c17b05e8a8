"""The one day-range rule (`check_range`), used by every command and by the pipeline itself."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from pipelines.core.errors import UsageError
from pipelines.core.timeutil import DateRangeError
from pipelines.flows.backfill import backfill
from pipelines.venues.history import check_range

D = date.fromisoformat


@pytest.mark.parametrize(
    ("start", "end", "latest", "problem"),
    [
        ("2024-03-02", "2024-03-01", None, "order"),
        ("2024-03-01", "2024-03-01", None, "order"),
        ("2024-03-01", "2024-03-03", "2024-03-02", "future"),
        ("2020-06-30", "2020-07-02", None, "early"),
    ],
)
def test_bad_ranges_raise_a_typed_error_about_dates_not_options(start, end, latest, problem):
    with pytest.raises(DateRangeError) as err:
        check_range(D(start), D(end), D(latest) if latest else None)
    assert err.value.problem == problem and isinstance(err.value, UsageError)
    assert "--" not in str(err.value)  # only a command line knows its option names


def test_good_ranges_pass_up_to_the_latest_end_and_from_the_shared_history_start():
    check_range(D("2020-07-01"), D("2024-03-02"), D("2024-03-02"))
    check_range(D("2024-03-01"), D("2999-01-01"), None)


def test_the_pipeline_backfill_refuses_a_future_range_by_itself(db, settings):
    now = datetime(2024, 3, 10, 12, tzinfo=UTC)
    with pytest.raises(DateRangeError, match="end 2024-03-12 is after the latest allowed end 2024-03-10"):
        backfill(
            db,
            settings,
            D("2024-03-09"),
            D("2024-03-12"),
            pairs=settings.pairs,
            source="replay",
            llm=False,
            now=now,
        )
    assert db["runs"].count == 0
