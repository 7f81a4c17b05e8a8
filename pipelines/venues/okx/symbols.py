"""OKX's symbol rules: the index a swap is quoted against, and the symbols each replay channel is
filtered by."""

from __future__ import annotations


def index_symbol(symbol: str) -> str:
    """The index of a swap as `index-tickers` names it: `BTC-USDT-SWAP` -> `BTC-USDT` (a `USDC` swap
    -> `BTC-USD`), as tardis-node's mapper derives it."""
    parts = symbol.split("-")
    quote = parts[1] if len(parts) > 1 else "undefined"
    return f"{parts[0]}-{'USD' if quote == 'USDC' else quote}"


def channel_symbols(channel: str, symbols: list[str]) -> list[str]:
    """tardis-node's getFilters: `index-tickers` is filtered by the swaps' indexes."""
    if channel != "index-tickers":
        return symbols
    return list(dict.fromkeys(index_symbol(s.upper()) for s in symbols))
