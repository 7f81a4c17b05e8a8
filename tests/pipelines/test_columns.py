"""Column names and the side tables are declared once, consistently with the store schema."""

from __future__ import annotations

from pipelines.columns import (
    BITFINEX,
    DERIVATIVE_TICKER,
    EXCHANGES,
    FUNDING,
    GATE,
    MINUTE,
    SIDE_LABELS,
    SIDE_SHORT,
    SIDES,
    VALUE_FIELDS,
)
from pipelines.store import SCHEMA
from pipelines.venues.registry import VENUES


def test_the_sides_name_both_exchanges_gate_first_with_a_label_each():
    assert list(SIDES.items()) == [("gate", GATE), ("bitfinex", BITFINEX)]
    assert tuple(SIDES.values()) == EXCHANGES[: len(SIDES)]  # the pair's two sides come first
    assert set(SIDE_LABELS) == set(SIDE_SHORT) == set(SIDES)


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
