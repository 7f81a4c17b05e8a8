"""okex-swap (OKX perpetual swaps): raw replay messages -> `derivative_ticker` records.

tardis-node's `normalizeDerivativeTickers('okex-swap', ...)` is the reference (see
`pipelines.venues.normalize`). It picks the mapper by the local time of a connection's first message
(src/mappers/index.ts, `shouldUseOkexV5Mappers`): `OkexV5DerivativeTickerMapper` from 2021-12-23,
`OkexDerivativeTickerMapper` (the v3 `swap/*` tables) before. A disconnect starts afresh, so the era
is chosen again by the next connection's first message.

V5 (`{"arg": {"channel", "instId"}, "data": [...]}`), one channel per message:
- `mark-price` `markPx`, `open-interest` `oi`, `tickers` `last`: taken only when > 0, and only then
  does that item's `ts` move the exchange time;
- `funding-rate`: `fundingRate`, `fundingTime`, `nextFundingRate` (predicted; `""` means none). It
  moves no exchange time: a symbol whose first record comes from it is stamped with the local time,
  which is kept (tardis-node keeps it too). Beyond tardis-node, an item with `settState` "settled",
  a `settFundingRate` and a `prevFundingTime` states the rate OKX settled at `prevFundingTime`: the
  symbol's records from then on carry it as two more fields (`columns.STATED`: the rate, the time
  in µs). The first 11 fields stay tardis-node's, and a statement alone emits no record
  (README.md here, "Stated settlements");
- `index-tickers` (instId `BTC-USDT`) emits nothing: its `idxPx` (> 0) is remembered and attached to
  every later item of the swaps on that index (`BTC-USDT-SWAP`; a `USDC` swap uses the `USD` index).
v3 (`{"table": "swap/ticker" | "swap/mark_price" | "swap/funding_rate", "data": [...]}`): the keys
present in an item are taken (`open_interest` only when > 0), times are ISO strings.

The settlement rule is in `pipelines.venues.okx.settle`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from pipelines.venues.base import _EPOCH, _NO_VALUES, MalformedLine, Normalizer, Record, _number
from pipelines.venues.okx.symbols import index_symbol

EXCHANGE = "okex-swap"  # the Tardis exchange id
V5_SINCE_US = 1_640_217_600_000_000  # 2021-12-23T00:00:00Z: tardis-node's OKEX_V5_API_SWITCH_DATE
V5_CHANNELS = ("tickers", "mark-price", "index-tickers", "funding-rate", "open-interest")
V3_TABLES = ("swap/ticker", "swap/mark_price", "swap/funding_rate")
# VALUE_FIELDS positions
_FUNDING_TS, _RATE, _PREDICTED, _OI, _LAST, _INDEX, _MARK = range(7)
# V5 channels whose one guarded value (> 0) also carries the item's exchange time `ts`.
_PRICED = {"mark-price": ("markPx", _MARK), "open-interest": ("oi", _OI), "tickers": ("last", _LAST)}
_MAX_MS = 8.64e15  # a JavaScript Date's range
_ABSENT = object()
_JUNK = -1  # a time tardis-node stores as 1970 or Invalid Date: no usable time


class OkxNormalizer(Normalizer):
    """okex-swap: V5 channels or v3 `swap/*` tables, by the era of the connection's first message."""

    exchange = EXCHANGE

    def __init__(self, symbols: Iterable[str] | None = None) -> None:
        super().__init__(symbols)
        self._v5: bool | None = None  # chosen by the first message of each connection
        self._indexes: dict[str, float] = {}  # index instId (`BTC-USDT`) -> latest idxPx
        self._index_of: dict[str, str] = {}  # swap instId -> its index instId (memo)
        self._no_time: set[str] = set()  # symbols tardis-node stamped 1970 (a junk first time)
        self._stated: dict[str, tuple[float, int]] = {}  # symbol -> (settFundingRate, prevFundingTime µs)

    def disconnect(self) -> None:
        """Forget symbols, index prices and the era: tardis-node starts a fresh mapper."""
        super().disconnect()
        self._v5 = None
        self._indexes.clear()
        self._no_time.clear()
        self._stated.clear()

    def _handle(self, msg: object, local_us: int) -> list[Record]:
        if self._v5 is None:  # tardis-node makes its mapper at a connection's first parsed message
            self._v5 = local_us >= V5_SINCE_US
        if type(msg) is not dict:
            raise MalformedLine("wrong shape: not a JSON object")
        if self._v5:
            if "event" in msg or (arg := msg.get("arg")) is None:
                return []  # subscription replies and errors
            channel = arg.get("channel") if type(arg) is dict else None
            if channel not in V5_CHANNELS:
                return []
            return self._v5_data(channel, _data(msg), local_us)
        if msg.get("table") not in V3_TABLES:
            return []
        return self._v3_data(_data(msg), local_us)

    def _v5_data(self, channel: str, data: list, local_us: int) -> list[Record]:
        """Records of one V5 message. Like tardis-node, an item without a string instId ends it."""
        self.seen_channel = True
        if channel == "index-tickers":
            self._remember_indexes(data)
            return []
        records = []
        for item in data:
            symbol = item.get("instId") if type(item) is dict else None
            if type(symbol) is not str:
                break
            if self._symbols is not None and symbol not in self._symbols:
                continue
            record = self._v5_item(channel, symbol, item, local_us)
            if record is not None:
                records.append(record)
        return records

    def _remember_indexes(self, data: list) -> None:
        for item in data:
            if type(item) is not dict:
                if item is None:  # tardis-node throws on a null item; a number or string is skipped
                    break
                continue
            price = _positive(item.get("idxPx"))
            if price is not None:
                self._indexes[item.get("instId")] = price

    def _v5_item(self, channel: str, symbol: str, item: dict, local_us: int) -> Record | None:
        old = self._values.get(symbol, _NO_VALUES)
        new = old.copy()
        index = self._indexes.get(self._index_of.get(symbol) or self._index_symbol(symbol))
        if index is not None:
            new[_INDEX] = index
        timestamp = None
        if channel == "funding-rate":
            self._funding(item, new, _v5_ms_time, "fundingRate", "fundingTime", "nextFundingRate")
            self._remember_statement(symbol, item)
        else:
            key, position = _PRICED[channel]
            value = _positive(item.get(key))
            if value is not None:
                new[position] = value
                timestamp = _v5_ms_time(item.get("ts", _ABSENT))
        return self._emit(symbol, timestamp, new, old, local_us)

    def _remember_statement(self, symbol: str, item: dict) -> None:
        """Keep what a `settled` item states: `settFundingRate` was settled at `prevFundingTime`. A
        `processing` item is left out: OKX does not say which funding time it refers to then."""
        if item.get("settState") != "settled":
            return
        rate = _number(item.get("settFundingRate"))
        at = _v5_ms_time(item.get("prevFundingTime", _ABSENT))
        if rate is not None and at is not None and at != _JUNK:
            self._stated[symbol] = (rate, at)

    def _index_symbol(self, symbol: str) -> str:
        index = self._index_of[symbol] = index_symbol(symbol)
        return index

    def _v3_data(self, data: list, local_us: int) -> list[Record]:
        """Records of one v3 message; an item without a string instrument_id ends it."""
        self.seen_channel = True
        records = []
        for item in data:
            symbol = item.get("instrument_id") if type(item) is dict else None
            if type(symbol) is not str:
                break
            if self._symbols is not None and symbol not in self._symbols:
                continue
            record = self._v3_item(symbol, item, local_us)
            if record is not None:
                records.append(record)
        return records

    def _v3_item(self, symbol: str, item: dict, local_us: int) -> Record | None:
        old = self._values.get(symbol, _NO_VALUES)
        new = old.copy()
        if "funding_rate" in item:
            self._funding(item, new, _v3_time, "funding_rate", "funding_time", "estimated_rate")
        for key, position in (("mark_price", _MARK), ("last", _LAST)):
            if (value := _number(item.get(key))) is not None:
                new[position] = value
        if (value := _positive(item.get("open_interest"))) is not None:
            new[_OI] = value
        timestamp = _v3_time(item["timestamp"]) if "timestamp" in item else None
        return self._emit(symbol, timestamp, new, old, local_us)

    @staticmethod
    def _funding(item: dict, new: list, as_time, rate_key: str, time_key: str, next_key: str) -> None:
        """Funding fields of one item into `new`: null, "" or junk keeps the previous value."""
        if (rate := _number(item.get(rate_key))) is not None:
            new[_RATE] = rate
        funding = as_time(item.get(time_key, _ABSENT))
        if funding is not None and funding != _JUNK:
            new[_FUNDING_TS] = funding
        if (predicted := _number(item.get(next_key))) is not None:
            new[_PREDICTED] = predicted

    def _emit(self, symbol: str, timestamp: int | None, new: list, old: list, local_us: int) -> Record | None:
        """`_commit`, with tardis-node's stamping of a symbol that has no exchange time yet: a record
        without one keeps its local time as the symbol's time, unless tardis-node stamped 1970 (a
        junk time, which arbdb replaces by the local time of that row only)."""
        if timestamp == _JUNK:
            if symbol not in self._times:
                self._no_time.add(symbol)
            timestamp = None
        elif timestamp is not None:
            # A kept local time and an exchange time (whole ms) are compared as JavaScript Dates, to
            # the millisecond: an exchange time in the same millisecond replaces the local one.
            prev = self._times.get(symbol)
            if prev is not None and prev - prev % 1000 <= timestamp < prev:
                self._times[symbol] = timestamp
        elif timestamp is None and symbol not in self._times and symbol not in self._no_time and new != old:
            self._times[symbol] = local_us
        record = self._commit(symbol, timestamp, new, old, local_us)
        stated = self._stated.get(symbol)
        return record if record is None or stated is None else (*record, *stated)


