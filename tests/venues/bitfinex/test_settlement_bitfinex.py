"""Bitfinex's settlement rule (pipelines/venues/bitfinex/README.md) on hand-built minute frames.

The values follow the documented semantics and the recorded messages in tardis-node's
test/mappers.test.ts: NEXT_FUNDING_ACCRUED (`predicted_funding_rate`) resets to 0 at each funding
time and grows through the period; CURRENT_FUNDING (`funding_rate`) changes once the next funding
time (`funding_timestamp`) has rolled past T; a premium inside the clamp band pays 0. Expected
values are read off the frames by hand, never from the code under test.
"""

import pandas as pd
import pytest

from pipelines.core.columns import BITFINEX, FUNDING
from pipelines.load.minutes import settlements

SYMBOL = "BTCF0:USTF0"


def minutes(rows):
    frame = pd.DataFrame(rows, columns=["ts", "funding_rate", "predicted_funding_rate", "funding_timestamp"])
    return frame.assign(
        ts=pd.to_datetime(frame["ts"], utc=True),
        funding_timestamp=pd.to_datetime(frame["funding_timestamp"], utc=True),
    )


def test_recorded_rollover_2019_09_30():
    # tardis-node's recorded status message of 2019-09-30 00:00:49: NEXT_FUNDING_EVT 08:00,
    # NEXT_FUNDING_ACCRUED 0.00000843 (step 16), CURRENT_FUNDING 0.00196337. Before midnight the
    # feed showed the period ending at 00:00 with its accrual; the 00:00 minute is still stale.
    frame = minutes(
        [
            ("2019-09-29T23:58", 0.0011, 0.00181, "2019-09-30T00:00"),
            ("2019-09-29T23:59", 0.0011, 0.00183, "2019-09-30T00:00"),
            ("2019-09-30T00:00", 0.0011, 0.00183, "2019-09-30T00:00"),
            ("2019-09-30T00:01", 0.00196337, 0.00000843, "2019-09-30T08:00"),
        ]
    )
    out = settlements(frame, BITFINEX, SYMBOL, 8)
    assert list(out.columns) == list(FUNDING)
    assert out["funding_time"].tolist() == [pd.Timestamp("2019-09-30T00:00", tz="UTC")]
    assert out["rate"].tolist() == [0.00196337]
    assert out["predicted_rate"].tolist() == [0.00183]  # the accrual's last value before T
    assert out["interval_hours"].tolist() == [8.0]
    assert out["apr"].tolist() == pytest.approx([0.00196337 * 1095])
    assert out[["predicted_kind", "evidence"]].values.tolist() == [["estimate", "data"]]
    assert out["warning"].isna().all()


def test_a_premium_inside_the_clamp_band_settles_at_zero():
    # 2019-10-08 23:52:56 (a status/deriv/hist row): accrued 0.00021817 at step 9379, inside the
    # band of CLAMP_MIN 0.0005, so no payment: CURRENT_FUNDING 0 after the rollover (as the
    # recorded messages of 2019-10-08 00:00:30 and 00:14:58 show for that day's first period).
    frame = minutes(
        [
            ("2019-10-08T23:52", 0.0, 0.00021817, "2019-10-09T00:00"),
            ("2019-10-08T23:59", 0.0, 0.00022, "2019-10-09T00:00"),
            ("2019-10-09T00:00", 0.0, -1.4e-7, "2019-10-09T08:00"),
        ]
    )
    out = settlements(frame, BITFINEX, SYMBOL, 8)
    assert out["rate"].tolist() == [0.0]  # stored as a settlement of 0, not dropped
    assert out["predicted_rate"].tolist() == [0.00022]


