"""Bitfinex perpetuals (Tardis `bitfinex-derivatives`): the descriptor of the venue,
registered in `pipelines.venues.registry`.

Its normalizer is in `normalize`, its settlement rule in `settle` (its sample feed: still in loopback), and
its docs page is README.md here.
"""

from __future__ import annotations

from pipelines.venues.bitfinex.normalize import EXCHANGE, BitfinexNormalizer
from pipelines.venues.bitfinex.settle import bitfinex_settlements
from pipelines.venues.venue import Venue

__all__ = ["EXCHANGE", "VENUE"]

VENUE = Venue(
    EXCHANGE,
    channels=("status",),
    normalizer=BitfinexNormalizer,
    settle=bitfinex_settlements,
    history_start="2019-09-14",
    label="Bitfinex",
    symbol_format="{coin}F0:USTF0",
    taker_fee=0.00065,
)
