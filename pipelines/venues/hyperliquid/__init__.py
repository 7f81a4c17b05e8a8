"""Hyperliquid perpetuals (Tardis `hyperliquid`): the descriptor of the venue,
registered in `pipelines.venues.registry`.

Its normalizer is in `normalize`, its settlement rule in `settle` (its sample feed: still in loopback), and
its docs page is README.md here.
"""

from __future__ import annotations

from pipelines.venues.hyperliquid.normalize import CHANNEL, EXCHANGE, HyperliquidNormalizer
from pipelines.venues.hyperliquid.settle import hyperliquid_settlements
from pipelines.venues.venue import Venue

__all__ = ["EXCHANGE", "VENUE"]

VENUE = Venue(
    EXCHANGE,
    channels=(CHANNEL,),
    normalizer=HyperliquidNormalizer,
    settle=hyperliquid_settlements,
    history_start="2024-10-29",
    label="Hyperliquid",
    symbol_format="{coin}",
    interval_hours=1,
    interval_in_data=False,  # no funding time in the data: funding is paid every hour on the hour
    taker_fee=0.00045,
)
