"""Pairs as two legs, markets per coin, and the config that names them (old and new spellings)."""

from __future__ import annotations

import dataclasses

import pytest

from pipelines.config.pairs import Leg
from pipelines.config.settings import settings_from_mapping
from pipelines.core.columns import BITFINEX, GATE
from pipelines.core.errors import ConfigError
from pipelines.venues import gate
from pipelines.venues.registry import VENUES

GATE_BTC = "gate-io-futures:BTC_USDT"
BFX_BTC = "bitfinex-derivatives:BTCF0:USTF0"


def load(data: dict):
    return settings_from_mapping(data, env={}, source="config.yaml")


def error(data: dict) -> str:
    with pytest.raises(ConfigError) as err:
        load(data)
    return str(err.value)


@pytest.fixture
def binance(monkeypatch):
    """A third venue in the registry (a real Venue spelled like Binance), for market combinations."""
    venue = dataclasses.replace(
        gate.VENUE, exchange="binance-futures", label="Binance", symbol_format="{coin}USDT"
    )
    monkeypatch.setitem(VENUES, venue.exchange, venue)
    return venue


def test_legs_coin_and_legacy_spellings_give_the_same_pair():
    expected = (Leg(GATE, "BTC_USDT", 4.0), Leg(BITFINEX, "BTCF0:USTF0", None))
    spellings = [
        {"name": "BTC", "legs": [GATE_BTC, BFX_BTC], "interval_hours": {GATE: 4}},
        {"name": "BTC", "legs": [{"exchange": GATE, "symbol": "BTC_USDT", "interval_hours": 4}, BFX_BTC]},
        {"name": "BTC", "coin": "BTC", "venues": [GATE, BITFINEX], "interval_hours": {GATE: 4}},
        {
            "name": "BTC",
            "gate_symbol": "BTC_USDT",
            "bitfinex_symbol": "BTCF0:USTF0",
            "gate_interval_hours": 4,
        },
    ]
    for pair in spellings:
        [got] = load({"pairs": [pair]}).pairs
        assert got.legs == expected and got.window_hours == 8  # the longer leg: Bitfinex's usual 8 h
        assert got.label == "Gate - Bitfinex"


def test_a_leg_splits_on_the_first_colon_and_a_pair_may_set_its_window():
    [pair] = load({"pairs": [{"name": "X", "legs": [BFX_BTC, GATE_BTC], "window_hours": 24}]}).pairs
    assert pair.legs[0] == Leg(BITFINEX, "BTCF0:USTF0", None) and pair.window_hours == 24


def test_an_empty_config_derives_four_pairs_from_the_default_markets():
    settings = load({})
    assert [p.name for p in settings.pairs] == ["BTC", "ETH", "SOL", "DOGE"]
    assert [m.coin for m in settings.markets] == ["BTC", "ETH", "SOL", "DOGE"]
    assert len(settings.watched_legs()) == 8


def test_pairs_alone_watch_only_their_legs():
    settings = load({"pairs": [{"name": "BTC", "legs": [GATE_BTC, BFX_BTC]}]})
    assert settings.markets == () and settings.watched_legs() == settings.pairs[0].legs


def test_a_market_override_spells_the_symbol_of_a_coin_pair_and_markets_add_legs_to_watch():
    market = {"coin": "BTC", "venues": [GATE, BITFINEX], "symbols": {GATE: "XBT_USDT"}}
    extra = {"coin": "ETH", "venues": [GATE, BITFINEX]}
    settings = load(
        {"markets": [market, extra], "pairs": [{"name": "B", "coin": "btc", "venues": [GATE, BITFINEX]}]}
    )
    assert settings.pairs[0].legs[0] == Leg(GATE, "XBT_USDT", 8.0)
    assert [leg[:2] for leg in settings.watched_legs()] == [
        (GATE, "XBT_USDT"),
        (BITFINEX, "BTCF0:USTF0"),
        (GATE, "ETH_USDT"),
        (BITFINEX, "ETHF0:USTF0"),
    ]


