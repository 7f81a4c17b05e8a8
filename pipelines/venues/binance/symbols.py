"""Binance's symbol rules: how its replay filters spell a symbol."""

from __future__ import annotations


def lower_case(channel: str, symbols: list[str]) -> list[str]:
    """Binance's stream names spell symbols lower-case (`btcusdt@markPrice`), and so do its replay
    filters (tardis-node's getFilters); records carry the upper-case `s` field."""
    return [s.lower() for s in symbols]
