"""Pairs as two legs and markets per coin: the config models and how config text becomes them.

A leg is one perpetual on one venue, `(exchange, symbol, interval_hours)`; `interval_hours` is set
only for a venue whose data gives no funding time (Gate), else None: the interval comes from the
data. A pair is two legs, a name and its window length. A market is a coin and the venues to
watch it on (what to extract and screen); with no `pairs` in the config, pairs come from markets.
Helpers here take raw config mappings and raise ValueError naming the key (`pairs.0.legs.1: ...`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations
from typing import NamedTuple

from pydantic import Field, model_validator

from pipelines.config.base import Strict
from pipelines.core.columns import BITFINEX, GATE
from pipelines.venues.registry import VENUES
from pipelines.venues.venue import Venue

DEFAULT_COINS = ("BTC", "ETH", "SOL", "DOGE")
DEFAULT_VENUES = (GATE, BITFINEX)
# Keys of the Gate-Bitfinex pair config before legs existed, still read (translated to legs).
LEGACY_KEYS = ("gate_symbol", "bitfinex_symbol", "gate_interval_hours", "bitfinex_interval_hours")


def check_interval(hours: float) -> float:
    """`hours` if it divides a day (so funding times fall on the same hours every day)."""
    if hours <= 0 or 24 % hours:
        raise ValueError(f"{hours:g} h does not divide a day; use 1, 2, 4, 8, 12 or 24")
    return hours


class Leg(NamedTuple):
    """One side of a pair: a venue's perpetual and its configured interval (None: from the data)."""

    exchange: str
    symbol: str
    interval_hours: float | None = None

    @property
    def venue(self) -> Venue:
        return VENUES[self.exchange]

    @property
    def hours(self) -> float:
        """The interval settlements are derived with: configured, else the venue's usual one."""
        return self.interval_hours or self.venue.interval_hours

    @property
    def label(self) -> str:
        return self.venue.label


class Pair(Strict):
    """Two legs compared window by window; `window_hours` defaults to the longer leg's interval."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_-]+$")
    legs: tuple[Leg, Leg]
    window_hours: float

    @model_validator(mode="before")
    @classmethod
    def _from_config(cls, data):
        return pair_fields(data) if isinstance(data, Mapping) else data

    @property
    def label(self) -> str:
        """What a reader meets for the pair's legs: "Gate - Bitfinex"."""
        return " - ".join(leg.label for leg in self.legs)


class Market(Strict):
    """A coin watched on several venues; `symbols` overrides a venue's usual spelling."""

    coin: str = Field(pattern=r"^[A-Za-z0-9]+$")
    venues: tuple[str, ...] = Field(min_length=2)
    symbols: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _check(cls, data):
        if isinstance(data, Mapping):
            for venue in data.get("venues") or ():
                known_venue(venue)
            for venue, symbol in (data.get("symbols") or {}).items():
                if venue not in (data.get("venues") or ()):
                    raise ValueError(f"symbols.{venue}: {venue} is not one of the market's venues")
                check_symbol(venue, symbol)
        return data

    def legs(self) -> tuple[Leg, ...]:
        return tuple(
            Leg(v, self.symbols.get(v) or VENUES[v].symbol_for(self.coin), _leg_interval(VENUES[v], None))
            for v in self.venues
        )


def known_venue(exchange) -> Venue:
    """The venue of a Tardis exchange id, or one ValueError listing the known ones."""
    if exchange not in VENUES:
        raise ValueError(f"unknown venue {exchange!r}; known venues: {', '.join(VENUES)}")
    return VENUES[exchange]


def check_symbol(exchange: str, symbol) -> str:
    """`symbol` if `exchange` spells its perpetuals that way (else Tardis would serve nothing)."""
    venue = known_venue(exchange)
    if not isinstance(symbol, str) or venue.coin_of(symbol) is None:
        example = venue.symbol_for("BTC")
        raise ValueError(
            f"{symbol!r} is not a {exchange} perpetual; {venue.label} spells them like {example}"
        )
    return symbol


