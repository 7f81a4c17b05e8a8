"""Binance USDT-M perpetuals (Tardis `binance-futures`): the descriptor of the venue,
registered in `pipelines.venues.registry`.

Its normalizer is in `normalize`, its settlement rule in `settle` (its sample feed: still in loopback), and
its docs page is README.md here.
"""

from __future__ import annotations

from pipelines.venues.binance.normalize import EXCHANGE, BinanceNormalizer
from pipelines.venues.binance.settle import binance_settlements
from pipelines.venues.binance.symbols import lower_case
from pipelines.venues.venue import Venue

__all__ = ["EXCHANGE", "VENUE"]

VENUE = Venue(
    EXCHANGE,
    channels=("markPrice", "ticker", "openInterest"),
    normalizer=BinanceNormalizer,
    settle=binance_settlements,
    history_start="2019-11-17",
    label="Binance",
    symbol_format="{coin}USDT",
    interval_hours=8,
    interval_in_data=True,
    taker_fee=0.0005,
    channel_symbols=lower_case,
    raw_channel="markPrice/ticker/openInterest",
)
