"""binance-futures (Binance USDT-M): raw combined-stream messages -> `derivative_ticker` records.

tardis-node's `BinanceFuturesDerivativeTickerMapper` is the reference (see `pipelines.venues.normalize`;
`src/mappers/index.ts` uses it for every date). Tardis records Binance's combined streams,
`{"stream": "btcusdt@markPrice@1s", "data": {...}}`; the mapper reads the streams containing
`@markPrice` or `@indexPrice`, or ending in `@ticker` or `@openInterest`:

- `markPriceUpdate`: `p` mark, `i` index, `E` event time (ms), and the running funding-rate estimate
  `r` for the next funding time `T` (ms). `r` and `T` are read together, and only when `r` is not
  `""` and `T` is not 0 (delivery contracts send `r: ""` or `T: 0`);
- `24hrTicker`: `c` is the last price, `E` the event time;
- any message with an `openInterest` key (Tardis' generated `@openInterest` polls): open interest;
- `indexPriceUpdate` (`i` the index symbol, `p` its price): remembered, and applied to every later
  message of the symbols whose name before `_` is `i`.

Binance has no predicted funding field: `predicted_funding_rate` stays empty. The settlement rule is
in `pipelines.venues.binance.settle`, its sources and eras in README.md here.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import suppress

from pipelines.venues.base import (
    _NO_VALUES,
    _SHAPE_ERRORS,
    MalformedLine,
    Normalizer,
    Record,
    _number,
    _time_or_none,
)

EXCHANGE = "binance-futures"  # the Tardis exchange id
# Positions in the VALUE_FIELDS list of a record.
_FUNDING_TS, _RATE, _OPEN_INTEREST, _LAST, _INDEX, _MARK = 0, 1, 3, 4, 5, 6
_ABSENT = object()  # a key not in the message (unlike a null)
_MICROS_ABOVE = 10**15  # tardis-node's fromMicroSecondsToDate: larger event times are microseconds


def _ticker_stream(stream: str) -> bool:
    """tardis-node's canHandle on the stream name."""
    return (  # the most frequent first: this runs once per message
        "@markPrice" in stream
        or stream.endswith("@ticker")
        or stream.endswith("@openInterest")
        or "@indexPrice" in stream
    )


def _event_us(value: object) -> int | None:
    """`E` -> microseconds, as tardis-node's fromMicroSecondsToDate reads it (ms, or µs above 1e15)."""
    if type(value) is int:
        return value if value > _MICROS_ABOVE else value * 1000
    return _time_or_none(value, 1000)


