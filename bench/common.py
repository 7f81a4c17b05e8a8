"""What the bench parts share: the repository root, where results go, the coins and their symbols.

Apart from `bench.run` (the driver) so that a part (`bench.dask_bench`) can use them without the
driver importing it back.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from pipelines.core.columns import BITFINEX, GATE
from pipelines.venues.registry import VENUES

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
COINS = ("BTC", "ETH", "SOL", "DOGE")
# Every venue has history then (Hyperliquid's starts 2024-10-29).
BENCH_FROM = date(2024, 11, 4)


def symbols_of(coins: tuple[str, ...]) -> dict[str, list[str]]:
    """Each venue's perpetuals of `coins`."""
    return {exchange: [v.symbol_for(c) for c in coins] for exchange, v in VENUES.items()}


# The default pairs (Gate-Bitfinex) of COINS, as a config's `pairs`.
PAIRS = [{"name": c, "coin": c, "venues": [GATE, BITFINEX]} for c in COINS]


def pair_symbols(pairs: list[dict]) -> dict[str, list[str]]:
    """The symbols of `pairs`' legs per venue: what a sample server serves for those pairs."""
    out: dict[str, list[str]] = {}
    for pair in pairs:
        for exchange in pair["venues"]:
            out.setdefault(exchange, []).append(VENUES[exchange].symbol_for(pair["coin"]))
    return out
