"""The screen's ranking as a pure function: every two venues of a coin, figures by hand."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime

import pandas as pd
import pytest

from pipelines.config.pairs import Leg, Market
from pipelines.core.columns import BITFINEX, GATE
from pipelines.transform.screen import ScreenLeg, coin_legs, screen
from pipelines.venues import gate
from pipelines.venues.registry import VENUES

START, END = datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 3, 1, 16, tzinfo=UTC)
FEE = 0.0005
FEES_APR = 2 * (FEE + FEE) * 1095 / 21


@pytest.fixture
def binance(monkeypatch):
    """A third venue in the registry: a real Venue spelled like Binance (8 h, funding times in data)."""
    venue = dataclasses.replace(
        gate.VENUE,
        exchange="binance-futures",
        label="Binance",
        symbol_format="{coin}USDT",
        interval_in_data=True,
    )
    monkeypatch.setitem(VENUES, venue.exchange, venue)
    return venue


def rows(exchange, symbol, rates):
    times = [pd.Timestamp("2024-03-01T08:00Z"), pd.Timestamp("2024-03-01T16:00Z")]
    return pd.DataFrame(
        {"exchange": exchange, "symbol": symbol, "funding_time": times, "rate": rates, "predicted_rate": None}
    ).assign(interval_hours=8.0)


def test_every_two_venues_of_a_coin_ranked_by_mean_net_carry(binance):
    legs = [
        ScreenLeg("BTC", Leg(GATE, "BTC_USDT", 8.0), FEE),
        ScreenLeg("BTC", Leg(BITFINEX, "BTCF0:USTF0"), FEE),
        ScreenLeg("BTC", Leg(binance.exchange, "BTCUSDT"), FEE),
        ScreenLeg("BTC", Leg(GATE, "XBT_USDT", 8.0), FEE),  # no settlements: not screened
    ]
    funding = pd.concat(
        [
            rows(GATE, "BTC_USDT", [0.0003, 0.0003]),
            rows(BITFINEX, "BTCF0:USTF0", [0.0001, 0.0001]),
            rows(binance.exchange, "BTCUSDT", [0.0002, -0.0002]),
        ]
    )
    out = screen(funding, legs, START, END, holding_periods=21)
    assert out["legs"].tolist() == ["Gate - Binance", "Gate - Bitfinex", "Bitfinex - Binance"]
    gate_binance, gate_bfx, bfx_binance = out.to_dict("records")
    # differentials 0.0001, 0.0005 per 8 h: carry 10.95 % and 54.75 % APR
    assert gate_binance["mean_carry_apr"] == pytest.approx(0.3285)
    assert gate_binance["std_carry_apr"] == pytest.approx(0.438 / math.sqrt(2))
    assert gate_binance["mean_net_carry_apr"] == pytest.approx(0.3285 - FEES_APR)
    assert (gate_bfx["mean_carry_apr"], gate_bfx["std_carry_apr"]) == (pytest.approx(0.219), pytest.approx(0))
    # -0.0001 then +0.0003: the mean is positive, so short Bitfinex; half the windows go the other way
    assert (bfx_binance["short"], bfx_binance["long"], bfx_binance["share_with_sign"]) == (
        "Bitfinex",
        "Binance",
        0.5,
    )
    assert bfx_binance["mean_carry_apr"] == pytest.approx(0.1095)
    assert set(out["coverage"]) == {1.0} and set(out["windows"]) == {2}


def test_a_negative_mean_shorts_leg_b_and_market_coins_name_override_legs():
    funding = pd.concat(
        [rows(GATE, "XBT_USDT", [0.0001, 0.0001]), rows(BITFINEX, "BTCF0:USTF0", [0.0004, 0.0002])]
    )
    market = Market(coin="BTC", venues=(GATE, BITFINEX), symbols={GATE: "XBT_USDT"})
    [legs] = coin_legs([], [market]).values()
    out = screen(funding, [ScreenLeg("BTC", leg, FEE) for leg in legs], START, END, 21).iloc[0]
    assert (out["short"], out["long"]) == ("Bitfinex", "Gate") and out["mean_diff"] == pytest.approx(-0.0002)
    assert out["mean_carry_apr"] == pytest.approx(0.0002 * 1095) and out["share_with_sign"] == 1.0


def test_a_window_holding_a_hint_settlement_is_not_screened():
    legs = [
        ScreenLeg("BTC", Leg(GATE, "BTC_USDT", 8.0), FEE),
        ScreenLeg("BTC", Leg(BITFINEX, "BTCF0:USTF0"), FEE),
    ]
    gate_rows = rows(GATE, "BTC_USDT", [0.0003, 0.0005]).assign(evidence=["data", "hint"])
    funding = pd.concat([gate_rows, rows(BITFINEX, "BTCF0:USTF0", [0.0001, 0.0001])])
    [row] = screen(funding, legs, START, END, holding_periods=21).to_dict("records")
    assert (row["windows"], row["windows_in_range"]) == (1, 2)  # 16:00 rests on the configured grid
    assert row["mean_diff"] == pytest.approx(0.0002)
