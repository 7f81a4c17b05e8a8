"""Gate.io USDT perpetuals (Tardis `gate-io-futures`): the descriptor of the venue, registered in
`pipelines.venues.registry`.

Its normalizer is in `normalize`, its settlement rule in `settle` (its sample feed: still in loopback), and
its docs page is README.md here.
"""

from __future__ import annotations

from pipelines.venues.gate.normalize import EXCHANGE, GateNormalizer
from pipelines.venues.gate.settle import gate_settlements
from pipelines.venues.venue import Venue

__all__ = ["EXCHANGE", "VENUE"]

VENUE = Venue(
    EXCHANGE,
    channels=("tickers",),
    normalizer=GateNormalizer,
    settle=gate_settlements,
    history_start="2020-07-01",
    label="Gate",
    symbol_format="{coin}_USDT",
    # No funding time: times come from the rate's resets (settle.py), the configured interval is a hint.
    interval_in_data=False,
    taker_fee=0.0005,
    raw_channel="futures.tickers",
)
