"""Bybit settlements from hand-made minute rows: the rate for T is the last one shown for T before T,
the interval is T minus the previous funding time the data shows, the forecast is the opening rate
(V5) or the predicted rate one period earlier (pre-V5)."""

from __future__ import annotations

import pandas as pd
import pytest

from pipelines.core.columns import BYBIT, FUNDING
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
    # 08:00: no earlier settlement in the data, but its period already ran at 00:05, so it is 8 h
    # long (8 h is Bybit's longest interval).
    assert by_time(out, "interval_hours") == {"03-01 08:00": 8.0, "03-01 16:00": 8.0}
    assert set(out["evidence"]) == {"data"} and out["warning"].isna().all()
    assert by_time(out, "apr") == pytest.approx(
        {"03-01 08:00": 0.00013 * 1095, "03-01 16:00": -0.00005 * 1095}
    )
    # The rate shown when each period opened (00:05 is within 30 min of 00:00); V5: an estimate.
    assert by_time(out, "predicted_rate") == {"03-01 08:00": 0.0001, "03-01 16:00": 0.00002}
    assert set(out["predicted_kind"]) == {"estimate"}
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
    # 08:00 on the 1st: its period ran at 07:59, so 1, 2, 4 or 8 h: a hint, the usual 8 h. 08:00 on
    # the 2nd: 08:00 on the 1st is 24 h back, beyond the reach, but the period ran from 00:00: 8 h.
    assert by_time(out, "interval_hours") == {"03-01 08:00": 8.0, "03-02 08:00": 8.0}
    assert by_time(out, "evidence") == {"03-01 08:00": "hint", "03-02 08:00": "data"}
    assert by_time(out, "warning")["03-01 08:00"] == (
        "Bybit BTCUSDT 2024-03-01 08:00: interval 8 h assumed, the data shows no earlier settlement;"
        " could be 1/2/4/8 h"
    )
    assert by_time(out, "predicted_rate")["03-02 08:00"] == 0.0002


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
    assert set(out["predicted_kind"]) == {"forecast"}


def test_no_funding_timestamp_gives_the_empty_frame():
    frame = minutes([("2024-03-01T07:59", 0.0001, None, None)])
    out = settlements(frame, BYBIT, "BTCUSDT", 8)
    assert out.empty and list(out.columns) == list(FUNDING)


def test_a_stale_next_time_after_a_revert_is_not_the_previous_settlement():
    """Hourly back to 4 h after the 12:00 settlement: the feed still shows 13:00 until 12:19, then
    16:00. 13:00 never settles; 16:00 pays 4 h (12:00 to 16:00), not 3 h."""
    frame = minutes(
        [
            ("2024-03-01T10:59", 0.001, None, "2024-03-01T11:00"),
            ("2024-03-01T11:00", 0.002, None, "2024-03-01T12:00"),
            ("2024-03-01T11:59", 0.003, None, "2024-03-01T12:00"),
            ("2024-03-01T12:00", 0.0002, None, "2024-03-01T13:00"),  # stale: the old hourly schedule
            ("2024-03-01T12:19", 0.0002, None, "2024-03-01T13:00"),
            ("2024-03-01T12:20", 0.0003, None, "2024-03-01T16:00"),  # the 4 h schedule reaches the feed
            ("2024-03-01T15:59", 0.0004, None, "2024-03-01T16:00"),
            ("2024-03-01T16:00", 0.0001, None, "2024-03-01T20:00"),
        ]
    )
    out = settlements(frame, BYBIT, "ETHUSDT", 8)
    assert by_time(out, "rate") == {"03-01 11:00": 0.001, "03-01 12:00": 0.003, "03-01 16:00": 0.0004}
    # 11:00: its period ran at 10:59 and 11:00 lies on the hourly grid only: 1 h from the data.
    assert by_time(out, "interval_hours") == {"03-01 11:00": 1.0, "03-01 12:00": 1.0, "03-01 16:00": 4.0}
    assert by_time(out, "apr")["03-01 16:00"] == pytest.approx(0.0004 * 8760 / 4)
    assert set(out["evidence"]) == {"data"}
    # 16:00 opened at 12:00; the first rate shown for 16:00 (12:20) is within 30 min of it.
    assert by_time(out, "predicted_rate")["03-01 16:00"] == 0.0003