def parse_leg(text) -> tuple[str, str]:
    """`"gate-io-futures:BTC_USDT"` -> (exchange, symbol), split on the first `:`."""
    if not isinstance(text, str) or ":" not in text:
        raise ValueError(f"{text!r}: write a leg as <exchange>:<symbol>, e.g. gate-io-futures:BTC_USDT")
    exchange, symbol = text.split(":", 1)
    return exchange, check_symbol(exchange, symbol)


def pair_fields(data: Mapping, overrides: Mapping[str, Mapping[str, str]] | None = None) -> dict:
    """A pair's config (legs, coin + venues, or the legacy Gate/Bitfinex keys) -> Pair fields.

    `overrides` maps coin -> {exchange: symbol} from the markets, for the coin form.
    """
    data = dict(data)
    if any(key in data for key in LEGACY_KEYS):
        data = _legacy_fields(data)
    intervals = data.pop("interval_hours", None) or {}
    if not isinstance(intervals, Mapping):
        raise ValueError("interval_hours: give {<exchange>: hours} for the legs whose venue needs it")
    if "coin" in data or "venues" in data:
        data["legs"] = _coin_legs(data.pop("coin", None), data.pop("venues", None), overrides or {})
    legs = data.get("legs")
    if not isinstance(legs, Sequence) or isinstance(legs, str) or len(legs) != 2:
        raise ValueError("a pair needs exactly two legs (legs: [<exchange>:<symbol>, ...]) or coin + venues")
    data["legs"] = _legs(legs, intervals)
    data.setdefault("window_hours", max(leg.hours for leg in data["legs"]))
    _check_window(data["legs"], data["window_hours"])
    return data


def _legacy_fields(data: dict) -> dict:
    # Today's gate_symbol/bitfinex_symbol config is the Gate-Bitfinex pair of legs. Bitfinex gives
    # its funding times in the data, so only its usual 8 h is accepted for bitfinex_interval_hours.
    gate_symbol, bitfinex_symbol = data.pop("gate_symbol", None), data.pop("bitfinex_symbol", None)
    if gate_symbol is None or bitfinex_symbol is None:
        raise ValueError(
            "gate_symbol and bitfinex_symbol go together; or write legs: [<exchange>:<symbol>, ...]"
        )
    gate_hours = data.pop("gate_interval_hours", VENUES[GATE].interval_hours)
    bitfinex_hours = data.pop("bitfinex_interval_hours", None)
    if bitfinex_hours is not None and bitfinex_hours != VENUES[BITFINEX].interval_hours:
        raise ValueError(
            "bitfinex_interval_hours: Bitfinex gives each funding time in its data, so its interval is "
            "not configured; remove the key"
        )
    return {**data, "legs": [(GATE, gate_symbol, gate_hours), (BITFINEX, bitfinex_symbol, None)]}


def _coin_legs(coin, venues, overrides: Mapping[str, Mapping[str, str]]) -> list[tuple[str, str]]:
    if not isinstance(coin, str) or not coin.isalnum():
        raise ValueError("coin: give the coin, e.g. coin: BTC, with venues: [<exchange>, <exchange>]")
    if not isinstance(venues, Sequence) or isinstance(venues, str) or len(venues) != 2:
        raise ValueError("venues: a pair of a coin names exactly two venues")
    own = overrides.get(coin.upper(), {})
    return [(v, own.get(v) or known_venue(v).symbol_for(coin)) for v in venues]


def _legs(legs: Sequence, intervals: Mapping) -> tuple[Leg, Leg]:
    out = []
    for i, raw in enumerate(legs):
        try:
            out.append(_leg(raw, intervals))
        except ValueError as err:
            raise ValueError(f"legs.{i}: {err}") from None
    if (out[0].exchange, out[0].symbol) == (out[1].exchange, out[1].symbol):
        raise ValueError(f"both legs are {out[0].exchange}:{out[0].symbol}; a pair needs two different legs")
    unused = set(intervals) - {leg.exchange for leg in out}
    if unused:
        raise ValueError(f"interval_hours.{sorted(unused)[0]}: not a venue of this pair's legs")
    return out[0], out[1]


