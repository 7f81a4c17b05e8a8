"""Binance settlements from minute rows, by hand-computed cases (pipelines/venues/binance/settle.py).

Each minute row is (minute, funding time shown, funding rate). The rate settled at T is the rate of
the last minute before T showing T; the interval is T minus the previous funding time shown, read
at the rollover into T; the predicted rate is the rate of that rollover minute.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from pipelines.core.columns import BINANCE, FUNDING
from pipelines.load.minutes import settlements

DAY = "2024-03-01"


def at(hhmm: str, day: str = DAY) -> pd.Timestamp:
    return pd.Timestamp(f"{day}T{hhmm}:00Z")


def minutes(*rows: tuple) -> pd.DataFrame:
    """Minute rows from (minute, funding time shown or None, rate or None); times are "HH:MM" of DAY
    or full timestamps."""
    stamp = lambda t: None if t is None else (t if isinstance(t, pd.Timestamp) else at(t))  # noqa: E731
    frame = pd.DataFrame(
        {
            "ts": pd.to_datetime([stamp(r[0]) for r in rows], utc=True),
            "funding_timestamp": pd.to_datetime([stamp(r[1]) for r in rows], utc=True),
            "funding_rate": [math.nan if r[2] is None else r[2] for r in rows],
            "predicted_funding_rate": math.nan,
            "mark_price": 60_000.0,
        }
    )
    return frame


def settled(frame: pd.DataFrame, configured: float = 8) -> list[tuple]:
    out = settlements(frame, BINANCE, "BTCUSDT", configured)
    assert list(out.columns) == list(FUNDING)
    assert set(out["exchange"]) <= {BINANCE} and set(out["symbol"]) <= {"BTCUSDT"}
    return [
        (t.strftime("%H:%M"), rate, predicted, hours, apr)
        for t, rate, predicted, hours, apr in zip(
            out["funding_time"],
            out["rate"],
            out["predicted_rate"],
            out["interval_hours"],
            out["apr"],
            strict=True,
        )
    ]


def test_the_last_estimate_before_t_is_settled_and_the_opening_one_predicted():
    frame = minutes(
        ("23:58", "00:00", 0.0001),  # the day before: the period ending at 00:00
        ("23:59", "00:00", 0.00012),
        ("00:00", "08:00", 0.00003),  # rollover: the period opens with this estimate
        ("04:00", "08:00", 0.00005),
        ("07:45", "08:00", 0.00008),
        ("07:59", "08:00", 0.0001),  # the last estimate while 08:00 was ahead
        ("08:00", "16:00", 0.00002),
    )
    frame.loc[:1, "ts"] -= pd.Timedelta(days=1)
    # 00:00: its own rollover (from 16:00 the day before) is not in the data, so no interval.
    # 16:00: the data stops at 08:00, so no estimate within 30 min before it.
    assert settled(frame) == [("08:00", 0.0001, 0.00003, 8.0, 0.0001 * 8760 / 8)]


def test_an_interval_change_from_8_to_4_hours_is_read_from_the_funding_times():
    frame = minutes(
        ("07:59", "08:00", 0.0002),
        ("08:00", "12:00", 0.0001),  # Binance moved the symbol to 4 h funding at 08:00
        ("11:59", "12:00", 0.00015),
        ("12:00", "16:00", -0.00005),
        ("15:40", "16:00", -0.00002),
        ("16:00", "20:00", 0.00001),
    )
    assert settled(frame, configured=8) == [
        ("12:00", 0.00015, 0.0001, 4.0, 0.00015 * 8760 / 4),
        ("16:00", -0.00002, -0.00005, 4.0, -0.00002 * 8760 / 4),
    ]


def test_a_gap_before_t_gives_no_settlement_and_a_gap_after_t_prime_no_interval():
    frame = minutes(
        ("23:59", "00:00", 0.00007),
        ("00:00", "08:00", 0.0001),
        ("07:15", "08:00", 0.0003),  # 45 minutes before T: too far to be the settled rate
        ("08:45", "16:00", 0.0002),  # 45 minutes after 08:00: a funding time could hide in the gap
        ("15:59", "16:00", 0.0004),
        ("16:00", "20:00", 0.0005),  # the symbol moves to 4 h funding
        ("19:59", "20:00", 0.0006),
    )
    frame.loc[0, "ts"] -= pd.Timedelta(days=1)
    # 08:00 has no estimate within 30 min before it; 16:00 has no rollover near 08:00, and 08:45 is
    # too late for the 8 h rule; 20:00 rolls over at 16:00 right after 15:59: 4 h.
    assert settled(frame) == [("20:00", 0.0006, 0.0005, 4.0, 0.0006 * 8760 / 4)]
    frame.loc[2, "ts"] = at("07:30")  # exactly 30 minutes before T
    frame.loc[3, "ts"] = at("08:30")  # exactly 30 minutes after T'
    assert settled(frame) == [
        ("08:00", 0.0003, 0.0001, 8.0, 0.0003 * 8760 / 8),
        ("16:00", 0.0004, 0.0002, 8.0, 0.0004 * 8760 / 8),
        ("20:00", 0.0006, 0.0005, 4.0, 0.0006 * 8760 / 4),
    ]


def test_the_first_minute_of_a_backfill_can_only_open_an_8_hour_period():
    # No minute before 00:00: T = 08:00 shown at 00:00 means T' <= 00:00, so 8 h (no longer interval).
    assert settled(minutes(("00:00", "08:00", 0.0001), ("07:59", "08:00", 0.0002))) == [
        ("08:00", 0.0002, 0.0001, 8.0, 0.0002 * 8760 / 8)
    ]
    # T = 04:00 shown at 00:00 may follow 20:00 (8 h) or 00:00 (4 h): unknown.
    assert settled(minutes(("00:00", "04:00", 0.0001), ("03:59", "04:00", 0.0002))) == []
    assert settled(minutes(("00:31", "08:00", 0.0001), ("07:59", "08:00", 0.0002))) == []


def test_a_minute_still_showing_t_after_t_is_not_the_settled_rate():
    frame = minutes(
        ("23:59", "00:00", 0.0001),
        ("00:00", "08:00", 0.0002),
        ("07:59", "08:00", 0.0003),
        ("08:00", "08:00", 0.0009),  # late feed: T still shown at T, with a stale value
        ("08:01", "16:00", 0.0004),
        ("15:59", "16:00", 0.0006),
    )
    frame.loc[0, "ts"] -= pd.Timedelta(days=1)
    frame.loc[0, "funding_timestamp"] = at("00:00")
    assert settled(frame) == [
        ("08:00", 0.0003, 0.0002, 8.0, 0.0003 * 8760 / 8),
        ("16:00", 0.0006, 0.0004, 8.0, 0.0006 * 8760 / 8),
    ]


def test_no_interval_beyond_eight_hours_is_believed():
    # The feed jumps from 08:00 straight to the next day's 00:00: a funding time was missed.
    frame = minutes(("07:59", "08:00", 0.0001), ("08:00", at("00:00", "2024-03-02"), 0.0002))
    frame = pd.concat([frame, minutes((at("23:59", DAY), at("00:00", "2024-03-02"), 0.0003))])
    assert settled(frame) == []


def test_rows_without_a_funding_time_settle_nothing():
    assert settled(minutes(("07:59", None, 0.0001), ("08:00", None, 0.0002))) == []
    assert settled(minutes(("07:59", "08:00", None), ("08:00", "16:00", None))) == []


@pytest.mark.parametrize("configured", [1, 4, 8])
def test_the_configured_interval_changes_nothing(configured):
    frame = minutes(("07:59", "08:00", 0.0002), ("08:00", "12:00", 0.0001), ("11:59", "12:00", 0.00015))
    assert settled(frame, configured) == [("12:00", 0.00015, 0.0001, 4.0, 0.00015 * 8760 / 4)]


# -- interval switches (pipelines/venues/binance/README.md) ---------------------------------------
# LPTUSDT, Binance 2023-08-13: "from every eight hours to every four hours, starting from 2023-08-13
# at 10:30 (UTC)", schedule 12:00, 16:00, 20:00, ... at the raised cap of +/-2.50 %. The rates below
# are hand-picked: 12:00 at the cap 0.025, 16:00 0.020, so the true (08:00, 16:00] sum is 0.045.
LPT = "2023-08-13"


def lpt(hhmm: str) -> pd.Timestamp:
    return at(hhmm, LPT)


def lpt_minutes(*rows: tuple) -> pd.DataFrame:
    return minutes(*((lpt(m), None if t is None else lpt(t), r) for m, t, r in rows))


def detailed(frame: pd.DataFrame) -> list[tuple]:
    out = settlements(frame, BINANCE, "LPTUSDT", 8)
    return list(
        zip(out["funding_time"].dt.strftime("%H:%M"), out["rate"], out["interval_hours"], out["evidence"],
            out["warning"], strict=True)
    )  # fmt: skip


MID_SWITCH = (
    ("00:00", "08:00", 0.0001),  # the data opens the 00:00-08:00 period: 08:00 follows 00:00
    ("07:59", "08:00", 0.003),
    ("08:00", "16:00", 0.004),  # 8 h: 16:00 ahead
    ("10:29", "16:00", 0.012),
    ("10:30", "12:00", 0.015),  # the switch: T moves back to the first 4 h funding time
    ("11:59", "12:00", 0.025),
    ("12:00", "16:00", 0.01),
    ("15:59", "16:00", 0.02),
    ("16:00", "20:00", 0.005),
)


def test_lptusdt_2023_08_13_the_mid_period_switch_settles_12_00_for_08_00_to_12_00():
    assert settled(lpt_minutes(*MID_SWITCH)) == [
        ("08:00", 0.003, 0.0001, 8.0, 0.003 * 8760 / 8),
        ("12:00", 0.025, 0.015, 4.0, 0.025 * 8760 / 4),  # paid for 08:00-12:00: 4 h
        ("16:00", 0.02, 0.01, 4.0, 0.02 * 8760 / 4),
    ]
    window = [r for t, r, *_ in settled(lpt_minutes(*MID_SWITCH)) if "08:00" < t <= "16:00"]
    assert sum(window) == 0.045


def test_lptusdt_a_gap_around_the_switch_stores_12_00_as_a_hint_with_a_warning():
    rows = [r for r in MID_SWITCH if r[0] not in ("10:29", "10:30")]
    rows = [*rows, ("10:00", "16:00", 0.011), ("11:00", "12:00", 0.016)]  # 10:01-10:59 missing
    frame = lpt_minutes(*sorted(rows))
    warning = (
        "Binance LPTUSDT 2023-08-13 12:00: the funding time changed inside a data gap 10:00-11:00; "
        "interval 4 h assumed (none seen in the gap)"
    )  # an 11:00 settlement (a switch to 1 h at 10:30, say) would hide in the gap
    assert detailed(frame) == [
        ("08:00", 0.003, 8.0, "data", None),
        ("12:00", 0.025, 4.0, "hint", warning),
        ("16:00", 0.02, 4.0, "data", None),
    ]


def test_lptusdt_a_gap_without_a_whole_hour_in_it_leaves_the_switch_clean():
    rows = [r for r in MID_SWITCH if r[0] != "10:30"] + [("10:45", "12:00", 0.015)]
    assert [(t, h, e) for t, _, h, e, _ in detailed(lpt_minutes(*sorted(rows)))] == [
        ("08:00", 8.0, "data"),
        ("12:00", 4.0, "data"),
        ("16:00", 4.0, "data"),
    ]


def test_lptusdt_data_starting_after_the_switch_cannot_tell_12_00_its_interval():
    # 12:00 shown at 10:30 may follow 04:00 (8 h era) or 08:00: nothing stored; 16:00 follows 12:00.
    frame = lpt_minutes(*MID_SWITCH[4:])
    assert settled(frame) == [("16:00", 0.02, 0.01, 4.0, 0.02 * 8760 / 4)]


# ZKPUSDT, Binance 2026-01-02: hourly, back to 4 h "no later than 20:15 (UTC+8)" = 12:15 UTC after
# the 12:00 UTC settlement; "the latest funding rate payment time ... 00:00 (UTC+8)" = 16:00 UTC.
def test_zkpusdt_a_stale_next_time_after_the_revert_neither_adds_13_00_nor_drops_16_00():
    frame = minutes(
        ("10:00", "11:00", 0.001),  # hourly: the data opens at an hourly funding time
        ("10:59", "11:00", 0.002),
        ("11:00", "12:00", 0.0021),
        ("11:59", "12:00", 0.0003),
        ("12:00", "13:00", 0.0002),  # the stale hourly T: Binance reverts by 12:15 ...
        ("12:18", "13:00", 0.0002),
        ("12:19", "16:00", 0.0001),  # ... and the stream shows 16:00 from 12:19
        ("15:59", "16:00", 0.00012),
        ("16:00", "20:00", 0.0001),
    )
    # 11:00: its period opened before the data (10:00 showing 11:00 may follow 03:00 .. 10:00).
    assert settled(frame) == [
        ("12:00", 0.0003, 0.0021, 1.0, 0.0003 * 8760),
        ("16:00", 0.00012, 0.0001, 4.0, 0.00012 * 8760 / 4),  # pays for 12:00-16:00
    ]


def test_a_funding_time_abandoned_before_t_is_not_a_settlement_even_close_to_it():
    frame = minutes(
        ("00:00", "08:00", 0.0001),
        ("07:59", "08:00", 0.0002),
        ("08:00", "12:00", 0.0003),
        ("11:40", "12:00", 0.0004),  # shown until 11:40 ...
        ("11:41", "16:00", 0.0005),  # ... then Binance moved the next funding time on
        ("15:59", "16:00", 0.0006),
    )
    assert settled(frame) == [
        ("08:00", 0.0002, 0.0001, 8.0, 0.0002 * 8760 / 8),
        ("16:00", 0.0006, 0.0005, 8.0, 0.0006 * 8760 / 8),
    ]
