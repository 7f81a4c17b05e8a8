"""OKX settlements from minute rows, on small hand-made frames (the rule: pipelines/venues/okx/settle.py).

Minute rows carry `funding_timestamp` = the next funding time T (V5 `fundingTime`), `funding_rate`
= the rate of the period ending at T and `predicted_funding_rate` = the forecast of the period after.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from pipelines.core.columns import FUNDING, OKX
from pipelines.extract.replay import Extracted
from pipelines.load.minutes import load_extracted, settlements
from pipelines.store import open_db

SYMBOL = "BTC-USDT-SWAP"


def minutes(rows):
    """(ts, funding_timestamp, funding_rate, predicted_funding_rate) -> a minute frame."""
    frame = pd.DataFrame(rows, columns=["ts", "funding_timestamp", "funding_rate", "predicted_funding_rate"])
    return frame.assign(
        ts=pd.to_datetime(frame["ts"], utc=True),
        funding_timestamp=pd.to_datetime(frame["funding_timestamp"], utc=True),
    )


def times(out):
    return out["funding_time"].dt.strftime("%d %H:%M").tolist()


def test_settles_the_last_rate_before_t_and_the_forecast_made_one_period_earlier():
    out = settlements(
        minutes(
            [
                ("2024-03-01T23:50", "2024-03-02T00:00", 0.0001, 0.0002),
                ("2024-03-01T23:59", "2024-03-02T00:00", 0.00011, 0.00021),  # forecast of 08:00: 0.00021
                (
                    "2024-03-02T00:00",
                    "2024-03-02T08:00",
                    0.00021,
                    0.0003,
                ),  # the new period, not paid at 00:00
                ("2024-03-02T07:40", "2024-03-02T08:00", 0.00025, 0.0004),
                ("2024-03-02T07:59", "2024-03-02T08:00", 0.00026, 0.00041),  # paid at 08:00: 0.00026
                ("2024-03-02T08:00", "2024-03-02T16:00", 0.00041, 0.0005),
            ]
        ),
        OKX,
        SYMBOL,
        8,
    )
    assert list(out.columns) == list(FUNDING)
    assert times(out) == ["02 00:00", "02 08:00"]
    assert out["rate"].tolist() == [0.00011, 0.00026]
    # 00:00: the forecast before 16:00 the day before is not in the data; 08:00: made before 00:00.
    assert out["predicted_rate"].isna().tolist() == [True, False]
    assert out["predicted_rate"].iloc[1] == 0.00021
    assert out["interval_hours"].tolist() == [8.0, 8.0]  # 00:00 from the rollover out of it (to 08:00)
    assert out["apr"].tolist() == pytest.approx([0.00011 * 1095, 0.00026 * 1095])
    assert set(out["exchange"]) == {OKX} and set(out["symbol"]) == {SYMBOL}


def dense(start, end, shown, stated=None):
    """A minute row per minute in [start, end): `shown(ts)` -> funding time shown; the rate shown for a
    funding time T is `rate_of(T)`, the forecast `rate_of(T) * 2`; `stated(ts)` -> prevFundingTime."""
    rows = []
    for ts in pd.date_range(start, end, freq="1min", inclusive="left", tz="UTC"):
        t = shown(ts)
        prev = stated(ts) if stated else None
        rows.append((ts, t, rate_of(t), rate_of(t) * 2, rate_of(prev) if prev else None, prev))
    frame = pd.DataFrame(
        rows,
        columns=[
            "ts",
            "funding_timestamp",
            "funding_rate",
            "predicted_funding_rate",
            "stated_rate",
            "stated_time",
        ],
    )
    return frame.assign(stated_time=pd.to_datetime(frame["stated_time"], utc=True))


def rate_of(t):
    """A made-up rate per funding time: its hour and minute as millionths."""
    return None if t is None else (t.hour * 100 + t.minute + 1) * 1e-6


def on_grid(hours):
    """The next funding time after ts on a grid of `hours`, as a function of ts."""
    return lambda ts: ts.floor(f"{hours}h") + pd.Timedelta(hours=hours)


def hourly_then_4h(ts):
    """Hourly until 12:00, then 4 h from 12:15 (the next time 16:00), but 13:00 still shown until 12:19."""
    if ts < pd.Timestamp("2024-03-01T12:00", tz="UTC"):
        return on_grid(1)(ts)
    if ts < pd.Timestamp("2024-03-01T12:20", tz="UTC"):
        return pd.Timestamp("2024-03-01T13:00", tz="UTC")
    return on_grid(4)(ts)


def test_a_stale_next_funding_time_after_a_switch_is_no_settlement_nor_shortens_the_next():
    """Fails on main: 16:00 was stored as 3 h (13:00 shown for 20 minutes counted as the one before)."""
    out = settlements(dense("2024-03-01T08:00", "2024-03-01T17:00", hourly_then_4h), OKX, SYMBOL, 8)
    assert times(out) == ["01 09:00", "01 10:00", "01 11:00", "01 12:00", "01 16:00"]
    assert out["interval_hours"].tolist()[1:] == [1.0, 1.0, 1.0, 4.0]  # 16:00: from 12:00, 4 h
    assert out["rate"].iloc[-1] == rate_of(pd.Timestamp("2024-03-01T16:00"))
    # the forecast of 16:00: the last one shown while 12:00 was the funding time (then hourly)
    assert out["predicted_rate"].iloc[-1] == rate_of(pd.Timestamp("2024-03-01T12:00")) * 2
    assert out["evidence"].tolist()[1:] == ["data"] * 4 and out["warning"].iloc[1:].isna().all()


def test_a_first_day_without_history_is_a_hint_not_the_next_interval():
    """Fails on main: 04:00 (4 h, then hourly) was labelled 1 h from the rollover after it."""
    shown = lambda ts: on_grid(4)(ts) if ts < pd.Timestamp("2024-03-01T04:00", tz="UTC") else on_grid(1)(ts)  # noqa: E731
    out = settlements(dense("2024-03-01T00:00", "2024-03-01T07:00", shown), OKX, SYMBOL, 8)
    assert times(out)[:2] == ["01 04:00", "01 05:00"]
    first = out.iloc[0]
    # at least 4 h shown, and 04:00 lies on no 8 h or 6 h grid: 4 h, but only a hint
    assert first["interval_hours"] == 4.0 and first["evidence"] == "hint"
    assert first["warning"].startswith("OKX BTC-USDT-SWAP 2024-03-01 04:00: no settlement before it")
    assert out["interval_hours"].iloc[1] == 1.0 and out["evidence"].iloc[1] == "data"


def test_prev_funding_time_states_the_interval_and_the_stated_rate_wins():
    stated = lambda ts: ts.floor("4h")  # noqa: E731 - prevFundingTime: the last 4 h settlement
    out = settlements(dense("2024-03-01T00:00", "2024-03-01T09:00", on_grid(4), stated), OKX, SYMBOL, 8)
    assert times(out) == ["01 04:00", "01 08:00"]
    assert out["interval_hours"].tolist() == [4.0, 4.0]  # even the first: 04:00 - 00:00 stated
    assert out["evidence"].tolist() == ["stated", "stated"] and out["warning"].isna().all()
    assert (
        out["stated_rate"].tolist()
        == out["rate"].tolist()
        == [rate_of(pd.Timestamp("2024-03-01T04:00"))] + [rate_of(pd.Timestamp("2024-03-01T08:00"))]
    )


def test_a_stated_rate_that_differs_from_the_shown_one_is_kept_with_a_warning():
    frame = dense("2024-03-01T00:00", "2024-03-01T09:00", on_grid(4), lambda ts: ts.floor("4h"))
    at_4 = frame["stated_time"] == pd.Timestamp("2024-03-01T04:00", tz="UTC")
    frame = frame.assign(stated_rate=frame["stated_rate"].mask(at_4, 0.0009))
    out = settlements(frame, OKX, SYMBOL, 8).set_index("funding_time")
    row = out.loc[pd.Timestamp("2024-03-01T04:00", tz="UTC")]
    assert row["rate"] == row["stated_rate"] == 0.0009 and row["evidence"] == "stated"
    assert "0.000401" in row["warning"] and "0.0009" in row["warning"]
    assert out["warning"].isna().tolist() == [False, True]


def test_a_gap_between_settlements_makes_the_interval_a_hint():
    frame = dense("2024-03-01T00:00", "2024-03-01T17:00", on_grid(8))
    gap = (frame["ts"] >= "2024-03-01T10:00") & (frame["ts"] < "2024-03-01T13:00")  # a settlement could hide
    out = settlements(frame.loc[~gap], OKX, SYMBOL, 8)
    assert times(out) == ["01 08:00", "01 16:00"]
    assert out["evidence"].tolist() == ["data", "hint"]  # 08:00: shown 8 h, OKX's longest interval
    assert out["interval_hours"].tolist() == [8.0, 8.0] and "configured 8 h" in out["warning"].iloc[1]


def test_a_gap_before_t_leaves_that_settlement_out():
    out = settlements(
        minutes(
            [
                ("2024-03-01T00:00", "2024-03-01T08:00", 0.0001, 0.0002),
                ("2024-03-01T07:20", "2024-03-01T08:00", 0.0001, 0.0002),  # 40 min before 08:00: too early
                ("2024-03-01T08:10", "2024-03-01T16:00", 0.0003, 0.0004),
                ("2024-03-01T15:59", "2024-03-01T16:00", 0.00031, 0.0004),
                ("2024-03-01T16:00", "2024-03-02T00:00", 0.0005, 0.0006),
            ]
        ),
        OKX,
        SYMBOL,
        8,
    )
    assert times(out) == ["01 16:00"]
    assert out["rate"].tolist() == [0.00031]
    # The rollover into 16:00 lies across the 50-minute gap, the one out of it is seen: 8 h.
    assert out["interval_hours"].tolist() == [8.0]
    assert out["predicted_rate"].isna().all()  # the forecast of 16:00 (before 08:00) is too far from 08:00


def test_no_rollover_seen_takes_the_configured_interval_and_data_must_reach_t():
    rows = [
        ("2024-03-01T03:00", "2024-03-01T04:00", 0.0001, None),
        ("2024-03-01T03:59", "2024-03-01T04:00", 0.0002, None),  # then the data ends
    ]
    out = settlements(minutes(rows), OKX, SYMBOL, 4)
    assert times(out) == ["01 04:00"]
    assert out["interval_hours"].tolist() == [4.0] and out["predicted_rate"].isna().all()
    assert settlements(minutes(rows[:1]), OKX, SYMBOL, 4).empty  # the data stops 1 h before T


def test_rows_whose_funding_time_is_not_ahead_are_not_read():
    # v3 `swap/funding_rate` (before 2021-12-23) gives the funding time of the running period.
    rows = [
        ("2021-07-01T00:30", "2021-07-01T00:00", 0.0001, 0.0002),
        ("2021-07-01T07:59", "2021-07-01T00:00", 0.0001, 0.0002),
    ]
    assert settlements(minutes(rows), OKX, SYMBOL, 8).empty
    assert settlements(minutes([]), OKX, SYMBOL, 8).empty


def okx_day(day: datetime) -> Extracted:
    """A day of minute rows: 8 h funding until 2024-03-02 08:00, 4 h after; rates known per minute."""
    rows = []
    for m in range(24 * 60):
        minute = int(day.timestamp()) // 60 + m
        ts = datetime.fromtimestamp(minute * 60, UTC)
        due = next(t for t in _due_times(day) if t > ts)
        record = (OKX, SYMBOL, minute * 60_000_000, minute * 60_000_000, int(due.timestamp()) * 1_000_000,
                  minute * 1e-9, minute * 1e-9 + 5e-5, None, 100.0, 100.0, 100.0)  # fmt: skip
        rows.append((SYMBOL, minute, record))
    return Extracted(OKX, day, day + timedelta(days=1), "replay", rows, len(rows), 0, {SYMBOL: len(rows)})


def _due_times(day):
    base = datetime(2024, 3, 1, tzinfo=UTC)
    hours = [0, 8, 16, 24, 32, 36, 40, 44, 48, 52, 56, 60, 64, 68, 72]
    return [base + timedelta(hours=h) for h in hours]


def test_loading_days_in_either_order_gives_the_same_settlements(tmp_path):
    days = [datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 3, 2, tzinfo=UTC)]
    found = []
    for name, order in (("forward", days), ("backward", days[::-1])):
        db = open_db(tmp_path / f"{name}.db")
        for day in order:
            load_extracted(db, okx_day(day), {SYMBOL: 8}, day=day.date().isoformat())
        rows = db["funding"].rows
        found.append(
            sorted((r["funding_time"], r["rate"], r["predicted_rate"], r["interval_hours"]) for r in rows)
        )
    assert found[0] == found[1]
    by_time = {t: (rate, hours) for t, rate, _, hours in found[0]}
    t = datetime(2024, 3, 2, 12, tzinfo=UTC)  # 4 h after the 08:00 settlement
    assert by_time[t.strftime("%Y-%m-%dT%H:%M:%SZ")] == ((int(t.timestamp()) // 60 - 1) * 1e-9, 4.0)
    assert by_time["2024-03-02T08:00:00Z"][1] == 8.0
