"""Bybit USDT perpetuals (Tardis `bybit`): the descriptor of the venue,
registered in `pipelines.venues.registry`.

Its normalizer is in `normalize`, its settlement rule in `settle` (its sample feed: still in loopback), and
its docs page is README.md here.
"""

from __future__ import annotations

from pipelines.venues.bybit.normalize import EXCHANGE, BybitNormalizer
from pipelines.venues.bybit.settle import bybit_settlements
from pipelines.venues.venue import Venue

__all__ = ["EXCHANGE", "VENUE"]

VENUE = Venue(
    EXCHANGE,
    channels=("tickers", "instrument_info"),
    normalizer=BybitNormalizer,
    settle=bybit_settlements,
    history_start="2020-05-28",  # Tardis: linear contracts since 2020-05-28 (inverse since 2019-11-07)
    label="Bybit",
    symbol_format="{coin}USDT",
    interval_hours=8,
    interval_in_data=True,
    taker_fee=0.00055,
)