def _leg(raw, intervals: Mapping) -> Leg:
    if isinstance(raw, str):
        exchange, symbol = parse_leg(raw)
        hours = None
    elif isinstance(raw, Mapping):
        unknown = set(raw) - {"exchange", "symbol", "interval_hours"}
        if unknown:
            raise ValueError(f"{sorted(unknown)[0]}: unknown key")
        exchange, symbol, hours = raw.get("exchange"), raw.get("symbol"), raw.get("interval_hours")
        check_symbol(exchange, symbol)
    elif isinstance(raw, Sequence) and len(raw) in (2, 3):
        exchange, symbol, hours = (*raw, None)[:3]
        check_symbol(exchange, symbol)
    else:
        raise ValueError(f"{raw!r}: write a leg as <exchange>:<symbol>")
    hours = intervals.get(exchange, hours)
    return Leg(exchange, symbol, _leg_interval(known_venue(exchange), hours))


def _leg_interval(venue: Venue, hours) -> float | None:
    if hours is None:
        return venue.interval_hours if not venue.interval_in_data else None
    if venue.interval_in_data:
        raise ValueError(
            f"interval_hours: {venue.label} gives each funding time in its data, so the interval of "
            f"{venue.exchange} comes from the data; remove it"
        )
    if isinstance(hours, bool) or not isinstance(hours, int | float):
        raise ValueError(f"interval_hours: {hours!r} is not a number of hours")
    return float(check_interval(hours))


def _check_window(legs: Sequence[Leg], hours) -> None:
    if isinstance(hours, bool) or not isinstance(hours, int | float):
        raise ValueError(f"window_hours: {hours!r} is not a number of hours")
    check_interval(hours)
    for leg in legs:  # a configured interval must fit; an interval from the data is summed as it comes
        if leg.interval_hours is not None and hours % leg.interval_hours:
            raise ValueError(
                f"window_hours: {hours:g} h is not a whole number of {leg.exchange}'s {leg.hours:g} h periods"
            )


def markets_pairs(markets: Sequence[Market]) -> list[dict]:
    """The pairs a config without `pairs` watches: per market of two venues the pair named after its
    coin, of more venues every two-venue combination, named `COIN-<label a>-<label b>`."""
    out = []
    for market in markets:
        legs = market.legs()
        for a, b in combinations(legs, 2):
            name = market.coin if len(legs) == 2 else f"{market.coin}-{a.label}-{b.label}"
            out.append({"name": name, "legs": [a, b]})
    return out


DEFAULT_MARKETS = tuple(Market(coin=coin, venues=DEFAULT_VENUES) for coin in DEFAULT_COINS)


def pairs_config(data: Mapping) -> dict:
    """Settings data with `pairs` in the legs form: derived from the markets when absent (default
    markets when both are absent), coin-form pairs given their symbols (market overrides first)."""
    data = dict(data)
    if "markets" not in data:
        data["markets"] = DEFAULT_MARKETS if "pairs" not in data else ()
    markets = data["markets"]
    if "pairs" not in data:
        try:
            valid = [m if isinstance(m, Market) else Market.model_validate(m) for m in markets or ()]
        except ValueError:
            return data  # the markets field reports it, with its location
        data["pairs"] = markets_pairs(valid)
        return data
    overrides = _overrides(markets)
    if isinstance(data["pairs"], list | tuple):
        data["pairs"] = [_coin_pair(i, p, overrides) for i, p in enumerate(data["pairs"])]
    return data


def _coin_pair(i: int, pair, overrides: Mapping[str, Mapping[str, str]]):
    if not (isinstance(pair, Mapping) and "coin" in pair):
        return pair
    try:
        return pair_fields(pair, overrides)
    except ValueError as err:
        raise ValueError(f"pairs.{i}: {err}") from None


def _overrides(markets) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for market in markets if isinstance(markets, list | tuple) else ():
        coin = market.coin if isinstance(market, Market) else (market or {}).get("coin")
        symbols = market.symbols if isinstance(market, Market) else (market or {}).get("symbols")
        if isinstance(coin, str) and isinstance(symbols, Mapping):
            out.setdefault(coin.upper(), {}).update(symbols)
    return out
