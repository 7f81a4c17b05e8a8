"""Reading the loaded history back: one symbol's minutes and settlements in [start, end), and a
pair's settlements in (start, end] as the windows stage reads them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pipelines.core.columns import BITFINEX, FUNDING, GATE, MINUTE
from pipelines.load.minutes import read_funding, read_minutes
from pipelines.transform.windows_stage import pair_funding

T0 = datetime(2024, 3, 1, tzinfo=UTC)


def _settlement(exchange: str, symbol: str, hours: int, rate: float, predicted: float | None = None) -> dict:
    when = T0 + timedelta(hours=hours)
    return {
        "exchange": exchange, "symbol": symbol, "funding_time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "rate": rate, "predicted_rate": predicted, "interval_hours": 8.0, "apr": rate * 8760 / 8,
    }  # fmt: skip


@pytest.fixture
def stored(db):
    db["funding"].insert_all(
        [
            _settlement(GATE, "BTC_USDT", 0, 1e-4, 1e-4),
            _settlement(GATE, "BTC_USDT", 8, 2e-4),
            _settlement(GATE, "BTC_USDT", 16, 3e-4, 3e-4),
            _settlement(BITFINEX, "BTCF0:USTF0", 8, 5e-5, 5e-5),
            _settlement(GATE, "ETH_USDT", 8, 9e-4, 9e-4),  # another symbol
        ]
    )
    db["tickers"].insert_all(
        {"exchange": GATE, "symbol": "BTC_USDT", "ts": f"2024-03-01T00:0{m}:00Z", "mark_price": 100.0 + m}
        for m in range(5)
    )
    return db


def test_a_symbols_settlements_are_read_in_a_half_open_range(stored):
    frame = read_funding(stored, GATE, "BTC_USDT", T0, T0 + timedelta(hours=16))
    assert list(frame.columns) == list(FUNDING)
    assert frame["funding_time"].tolist() == [T0, T0 + timedelta(hours=8)]  # 16:00 is the next range's
    assert str(frame["funding_time"].dt.tz) == "UTC"


def test_a_symbols_minutes_are_read_oldest_first_with_missing_values_as_nan(stored):
    frame = read_minutes(stored, GATE, "BTC_USDT", T0 + timedelta(minutes=1), T0 + timedelta(minutes=4))
    assert list(frame.columns) == list(MINUTE)
    assert frame["mark_price"].tolist() == [101.0, 102.0, 103.0]
    assert frame["index_price"].isna().all() and frame["funding_timestamp"].isna().all()


def test_a_pairs_settlements_belong_to_the_window_they_end(stored, settings):
    btc = settings.pairs[0]
    frame = pair_funding(stored, btc, T0, T0 + timedelta(hours=8))  # (00:00, 08:00]
    assert sorted(zip(frame["exchange"], frame["funding_time"], strict=True)) == [
        (BITFINEX, T0 + timedelta(hours=8)),
        (GATE, T0 + timedelta(hours=8)),
    ]
    assert (
        frame["predicted_rate"].dtype == float
        and frame["predicted_rate"].isna().tolist() == [True, False]
        or (sorted(frame["predicted_rate"].isna().tolist()) == [False, True])
    )
    later = pair_funding(stored, btc, T0 + timedelta(hours=8), T0 + timedelta(days=1))
    assert later["funding_time"].tolist() == [T0 + timedelta(hours=16)]
    assert pair_funding(stored, btc, T0 + timedelta(days=1), T0 + timedelta(days=2)).empty
