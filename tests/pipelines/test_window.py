from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipelines.core.window import Window, funding_window, last_closed_window, windows_between


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("ts", "start", "end"),
    [
        (utc(2024, 3, 1, 8, 0, 0), utc(2024, 3, 1, 8), utc(2024, 3, 1, 16)),
        (utc(2024, 3, 1, 7, 59, 59, 999999), utc(2024, 3, 1, 0), utc(2024, 3, 1, 8)),
        (utc(2024, 3, 1, 0, 0, 0), utc(2024, 3, 1, 0), utc(2024, 3, 1, 8)),
        (utc(2024, 3, 1, 23, 59, 59), utc(2024, 3, 1, 16), utc(2024, 3, 2, 0)),
        (utc(2024, 12, 31, 16, 0, 1), utc(2024, 12, 31, 16), utc(2025, 1, 1, 0)),
    ],
)
def test_funding_window_on_fixed_utc_times(ts, start, end):
    assert funding_window(ts, 8) == Window(start, end)


def test_funding_window_other_intervals_and_timezones():
    assert funding_window(utc(2024, 3, 1, 5, 30), 4) == Window(utc(2024, 3, 1, 4), utc(2024, 3, 1, 8))
    assert funding_window(utc(2024, 3, 1, 5, 30), 1) == Window(utc(2024, 3, 1, 5), utc(2024, 3, 1, 6))
    cet = datetime(2024, 3, 1, 9, 0, tzinfo=__import__("zoneinfo").ZoneInfo("Europe/Berlin"))
    assert funding_window(cet, 8) == Window(utc(2024, 3, 1, 8), utc(2024, 3, 1, 16))
    with pytest.raises(ValueError, match="no timezone"):
        funding_window(datetime(2024, 3, 1, 8), 8)


def test_last_closed_window_and_windows_between():
    assert last_closed_window(utc(2024, 3, 1, 8, 15), 8) == Window(utc(2024, 3, 1, 0), utc(2024, 3, 1, 8))
    assert last_closed_window(utc(2024, 3, 1, 8, 0), 8).end == utc(2024, 3, 1, 8)
    got = windows_between(utc(2024, 3, 1), utc(2024, 3, 2), 8)
    assert [w.end for w in got] == [utc(2024, 3, 1, 8), utc(2024, 3, 1, 16), utc(2024, 3, 2)]


@given(
    st.datetimes(min_value=datetime(2019, 1, 1), max_value=datetime(2030, 1, 1)),
    st.sampled_from([1, 2, 4, 8]),
)
def test_a_window_contains_its_timestamp(naive, hours):
    ts = naive.replace(tzinfo=UTC)
    w = funding_window(ts, hours)
    assert w.start <= ts < w.end
    assert w.end - w.start == timedelta(hours=hours)
    assert w.start.hour % hours == 0 and w.start.minute == 0 and w.start.second == 0
