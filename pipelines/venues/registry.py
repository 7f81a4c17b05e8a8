"""Exchange id -> `Venue`. A new exchange is one module in `pipelines.venues` and one entry here."""

from __future__ import annotations

from pipelines.venues import binance, bitfinex, bybit, gate, hyperliquid, okx
from pipelines.venues.venue import Venue

VENUES: dict[str, Venue] = {
    v.exchange: v
    for v in (
        gate.VENUE,
        bitfinex.VENUE,
        binance.VENUE,
        bybit.VENUE,
        okx.VENUE,
        hyperliquid.VENUE,
    )
}


def venue(exchange: str) -> Venue:
    """The venue of a Tardis exchange id (KeyError for an unknown one)."""
    return VENUES[exchange]
