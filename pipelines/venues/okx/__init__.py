"""OKX USDT swaps (Tardis `okex-swap`): the descriptor of the venue,
registered in `pipelines.venues.registry`.

Its normalizer is in `normalize`, its settlement rule in `settle` (its sample feed: still in loopback), and
its docs page is README.md here.
"""

from __future__ import annotations

from pipelines.venues.okx.normalize import EXCHANGE, V3_TABLES, V5_CHANNELS, OkxNormalizer
from pipelines.venues.okx.settle import okx_settlements
from pipelines.venues.okx.symbols import channel_symbols
from pipelines.venues.venue import Venue

__all__ = ["EXCHANGE", "V3_TABLES", "V5_CHANNELS", "VENUE"]

VENUE = Venue(
    EXCHANGE,
    # tardis-node's getFilters: the V5 channels, then the v3 tables of the data before 2021-12-23.
    channels=(*V5_CHANNELS, *V3_TABLES),
    normalizer=OkxNormalizer,
    settle=okx_settlements,
    history_start="2019-03-30",
    label="OKX",
    symbol_format="{coin}-USDT-SWAP",
    taker_fee=0.0005,
    channel_symbols=channel_symbols,
    raw_channel="tickers/mark-price/index-tickers/funding-rate/open-interest",
)
