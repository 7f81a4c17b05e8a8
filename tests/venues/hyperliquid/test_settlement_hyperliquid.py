"""Hyperliquid settlements from minute history, on small hand-made frames (expected values by hand).

The rule (pipelines/venues/hyperliquid/settle.py): funding every whole hour T; the rate settled at T
is the last `funding_rate` before T (within 30 min), the predicted rate the first one of T's period
(at or after T - 1 h, within 30 min); interval 1 h on every row, APR = rate x 8760.
"""

import math

import pandas as pd
import pytest

from pipelines.core.columns import FUNDING, HYPERLIQUID
from pipelines.load.minutes import settlements


def minutes(rows):
    frame = pd.DataFrame(rows, columns=["ts", "funding_rate"])
    return frame.assign(
        ts=pd.to_datetime(frame["ts"], utc=True),
        predicted_funding_rate=float("nan"),
        funding_timestamp=pd.NaT,
    )


def by_time(out: pd.DataFrame, column: str) -> dict:
    return dict(zip(out["funding_time"].dt.strftime("%d %H:%M"), out[column], strict=True))


def test_each_hour_settles_the_last_rate_before_it_and_predicts_the_first_of_its_period():
    frame = minutes(
        [
            ("2024-11-05T00:00", 0.000009),  # opens the 01:00 period: its forecast
            ("2024-11-05T00:50", 0.000010),
            ("2024-11-05T00:59", 0.000012),  # last before 01:00 -> settled at 01:00
            ("2024-11-05T01:00", 0.000020),  # the new period's rate, not settled at 01:00
            ("2024-11-05T01:59", 0.0000125),
            ("2024-11-05T02:01", 0.0),
        ]
    )
    out = settlements(frame, HYPERLIQUID, "BTC", 1)
    assert list(out.columns) == list(FUNDING)
    assert by_time(out, "rate") == {"05 01:00": 0.000012, "05 02:00": 0.0000125}
    assert by_time(out, "predicted_rate") == {"05 01:00": 0.000009, "05 02:00": 0.000020}
    assert out["apr"].tolist() == pytest.approx([0.000012 * 8760, 0.0000125 * 8760])
    assert set(out["exchange"]) == {HYPERLIQUID} and set(out["symbol"]) == {"BTC"}
    assert set(out["interval_hours"]) == {1.0}


def test_a_gap_before_t_gives_no_settlement_and_the_next_hour_is_still_one_hour():
    frame = minutes(
        [
            ("2024-11-05T02:00", 0.00001),
            ("2024-11-05T02:28", 0.00002),  # 31 min before the 02:59 minute: too old to settle 03:00
            ("2024-11-05T03:10", 0.00003),
            ("2024-11-05T03:59", 0.00004),
        ]
    )
    out = settlements(frame, HYPERLIQUID, "BTC", 1)
    assert by_time(out, "rate") == {"05 04:00": 0.00004}
    # a missed settlement does not make the next one a 2 h one: Hyperliquid pays every hour
    assert out["interval_hours"].tolist() == [1.0]
    assert by_time(out, "predicted_rate") == {"05 04:00": 0.00003}  # 03:10, 10 min into the period


def test_a_period_opening_without_minutes_has_no_forecast_but_still_settles():
    # nothing in [05:00, 05:30], the first 30 minutes of the 06:00 period
    frame = minutes([("2024-11-05T05:31", 0.00001), ("2024-11-05T05:59", -0.00002)])
    out = settlements(frame, HYPERLIQUID, "ETH", 1)
    assert by_time(out, "rate") == {"05 06:00": -0.00002}
    assert math.isnan(by_time(out, "predicted_rate")["05 06:00"])


def test_midnight_settles_from_the_previous_days_minutes():
    frame = minutes([("2024-11-05T23:10", 0.00005), ("2024-11-05T23:58", 0.00006), ("2024-11-06T00:00", 0.0)])
    out = settlements(frame, HYPERLIQUID, "SOL", 1)
    assert by_time(out, "rate") == {"06 00:00": 0.00006}
    assert by_time(out, "predicted_rate") == {"06 00:00": 0.00005}


def test_a_longer_configured_interval_spaces_the_funding_times_by_it():
    """Hyperliquid has always paid hourly; should it change, the configured interval spaces the times
    and is stored with every row (and its APR)."""
    frame = minutes(
        [
            ("2024-11-05T00:30", 0.0001),  # opens the 02:00 period of a 2 h interval (first >= 00:00)
            ("2024-11-05T00:59", 0.0002),  # 01:00 is no funding time at 2 h
            ("2024-11-05T01:59", 0.0003),
        ]
    )
    out = settlements(frame, HYPERLIQUID, "BTC", 2)
    assert by_time(out, "rate") == {"05 02:00": 0.0003}
    assert by_time(out, "predicted_rate") == {"05 02:00": 0.0001}
    assert out["interval_hours"].tolist() == [2.0] and out["apr"].tolist() == pytest.approx([0.0003 * 4380])


def test_no_rates_give_no_settlements():
    frame = minutes([("2024-11-05T00:10", None), ("2024-11-05T01:20", None)])
    assert settlements(frame, HYPERLIQUID, "BTC", 1).empty
    assert list(settlements(frame, HYPERLIQUID, "BTC", 1).columns) == list(FUNDING)
