"""Exchange id -> `SimVenue`: how the sample feed simulates, renders and settles one venue.

A new venue is one module in `loopback` (its simulated state, raw lines and ground-truth settlements)
and one entry in `SIMS`. Everything a `SimVenue` returns is a pure function of the feed's seed,
interval and symbols and of the day, so a day generated alone equals the same day inside a range.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

from loopback import (
    binance_sim,
    bybit_render,
    bybit_sim,
    gate_sim,
    groundtruth,
    hyperliquid_sim,
    okx_render,
    okx_sim,
    render,
    simulate,
)
from loopback.simulate import SymbolDay
from pipelines.core.columns import BINANCE, BITFINEX, BYBIT, GATE, HYPERLIQUID, OKX

if TYPE_CHECKING:
    from loopback.generator import SampleFeed

# (funding time, settled rate, funding interval hours of that settlement)
Settled = list[tuple[datetime, float, float]]


@dataclass(frozen=True)
class SimVenue:
    """The sample feed's side of one venue."""

    exchange: str
    symbols: tuple[str, ...]  # served by default: the USDT perpetuals of BTC, ETH, SOL, DOGE
    pattern: str  # regular expression every served symbol matches
    # (seed, interval seconds, symbol, day, symbol's position in the feed) -> its updates that day
    day: Callable[[int, float, str, date, int], SymbolDay]
    # (feed, one symbol-day) -> its raw replay lines
    lines: Callable[[SampleFeed, SymbolDay], render.Lines]
    # (feed, symbol, day) -> the settlements with funding times in that UTC day, from the state
    settled: Callable[[SampleFeed, str, date], Settled]
    # (feed, day) -> connection-level lines of the day (subscriptions, info events), if any
    connection_lines: Callable[[SampleFeed, date], render.Lines] | None = None
    # (feed, 100 ns time, symbol numbers or None) -> subscription lines a replay starting then opens with
    preamble: Callable[[SampleFeed, int, list[int] | None], bytes] | None = None

    def matches(self, symbol: str) -> bool:
        return re.fullmatch(self.pattern, symbol) is not None


def _asset(symbol: str) -> str:
    return symbol.split("_")[0].split("F0:")[0]


def _gate_lines(feed: SampleFeed, sd: SymbolDay) -> render.Lines:
    spec = simulate.asset_spec(_asset(sd.symbol))
    return render.gate_lines(sd, simulate.gate_decimals(spec.price), spec.volume)


def _gate_settled(feed: SampleFeed, symbol: str, day: date) -> Settled:
    """Gate's settlements of `day`: times and intervals from the contract's simulated schedule."""
    today = feed.symbol_day(GATE, symbol, day)
    yesterday = feed.symbol_day(GATE, symbol, date.fromordinal(day.toordinal() - 1))
    times = gate_sim.funding_times(feed.seed, symbol, day)
    return [
        (t, rate, gate_sim.interval_at(feed.seed, symbol, t))
        for t, rate in groundtruth.gate_settled(today, yesterday, times)
    ]


def _bitfinex_settled(feed: SampleFeed, symbol: str, day: date) -> Settled:
    today = feed.symbol_day(BITFINEX, symbol, day)
    return [(t, rate, 8.0) for t, rate in groundtruth.bitfinex_settled(today)]


GATE_SIM = SimVenue(
    GATE,
    symbols=("BTC_USDT", "ETH_USDT", "SOL_USDT", "DOGE_USDT"),
    pattern=r"[A-Z0-9]+_USDT",
    day=lambda seed, interval, symbol, day, index: simulate.gate_day(seed, symbol, day, interval),
    lines=_gate_lines,
    settled=_gate_settled,
)
BITFINEX_SIM = SimVenue(
    BITFINEX,
    symbols=("BTCF0:USTF0", "ETHF0:USTF0", "SOLF0:USTF0", "DOGEF0:USTF0"),
    pattern=r"[A-Z0-9]+F0:USTF0",
    day=lambda seed, interval, symbol, day, index: simulate.bitfinex_day(seed, symbol, day, interval, index),
    lines=lambda feed, sd: render.bitfinex_lines(sd, feed.sessions(sd.day)),
    settled=_bitfinex_settled,
    connection_lines=lambda feed, day: render.session_lines(feed.sessions(day), day, feed.server_id(day)),
    preamble=lambda feed, at, symbols: feed.bitfinex_preamble(at, symbols),
)

HYPERLIQUID_SIM = SimVenue(
    HYPERLIQUID,
    symbols=("BTC", "ETH", "SOL", "DOGE"),
    pattern=r"[A-Z0-9]+",
    day=lambda seed, interval, symbol, day, index: hyperliquid_sim.hyperliquid_day(
        seed, symbol, day, interval
    ),
    lines=hyperliquid_sim.lines,
    settled=hyperliquid_sim.settled,
    connection_lines=hyperliquid_sim.connection_lines,
)
BINANCE_SIM = SimVenue(
    BINANCE,
    symbols=binance_sim.SYMBOLS,
    pattern=r"[A-Z0-9]+USDT",
    day=lambda seed, interval, symbol, day, index: binance_sim.binance_day(seed, symbol, day, interval),
    lines=lambda feed, sd: binance_sim.lines(sd),
    settled=lambda feed, symbol, day: binance_sim.settled(feed.seed, symbol, day),
)
OKX_SIM = SimVenue(
    OKX,
    symbols=("BTC-USDT-SWAP", "ETH-USDT-SWAP", "SOL-USDT-SWAP", "DOGE-USDT-SWAP"),
    pattern=r"[A-Z0-9]+-USDT-SWAP",
    day=lambda seed, interval, symbol, day, index: okx_sim.okx_day(seed, symbol, day, interval, index),
    lines=lambda feed, sd: okx_render.okx_lines(sd),
    settled=lambda feed, symbol, day: okx_sim.okx_settled(
        feed.seed, symbol, day, feed.symbol_index(OKX, symbol)
    ),
)
BYBIT_SIM = SimVenue(
    BYBIT,
    symbols=("BTCUSDT", "ETHUSDT", "SOLUSDT", "DOGEUSDT"),
    pattern=r"[A-Z0-9]+USDT",
    day=lambda seed, interval, symbol, day, index: bybit_sim.bybit_day(seed, symbol, day, interval),
    lines=lambda feed, sd: bybit_render.lines(sd),
    settled=lambda feed, symbol, day: bybit_sim.settled(feed.seed, symbol, day),
)

SIMS: dict[str, SimVenue] = {
    s.exchange: s for s in (GATE_SIM, BITFINEX_SIM, BINANCE_SIM, BYBIT_SIM, OKX_SIM, HYPERLIQUID_SIM)
}