class BinanceNormalizer(Normalizer):
    """binance-futures, combined streams `<symbol>@markPrice[@1s]`, `@ticker`, `@openInterest`."""

    exchange = EXCHANGE

    def __init__(self, symbols: Iterable[str] | None = None) -> None:
        super().__init__(symbols)
        self._index_prices: dict[object, float] = {}  # indexPriceUpdate `i` -> its last price

    def disconnect(self) -> None:
        """Forget symbol state and the remembered index prices (tardis-node starts a new mapper)."""
        super().disconnect()
        self._index_prices.clear()

    def _handle(self, msg: object, local_us: int) -> list[Record]:
        if type(msg) is not dict:
            if msg is None:  # tardis-node throws reading `.stream` of null
                raise MalformedLine("wrong shape: null message")
            return []  # no `stream`: a subscription reply or another shape, ignored like tardis-node
        stream = msg.get("stream", _ABSENT)
        if stream is _ABSENT:
            return []  # `{"id": 1, "result": null}` subscription replies
        if type(stream) is not str:
            raise MalformedLine("wrong shape: stream is not a string")
        if not _ticker_stream(stream):
            return []  # trades, depth, bookTicker, forceOrder ... of the same connection
        self.seen_channel = True
        data = msg.get("data")
        if type(data) is not dict:
            raise MalformedLine("wrong shape: data is not an object")
        event = data.get("e")
        if event == "indexPriceUpdate":
            self._remember_index(data)
            return []
        symbol = data["s"] if "s" in data else data.get("symbol")
        if type(symbol) is not str:
            raise MalformedLine("wrong shape: no symbol")
        if self._symbols is not None and symbol not in self._symbols:
            return []
        record = self._update(symbol, event, data, local_us)
        return [] if record is None else [record]

    def _remember_index(self, data: dict) -> None:
        price = _number(data.get("p"))
        if price is not None:  # tardis-node would keep NaN (a missing or bad price) as the index
            with suppress(TypeError):  # an unhashable `i`: no symbol can ever name it
                self._index_prices[data.get("i")] = price

    def _update(self, symbol: str, event: object, data: dict, local_us: int) -> Record | None:
        """Merge one message into the symbol's state, in tardis-node's order of updates."""
        old = self._values.get(symbol, _NO_VALUES)
        if event == "markPriceUpdate" and not self._index_prices:
            try:  # fast path: a perpetual's usual message (about half of them)
                new = _usual_mark_price(data, old)
            except _SHAPE_ERRORS:  # anything else: the general rules below
                pass
            else:
                return self._commit_kept(symbol, _event_us(data.get("E")), new, old, local_us, False)
        new = list(old)
        # The index can change twice in one message (remembered index, then `i`): tardis-node then
        # emits even when it ends where it started, so changes are tracked, not just compared.
        index_moved = False
        if self._index_prices:
            remembered = self._index_prices.get(symbol.split("_")[0])
            if remembered is not None and remembered != new[_INDEX]:
                new[_INDEX], index_moved = remembered, True
        timestamp = None
        if event == "markPriceUpdate":
            index_moved |= self._mark_price(data, new)
            timestamp = _event_us(data.get("E"))
        elif event == "24hrTicker":
            _set(new, _LAST, data.get("c"))
            timestamp = _event_us(data.get("E"))
        if "openInterest" in data:
            _set(new, _OPEN_INTEREST, data["openInterest"])
        return self._commit_kept(symbol, timestamp, new, old, local_us, index_moved)

    @staticmethod
    def _mark_price(data: dict, new: list) -> bool:
        """Funding rate and time, index and mark of a markPriceUpdate; True when `i` moved the index."""
        rate = data.get("r", _ABSENT)
        next_time = data.get("T", _ABSENT)
        delivery = next_time == 0 and type(next_time) is not bool  # JavaScript's `T !== 0`
        if rate is not _ABSENT and rate != "" and not delivery:
            _set(new, _RATE, rate)
            funding_us = _time_or_none(next_time, 1000)
            if funding_us is not None:
                new[_FUNDING_TS] = funding_us
        moved = False
        if "i" in data:
            index = _number(data["i"])
            if index is not None and index != new[_INDEX]:
                new[_INDEX], moved = index, True
        _set(new, _MARK, data.get("p"))
        return moved

    def _commit_kept(
        self, symbol: str, timestamp: int | None, new: list, old: list, local_us: int, moved: bool
    ) -> Record | None:
        """`_commit`, except that a row stamped with its local time (no exchange time yet) keeps that
        time as the symbol's, as tardis-node does: a later, earlier `E` never moves it backwards."""
        prev = self._times.get(symbol)
        # tardis-node compares whole milliseconds (Date values): an `E` in the same millisecond as a
        # kept local time replaces it.
        if timestamp is not None and (prev is None or timestamp // 1000 >= prev // 1000):
            self._times[symbol] = prev = timestamp
        if new == old and not moved:
            return None
        if prev is None:
            self._times[symbol] = prev = local_us
        self._values[symbol] = new
        return (self.exchange, symbol, prev, local_us, *new)


def _usual_mark_price(data: dict, old: list) -> list:
    """The new values of a markPriceUpdate with `r`, `i` and `p` finite number strings, `T` a non-zero
    int and no open interest; raises ValueError/KeyError/TypeError for any other shape."""
    due, r, i, p = data["T"], data["r"], data["i"], data["p"]
    if type(due) is not int or due == 0 or type(r) is not str or type(i) is not str or type(p) is not str:
        raise ValueError("not the usual shape")
    rate, index, mark = float(r), float(i), float(p)  # ValueError for "", "abc"
    total = rate + index + mark
    if total - total != 0 or "_" in r or "_" in i or "_" in p or "openInterest" in data:
        raise ValueError("not the usual values")  # nan/inf, "1_000" (NaN for tardis-node), an odd key
    return [due * 1000, rate, None, old[_OPEN_INTEREST], old[_LAST], index, mark]


def _set(new: list, position: int, raw: object) -> None:
    """Store a number field; null, "", missing or not a finite number keeps the previous value."""
    value = _number(raw)
    if value is not None:
        new[position] = value
