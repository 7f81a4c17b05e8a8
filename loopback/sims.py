"""Exchange id -> `SimVenue` (`pipelines.venues.samplekit`): how the sample feed simulates, renders
and settles one venue.

A venue brings its sample feed in its folder (`Venue.sample`, found through the registry: `sim`). The
six venues' feeds written before that still live in `loopback` (`SIMS`), to be moved into their
folders (issue #18); `sim` and `served` look at both, so nothing else in loopback names a venue.
"""

from __future__ import annotations

from datetime import date

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
from pipelines.core.columns import BINANCE, BITFINEX, BYBIT, GATE, HYPERLIQUID, OKX
from pipelines.venues import registry
from pipelines.venues.samplekit import Feed as SampleFeed
from pipelines.venues.samplekit import Settled, SimVenue, SymbolDay


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


def sim(exchange: str) -> SimVenue:
    """The sample feed of `exchange`: its venue's `sample` module, else the loopback one (`SIMS`);
    KeyError when the venue has none."""
    if exchange in SIMS:
        return SIMS[exchange]
    if exchange in registry.VENUES and registry.venue(exchange).sample:
        return registry.sample(exchange).SAMPLE
    raise KeyError(exchange)


def served() -> tuple[str, ...]:
    """The exchanges the sample feed simulates: every registered venue with a sample feed."""
    return tuple(e for e in registry.exchanges() if e in SIMS or registry.venue(e).sample)