def _data(msg: dict) -> list:
    data = msg.get("data")
    if type(data) is not list:
        raise MalformedLine("wrong shape: data is not a list")
    return data


def _positive(value: object) -> float | None:
    """tardis-node's `Number(x) > 0` guard: the number, or None (keep the previous value)."""
    number = _number(value)
    return number if number is not None and number > 0 else None


def _v5_ms_time(value: object) -> int | None:
    """`new Date(Number(x))` of a V5 time (ms, usually a string) -> microseconds; None when absent,
    `_JUNK` where tardis-node gets 1970 (null, "", 0) or an Invalid Date."""
    if value is _ABSENT:
        return None
    if type(value) is str and value.isascii() and value.isdigit():  # the usual case: a plain ms string
        ms = int(value)
        return ms * 1000 if 0 < ms <= _MAX_MS else _JUNK
    number = _number(value)
    if number is None or not 0 < number <= _MAX_MS:
        return _JUNK
    return int(number) * 1000


def _v3_time(value: object) -> int | None:
    """`new Date(x)` of a v3 time (an ISO string like `2021-04-02T08:00:00.000Z`) -> microseconds cut
    to the millisecond; None when absent, `_JUNK` for null (1970) or an unparseable date."""
    if value is _ABSENT:
        return None
    if type(value) is str and value.endswith("Z"):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return _JUNK
        since = moment - _EPOCH
        us = since.days * 86_400_000_000 + since.seconds * 1_000_000 + since.microseconds // 1000 * 1000
        return us if 0 < us <= _MAX_MS * 1000 else _JUNK
    if type(value) in (int, float) and 0 < value <= _MAX_MS:
        return int(value) * 1000
    return _JUNK