def test_a_2019_array_without_current_funding_waits_for_the_first_value():
    # 12-element arrays of 2019 can hold CURRENT_FUNDING null (recorded 2019-09-29 00:00:01:
    # accrued 0, step 0, index 11 null): the first rolled minute that shows a rate decides.
    frame = minutes(
        [
            ("2019-09-28T23:59", None, 0.0004, "2019-09-29T00:00"),
            ("2019-09-29T00:00", None, 0.0, "2019-09-29T08:00"),
            ("2019-09-29T00:03", 0.0007, 0.000001, "2019-09-29T08:00"),
        ]
    )
    out = settlements(frame, BITFINEX, SYMBOL, 8)
    assert out["rate"].tolist() == [0.0007]


def test_consecutive_funding_times_each_take_their_own_rollover():
    frame = minutes(
        [
            ("2024-03-01T07:59", 0.0001, 0.0006, "2024-03-01T08:00"),
            ("2024-03-01T08:01", 0.0002, 0.00001, "2024-03-01T16:00"),
            ("2024-03-01T15:59", 0.0002, -0.0007, "2024-03-01T16:00"),
            ("2024-03-01T16:00", 0.0002, -0.0007, "2024-03-01T16:00"),  # stale
            ("2024-03-01T16:02", -0.0003, 0.0, "2024-03-02T00:00"),
        ]
    )
    out = settlements(frame, BITFINEX, SYMBOL, 8)
    assert out["funding_time"].dt.strftime("%H:%M").tolist() == ["08:00", "16:00"]
    assert out["rate"].tolist() == [0.0002, -0.0003]
    assert out["predicted_rate"].tolist() == [0.0006, -0.0007]
    assert out["interval_hours"].tolist() == [8.0, 8.0]


def test_the_interval_comes_from_the_data_and_a_mismatch_warns():
    # The feed's funding times are 4 h apart while 8 h is configured: the data wins (APR over 4 h)
    # and every such settlement says so. Fails on main, which stored 8 h from the configuration.
    frame = minutes(
        [
            ("2024-03-01T03:59", 0.0001, 0.0004, "2024-03-01T04:00"),
            ("2024-03-01T04:01", 0.0002, 0.0, "2024-03-01T08:00"),
            ("2024-03-01T07:59", 0.0002, 0.0008, "2024-03-01T08:00"),
            ("2024-03-01T08:01", 0.0003, 0.0, "2024-03-01T12:00"),
        ]
    )
    out = settlements(frame, BITFINEX, SYMBOL, 8)
    assert out["interval_hours"].tolist() == [4.0, 4.0]
    assert out["apr"].tolist() == pytest.approx([0.0002 * 2190, 0.0003 * 2190])
    assert out["evidence"].tolist() == ["data", "data"]
    assert out["warning"].tolist() == [
        "Bitfinex BTCF0:USTF0 2024-03-01 04:00: interval 4 h in the data, 8 h configured",
        "Bitfinex BTCF0:USTF0 2024-03-01 08:00: interval 4 h in the data, 8 h configured",
    ]


def test_the_interval_of_a_period_is_measured_back_to_the_rollover_that_announced_it():
    # The rollover at 00:00 announced 08:00 (an 8 h period), the one at 08:00 announced 12:00: the
    # period 08:00 closes is 8 h long, the one 12:00 closes 4 h.
    frame = minutes(
        [
            ("2024-02-29T23:59", 0.0001, 0.0006, "2024-03-01T00:00"),
            ("2024-03-01T00:01", 0.0001, 0.0, "2024-03-01T08:00"),
            ("2024-03-01T08:01", 0.0002, 0.0, "2024-03-01T12:00"),
            ("2024-03-01T12:01", 0.0003, 0.0, "2024-03-01T20:00"),
        ]
    )
    out = settlements(frame, BITFINEX, SYMBOL, 8)
    assert out["funding_time"].dt.strftime("%H:%M").tolist() == ["00:00", "08:00", "12:00"]
    # 00:00 has no rollover into it in the rows: the period it announced (8 h) stands in
    assert out["interval_hours"].tolist() == [8.0, 8.0, 4.0]
    assert out["warning"].tolist()[:2] == [None, None]
    assert out["warning"].tolist()[2].endswith("interval 4 h in the data, 8 h configured")
