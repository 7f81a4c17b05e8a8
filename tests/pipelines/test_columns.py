"""Column names and the side tables are declared once, consistently with the store schema."""

from __future__ import annotations

from pipelines.core.columns import (
    BITFINEX,
    DERIVATIVE_TICKER,
    EXCHANGES,
    FUNDING,
    GATE,
    MINUTE,
    SIDES,
    VALUE_FIELDS,
)
from pipelines.store import SCHEMA
from pipelines.venues.registry import VENUES


def test_the_sides_are_legs_a_and_b_and_each_names_its_window_columns():
    assert SIDES == ("a", "b")
    windows = SCHEMA["windows"][0]
    for side in SIDES:
        assert {f"{side}_exchange", f"{side}_symbol", f"{side}_rate", f"z_{side}_rate"} <= set(windows)
    assert not [c for c in windows if GATE in c or "gate_" in c or "bitfinex_" in c or BITFINEX in c]


def test_every_exchange_has_a_venue_with_a_history_start_and_a_replay_channel():
    assert set(VENUES) == set(EXCHANGES)
    assert all(v.history_start and v.channels for v in VENUES.values())


def test_a_change_of_timestamp_alone_is_no_value_change():
    assert "timestamp" not in VALUE_FIELDS and "local_timestamp" not in VALUE_FIELDS
    assert set(DERIVATIVE_TICKER) - set(VALUE_FIELDS) == {
        "exchange",
        "symbol",
        "timestamp",
        "local_timestamp",
    }


def test_minute_and_funding_columns_are_the_store_tables():
    assert set(MINUTE) == set(SCHEMA["tickers"][0])
    assert set(FUNDING) == set(SCHEMA["funding"][0])