def test_a_market_of_three_venues_gives_every_two_venue_pair(binance):
    settings = load({"markets": [{"coin": "SOL", "venues": [GATE, BITFINEX, binance.exchange]}]})
    assert [p.name for p in settings.pairs] == [
        "SOL-Gate-Bitfinex",
        "SOL-Gate-Binance",
        "SOL-Bitfinex-Binance",
    ]
    assert settings.pairs[2].legs == (
        Leg(BITFINEX, "SOLF0:USTF0", None),
        Leg(binance.exchange, "SOLUSDT", 8.0),
    )


@pytest.mark.parametrize(
    ("pair", "message"),
    [
        (
            {"name": "B", "legs": [GATE_BTC, "okex:BTC"]},
            "pairs.0: legs.1: unknown venue 'okex'; known venues: gate-io-futures, bitfinex-derivatives",
        ),
        (
            {"name": "B", "legs": ["gate-io-futures:BTC-USDT", BFX_BTC]},
            "pairs.0: legs.0: 'BTC-USDT' is not a gate-io-futures perpetual; Gate spells them like BTC_USDT",
        ),
        ({"name": "B", "legs": [GATE_BTC, GATE_BTC]}, "both legs are gate-io-futures:BTC_USDT"),
        ({"name": "B", "legs": [GATE_BTC]}, "a pair needs exactly two legs"),
        ({"name": "B", "legs": ["BTC_USDT", BFX_BTC]}, "write a leg as <exchange>:<symbol>"),
        (
            {"name": "B", "legs": [GATE_BTC, BFX_BTC], "interval_hours": {BITFINEX: 4}},
            "Bitfinex gives each funding time in its data",
        ),
        ({"name": "B", "legs": [GATE_BTC, BFX_BTC], "window_hours": 12}, "not a whole number of"),
        (
            {
                "name": "B",
                "gate_symbol": "BTC_USDT",
                "bitfinex_symbol": "BTCF0:USTF0",
                "bitfinex_interval_hours": 4,
            },
            "bitfinex_interval_hours: Bitfinex gives each funding time in its data",
        ),
        ({"name": "B", "coin": "BTC", "venues": [GATE, "nope"]}, "pairs.0: unknown venue 'nope'"),
    ],
)
def test_a_bad_pair_is_one_line_naming_it(pair, message):
    text = error({"pairs": [pair]})
    assert text.startswith("config.yaml: pairs.0") and message in text and "\n" not in text


def test_a_leg_with_two_intervals_and_a_bad_market_are_refused():
    two = [
        {"name": "A", "legs": [GATE_BTC, BFX_BTC], "interval_hours": {GATE: 4}},
        {"name": "B", "legs": [GATE_BTC, "bitfinex-derivatives:ETHF0:USTF0"]},
    ]
    assert "gate-io-futures:BTC_USDT is configured with 4 h and 8 h" in error({"pairs": two})
    assert "markets.0" in error({"markets": [{"coin": "BTC", "venues": [GATE, "nope"]}]})
    assert "markets.0" in error({"markets": [{"coin": "BTC", "venues": [GATE]}]})


def test_fees_per_venue_default_to_the_venue_and_legacy_keys_still_work():
    assert load({}).fees.taker_fee(BITFINEX) == VENUES[BITFINEX].taker_fee
    fees = load({"fees": {"gate_taker": 0.001, "taker": {BITFINEX: 0.0002}}}).fees
    assert (fees.taker_fee(GATE), fees.taker_fee(BITFINEX)) == (0.001, 0.0002)
    assert "fees.taker: unknown venue 'kraken'" in error({"fees": {"taker": {"kraken": 0.001}}})


def test_legacy_zscore_feature_names_are_translated_to_legs():
    t = load(
        {"transform": {"zscore_features": ["gate_rate", "bitfinex_basis_mean_bps", "funding_diff"]}}
    ).transform
    assert t.zscore_features == ("a_rate", "b_basis_mean_bps", "funding_diff")
