"""Bybit settlements from hand-made minute rows: the rate for T is the last one shown for T before T,
the interval is T minus the previous funding time the data shows, the forecast is the opening rate
(V5) or the predicted rate one period earlier (pre-V5)."""

from __future__ import annotations

import pandas as pd
import pytest

from pipelines.columns import BYBIT, FUNDING
from pipelines.load.minutes import settlements


def minutes(rows):
    """(ts, funding_rate, predicted_funding_rate, funding_timestamp) rows -> a minute frame."""
    frame = pd.DataFrame(rows, columns=["ts", "funding_rate", "predicted_funding_rate", "funding_timestamp"])
    return frame.assign(
        ts=pd.to_datetime(frame["ts"], utc=True),
        funding_timestamp=pd.to_datetime(frame["funding_timestamp"], utc=True),
    )


def by_time(out: pd.DataFrame, column: str) -> dict:
    return dict(zip(out["funding_time"].dt.strftime("%m-%d %H:%M"), out[column], strict=True))


def test_the_rate_settled_at_t_is_the_last_shown_for_t_and_the_interval_comes_from_the_data():
    frame = minutes(
        [
            ("2024-03-01T00:05", 0.0001, None, "2024-03-01T08:00"),  # the 08:00 period opens at 0.0001
            ("2024-03-01T07:58", 0.00012, None, "2024-03-01T08:00"),
            ("2024-03-01T07:59", 0.00013, None, "2024-03-01T08:00"),  # last before 08:00: settled
            ("2024-03-01T08:00", 0.00002, None, "2024-03-01T16:00"),  # rolled on: the next period
            ("2024-03-01T15:59", -0.00005, None, "2024-03-01T16:00"),
            ("2024-03-01T16:00", 0.0001, None, "2024-03-02T00:00"),
        ]
    )
    out = settlements(frame, BYBIT, "BTCUSDT", 8)
    assert list(out.columns) == list(FUNDING)
    assert by_time(out, "rate") == {"03-01 08:00": 0.00013, "03-01 16:00": -0.00005}
    # 08:00: the previous funding time is not in the data; the next spacing (8 h) stands in.
    assert by_time(out, "interval_hours") == {"03-01 08:00": 8.0, "03-01 16:00": 8.0}
    assert by_time(out, "apr") == pytest.approx(
        {"03-01 08:00": 0.00013 * 1095, "03-01 16:00": -0.00005 * 1095}
    )
    # 08:00: the opening is not known to be the period's (no previous funding time), so no forecast;
    # 16:00: the rate shown when the period opened at 08:00.
    predicted = by_time(out, "predicted_rate")
    assert pd.isna(predicted["03-01 08:00"]) and predicted["03-01 16:00"] == 0.00002
    assert set(out["exchange"]) == {BYBIT} and set(out["symbol"]) == {"BTCUSDT"}


def test_an_interval_change_from_8_h_to_2_h_is_stored_per_settlement():
    frame = minutes(
        [
            ("2024-03-01T07:59", 0.0001, None, "2024-03-01T08:00"),
            ("2024-03-01T08:00", 0.0002, None, "2024-03-01T16:00"),
            ("2024-03-01T15:59", 0.0003, None, "2024-03-01T16:00"),
            ("2024-03-01T16:00", 0.00004, None, "2024-03-01T18:00"),  # Bybit moves the symbol to 2 h
            ("2024-03-01T17:59", 0.00005, None, "2024-03-01T18:00"),
            ("2024-03-01T18:00", 0.00001, None, "2024-03-01T20:00"),
            ("2024-03-01T19:59", -0.00002, None, "2024-03-01T20:00"),
            ("2024-03-01T20:00", 0.0, None, "2024-03-01T22:00"),
        ]
    )
    out = settlements(frame, BYBIT, "SOLUSDT", 8)
    assert by_time(out, "rate") == {
        "03-01 08:00": 0.0001,
        "03-01 16:00": 0.0003,
        "03-01 18:00": 0.00005,
        "03-01 20:00": -0.00002,
    }
    assert by_time(out, "interval_hours") == {
        "03-01 08:00": 8.0,
        "03-01 16:00": 8.0,
        "03-01 18:00": 2.0,
        "03-01 20:00": 2.0,
    }
    assert by_time(out, "apr") == pytest.approx(
        {"03-01 08:00": 0.1095, "03-01 16:00": 0.3285, "03-01 18:00": 0.219, "03-01 20:00": -0.0876}
    )
    assert by_time(out, "predicted_rate")["03-01 18:00"] == 0.00004