def test_a_switch_to_hourly_at_the_cap_with_the_old_next_time_shown_for_four_minutes():
    """A 4 h symbol settles 08:00 at the cap; the feed shows 12:00 (the old schedule) until 08:03, then
    09:00. Hourly from then: 09:00 ... 12:00 each pay 1 h; 12:00's forecast is the rate shown when its
    own period opened (11:00), not the stale 08:00 minute's."""
    frame = minutes(
        [
            ("2024-03-01T03:59", 0.0001, None, "2024-03-01T04:00"),
            ("2024-03-01T04:00", 0.0002, None, "2024-03-01T08:00"),
            ("2024-03-01T07:59", 0.00375, None, "2024-03-01T08:00"),  # at the cap
            ("2024-03-01T08:00", 0.0005, None, "2024-03-01T12:00"),  # stale
            ("2024-03-01T08:03", 0.0005, None, "2024-03-01T12:00"),
            ("2024-03-01T08:04", 0.0006, None, "2024-03-01T09:00"),
            ("2024-03-01T08:59", 0.0007, None, "2024-03-01T09:00"),
            ("2024-03-01T09:00", 0.0008, None, "2024-03-01T10:00"),
            ("2024-03-01T09:59", 0.0009, None, "2024-03-01T10:00"),
            ("2024-03-01T10:00", 0.0010, None, "2024-03-01T11:00"),
            ("2024-03-01T10:59", 0.0011, None, "2024-03-01T11:00"),
            ("2024-03-01T11:00", 0.0012, None, "2024-03-01T12:00"),
            ("2024-03-01T11:59", 0.0013, None, "2024-03-01T12:00"),
            ("2024-03-01T12:00", 0.0014, None, "2024-03-01T13:00"),
        ]
    )
    out = settlements(frame, BYBIT, "ETHUSDT", 4)
    assert by_time(out, "rate") == {
        "03-01 04:00": 0.0001,
        "03-01 08:00": 0.00375,
        "03-01 09:00": 0.0007,
        "03-01 10:00": 0.0009,
        "03-01 11:00": 0.0011,
        "03-01 12:00": 0.0013,
    }
    hours = by_time(out, "interval_hours")
    hourly = {f"03-01 {h:02d}:00": 1.0 for h in range(9, 13)}
    assert hours == {"03-01 04:00": 4.0, "03-01 08:00": 4.0} | hourly
    # 04:00: no earlier settlement, and 04:00 lies on the 1, 2 and 4 h grids: the usual (here
    # configured) 4 h, as a hint with a warning; everything after it from the data.
    evidence = by_time(out, "evidence")
    assert evidence.pop("03-01 04:00") == "hint" and set(evidence.values()) == {"data"}
    assert by_time(out, "warning")["03-01 04:00"] == (
        "Bybit ETHUSDT 2024-03-01 04:00: interval 4 h assumed, the data shows no earlier settlement;"
        " could be 1/2/4 h"
    )
    predicted = by_time(out, "predicted_rate")
    assert predicted["03-01 09:00"] == 0.0006 and predicted["03-01 12:00"] == 0.0012


def test_a_gap_across_a_funding_time_makes_the_next_interval_a_hint():
    """Hourly; the data stops at 12:20 (showing 13:00) and resumes at 13:40 (showing 14:00): whether
    13:00 settled is unknown, so 14:00 paid 1 h (13:00 settled) or 2 h: a hint, not a fact."""
    frame = minutes(
        [
            ("2024-03-01T10:59", 0.001, None, "2024-03-01T11:00"),
            ("2024-03-01T11:00", 0.002, None, "2024-03-01T12:00"),
            ("2024-03-01T11:59", 0.003, None, "2024-03-01T12:00"),
            ("2024-03-01T12:00", 0.004, None, "2024-03-01T13:00"),
            ("2024-03-01T12:20", 0.005, None, "2024-03-01T13:00"),
            ("2024-03-01T13:40", 0.006, None, "2024-03-01T14:00"),
            ("2024-03-01T13:59", 0.007, None, "2024-03-01T14:00"),
            ("2024-03-01T14:00", 0.008, None, "2024-03-01T15:00"),
        ]
    )
    out = settlements(frame, BYBIT, "DOGEUSDT", 8)
    assert by_time(out, "rate") == {"03-01 11:00": 0.001, "03-01 12:00": 0.003, "03-01 14:00": 0.007}
    assert by_time(out, "interval_hours") == {"03-01 11:00": 1.0, "03-01 12:00": 1.0, "03-01 14:00": 1.0}
    assert by_time(out, "evidence") == {"03-01 11:00": "data", "03-01 12:00": "data", "03-01 14:00": "hint"}
    assert by_time(out, "warning")["03-01 14:00"] == (
        "Bybit DOGEUSDT 2024-03-01 14:00: interval 1 h assumed, the data has a gap across 13:00;"
        " could be 1/2 h"
    )
