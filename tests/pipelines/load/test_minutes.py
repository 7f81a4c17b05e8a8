"""Settlements re-derived on load reach as far as their evidence: the order days are loaded in
must not change them (Gate's old-era forecast of T lies one interval before T)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pipelines.core.columns import GATE
from pipelines.extract.replay import Extracted
from pipelines.load.minutes import load_extracted
from pipelines.store import open_db

SYMBOL = "BTC_USDT"
DAY1 = datetime(2021, 3, 1, tzinfo=UTC)


def gate_day(day: datetime) -> Extracted:
    """One Gate day of minute rows; each minute's rate and indicative are distinct and known."""
    rows = []
    for m in range(24 * 60):
        minute = int(day.timestamp()) // 60 + m
        rate, indicative = minute * 1e-9, minute * 1e-9 + 5e-5
        record = (GATE, SYMBOL, minute * 60_000_000, minute * 60_000_000, None, rate, indicative,
                  None, 100.0, 100.0, 100.0)  # fmt: skip
        rows.append((SYMBOL, minute, record))
    return Extracted(GATE, day, day + timedelta(days=1), "replay", rows, len(rows), 0, {SYMBOL: len(rows)})


def funding(path, order):
    db = open_db(path)
    for day in order:
        load_extracted(db, gate_day(day), {SYMBOL: 8}, day=day.date().isoformat())
    return {r["funding_time"]: r["predicted_rate"] for r in db["funding"].rows}


def test_loading_days_in_either_order_gives_the_same_gate_forecasts(tmp_path):
    day2 = DAY1 + timedelta(days=1)
    forward = funding(tmp_path / "forward.db", [DAY1, day2])
    backward = funding(tmp_path / "backward.db", [day2, DAY1])
    assert backward == forward
    # 2021-03-02 08:00 was forecast by the indicative at 2021-03-01 23:59 (the last minute of day 1)
    last_minute = int(day2.timestamp()) // 60 - 1
    assert forward["2021-03-02T08:00:00Z"] == pytest.approx(last_minute * 1e-9 + 5e-5)
