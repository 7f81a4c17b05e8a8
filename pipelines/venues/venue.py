"""`Venue`: what the pipeline needs to know of one exchange, declared once in its folder's `__init__`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from pipelines.venues.base import Normalizer


@dataclass(frozen=True)
class Venue:
    """One exchange: its Tardis id, the replay channels of its tickers, its normalizer, its settlement
    rule, its history, and how a user names it and its perpetuals."""

    exchange: str  # Tardis exchange id
    channels: tuple[str, ...]  # replay channels carrying derivative tickers (all are requested)
    normalizer: type[Normalizer]
    # (minutes of one symbol, symbol, interval hours) -> its settlements, columns `columns.FUNDING`.
    # The interval is the configured one; a venue whose data gives the funding time derives the
    # interval of each settlement from the data and stores that instead.
    settle: Callable[[pd.DataFrame, str, float], pd.DataFrame]
    history_start: str  # first day (ISO) of its history on Tardis
    label: str  # what a reader meets: "Gate", "Binance"
    symbol_format: str  # the USDT perpetual of a coin: "{coin}_USDT"
    interval_hours: float = 8  # usual funding interval (the configured default where data gives none)
    interval_in_data: bool = True  # the data gives each funding time (so the interval comes from it)
    taker_fee: float = 0.0005  # default taker fee per fill, fraction of notional
    # (channel, symbols) -> the symbols that channel is filtered by, where the venue names them
    # otherwise there (OKX's `index-tickers` wants the index `BTC-USDT` of `BTC-USDT-SWAP`).
    channel_symbols: Callable[[str, list[str]], list[str]] | None = None
    # The raw channel (or stream) name `arbdb normalize` looks for in a file, where it differs from
    # the replay channel (`futures.tickers` for Gate's `tickers`); None: the main channel.
    raw_channel: str | None = None
    # The module of its sample feed (`SAMPLE`, a `pipelines.venues.samplekit.SimVenue`), imported only
    # by the loopback servers: `"pipelines.venues.gate.sample"`. Empty: no sample feed.
    sample: str = ""

    @property
    def channel(self) -> str:
        """The first (main) channel: the one a single-channel venue has."""
        return self.channels[0]

    def filters(self, symbols: list[str]) -> list[tuple[str, list[str]]]:
        """(channel, symbols) of every channel a replay of `symbols` requests."""
        if self.channel_symbols is None:
            return [(channel, list(symbols)) for channel in self.channels]
        return [(channel, self.channel_symbols(channel, list(symbols))) for channel in self.channels]

    def symbol_for(self, coin: str) -> str:
        """The venue's USDT perpetual of `coin` (`BTC` -> `BTC_USDT` on Gate)."""
        return self.symbol_format.format(coin=coin.upper())

    def coin_of(self, symbol: str) -> str | None:
        """The coin of one of the venue's perpetuals, or None when `symbol` is not spelled that way."""
        head, _, tail = self.symbol_format.partition("{coin}")
        if len(symbol) > len(head) + len(tail) and symbol.startswith(head) and symbol.endswith(tail):
            return symbol[len(head) : len(symbol) - len(tail)]
        return None
