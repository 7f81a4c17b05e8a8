"""OKX settlements from minute rows, on small hand-made frames (the rule: pipelines/venues/okx_settle.py).

Minute rows carry `funding_timestamp` = the next funding time T (V5 `fundingTime`), `funding_rate`
= the rate of the period ending at T and `predicted_funding_rate` = the forecast of the period after.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from pipelines.columns import FUNDING, OKX
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


def test_the_interval_of_each_settlement_comes_from_the_data_and_can_change():
    rows = []
    for start, due in [("00:00", "08:00"), ("08:00", "16:00"), ("16:00", "20:00"), ("20:00", "24:00")]:
        t0 = pd.Timestamp(f"2024-03-01T{start}", tz="UTC")
        t1 = t0 + pd.Timedelta(hours=(int(due[:2]) - int(start[:2])))
        rate = {"08:00": 0.0001, "16:00": 0.0002, "20:00": 0.0003}.get(due, 0.0004)
        rows += [(t0, t1, rate, rate * 2), (t1 - pd.Timedelta(minutes=1), t1, rate, rate * 2)]
    midnight = pd.Timestamp("2024-03-02T00:00", tz="UTC")
    rows.append((midnight, midnight + pd.Timedelta(hours=4), 0.1, 0.1))
    out = settlements(minutes(rows), OKX, SYMBOL, 8)
    assert times(out) == ["01 08:00", "01 16:00", "01 20:00", "02 00:00"]
    assert out["interval_hours"].tolist() == [8.0, 8.0, 4.0, 4.0]
    assert out["rate"].tolist() == [0.0001, 0.0002, 0.0003, 0.0004]
    assert out["apr"].tolist() == pytest.approx([0.0001 * 1095, 0.0002 * 1095, 0.0003 * 2190, 0.0004 * 2190])
    # Each forecast was made before the previous funding time (08:00's, before 00:00, is not in the data).
    assert pd.isna(out["predicted_rate"].iloc[0])
    assert out["predicted_rate"].iloc[1:].tolist() == [0.0001 * 2, 0.0002 * 2, 0.0003 * 2]


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