def test_a_gap_before_t_leaves_t_unsettled_and_the_next_interval_still_from_the_data():
    frame = minutes(
        [
            ("2024-03-01T03:55", 0.0001, None, "2024-03-01T04:00"),
            ("2024-03-01T04:00", 0.0002, None, "2024-03-01T08:00"),
            ("2024-03-01T07:00", 0.0003, None, "2024-03-01T08:00"),  # then nothing until 08:00: a gap
            ("2024-03-01T08:20", 0.0004, None, "2024-03-01T12:00"),
            ("2024-03-01T11:59", 0.0005, None, "2024-03-01T12:00"),
            ("2024-03-01T12:00", 0.0006, None, "2024-03-01T16:00"),
        ]
    )
    out = settlements(frame, BYBIT, "ETHUSDT", 8)
    assert by_time(out, "rate") == {"03-01 04:00": 0.0001, "03-01 12:00": 0.0005}
    assert by_time(out, "interval_hours")["03-01 12:00"] == 4.0  # 12:00 - 08:00, shown before the gap
    # The 12:00 period opened during the gap (first seen 08:20, 20 min after 08:00: within the margin).
    assert by_time(out, "predicted_rate")["03-01 12:00"] == 0.0004


def test_minutes_beyond_the_reach_do_not_decide_the_interval():
    frame = minutes(
        [
            ("2024-03-01T07:59", 0.0001, None, "2024-03-01T08:00"),  # 16 h before 00:00 next day
            ("2024-03-02T00:00", 0.0002, None, "2024-03-02T08:00"),  # data resumes after a long gap
            ("2024-03-02T07:59", 0.0003, None, "2024-03-02T08:00"),
            ("2024-03-02T08:00", 0.0004, None, "2024-03-02T12:00"),
        ]
    )
    out = settlements(frame, BYBIT, "BTCUSDT", 8)
    # 08:00 on the 1st: nothing before or just after it, so the usual 8 h. 08:00 on the 2nd: 08:00 on
    # the 1st is 24 h back, beyond the reach, so the next spacing (4 h) stands in.
    assert by_time(out, "interval_hours") == {"03-01 08:00": 8.0, "03-02 08:00": 4.0}
    assert pd.isna(by_time(out, "predicted_rate")["03-02 08:00"])


def test_the_data_must_reach_t():
    frame = minutes(
        [
            ("2024-03-01T06:00", 0.0001, None, "2024-03-01T08:00"),
            ("2024-03-01T07:20", 0.0002, None, "2024-03-01T08:00"),  # ends 40 min before 08:00
        ]
    )
    assert settlements(frame, BYBIT, "BTCUSDT", 8).empty


def test_before_v5_the_forecast_of_t_is_the_predicted_rate_one_period_earlier():
    frame = minutes(
        [
            ("2020-05-28T07:59", 0.000093, 0.0001, "2020-05-28T08:00"),  # forecast of 16:00
            ("2020-05-28T08:00", 0.0001, 0.00011, "2020-05-28T16:00"),
            ("2020-05-28T15:59", 0.0001, 0.00012, "2020-05-28T16:00"),  # forecast of 00:00
            ("2020-05-28T16:00", 0.00012, 0.0002, "2020-05-29T00:00"),
        ]
    )
    out = settlements(frame, BYBIT, "BTCUSDT", 8)
    assert by_time(out, "rate") == {"05-28 08:00": 0.000093, "05-28 16:00": 0.0001}
    predicted = by_time(out, "predicted_rate")
    assert pd.isna(predicted["05-28 08:00"]) and predicted["05-28 16:00"] == 0.0001


def test_no_funding_timestamp_gives_the_empty_frame():
    frame = minutes([("2024-03-01T07:59", 0.0001, None, None)])
    out = settlements(frame, BYBIT, "BTCUSDT", 8)
    assert out.empty and list(out.columns) == list(FUNDING)
