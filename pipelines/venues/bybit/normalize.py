"""bybit (linear and inverse derivatives): raw `tickers` / `instrument_info` messages ->
`derivative_ticker` records.

tardis-node picks the mapper by the local time of a connection's first message (`src/mappers/index.ts`,
`shouldUseBybitV5Mappers`): from 2023-04-05 `BybitV5DerivativeTickerMapper` reads V5 `tickers.<SYMBOL>`
topics (a `snapshot`, then `delta`s carrying only the changed fields, numbers as strings, exchange time
`ts` in ms); before, `BybitDerivativeTickerMapper` reads `instrument_info.100ms.<SYMBOL>` topics (a
snapshot object, or a delta whose `data.update[0]` is the instrument; prices as strings or `_e4`
integers, rates as `_e6`, open interest `_e8`, exchange time `timestamp_e6` in microseconds). A
connection keeps the mapper it started with; a disconnect chooses again. The other era's topic,
subscription replies, pongs and other topics are ignored.

The settlement rule is in `pipelines.venues.bybit.settle`; rule, eras and sources: README.md here.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from pipelines.venues.base import _NO_VALUES, MalformedLine, Normalizer, Record, _number, _time_or_none

EXCHANGE = "bybit"  # the Tardis exchange id
V5_SINCE_US = 1_680_652_800_000_000  # 2023-04-05T00:00:00Z, tardis-node's BYBIT_V5_API_SWITCH_DATE
_MEMO_LIMIT = 10_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

# V5 ticker keys -> index in VALUE_FIELDS (funding_timestamp apart: a ms time, not a number).
_V5_KEYS = (("fundingRate", 1), ("openInterest", 3), ("lastPrice", 4), ("indexPrice", 5), ("markPrice", 6))
# instrument_info: per field, the keys tardis-node tries in order (the first present one wins) and
# the divisor of its fixed-point form.
_OLD_PRICES = (
    (5, (("index_price", 1.0), ("indexPrice", 1.0), ("index_price_e4", 1e4), ("indexPriceE4", 1e4))),
    (6, (("mark_price", 1.0), ("markPrice", 1.0), ("mark_price_e4", 1e4), ("markPriceE4", 1e4))),
    (3, (("open_interest", 1.0), ("openInterestE8", 1e8), ("open_interest_e8", 1e8))),
    (4, (("last_price", 1.0), ("lastPrice", 1.0), ("last_price_e4", 1e4))),
)
_OLD_RATES = (
    (1, "funding_rate_e6", "fundingRateE6"),
    (2, "predicted_funding_rate_e6", "predictedFundingRateE6"),
)
_LAST_KEYS = ("last_price", "lastPrice", "last_price_e4")


class BybitNormalizer(Normalizer):
    """bybit, raw channels `tickers` (V5) and `instrument_info` (before 2023-04-05)."""

    exchange = EXCHANGE

    def __init__(self, symbols: Iterable[str] | None = None) -> None:
        super().__init__(symbols)
        self._v5: bool | None = None  # the connection's era, set by its first message
        self._memo: dict[str, float | None] = {}  # number string -> float (None: not a number)

    def disconnect(self) -> None:
        """Forget symbol state and the era: the next connection's first message picks it again."""
        super().disconnect()
        self._v5 = None

    def _handle(self, msg: object, local_us: int) -> list[Record]:
        if self._v5 is None:
            self._v5 = local_us >= V5_SINCE_US
        if type(msg) is not dict:
            return []  # tardis-node: no topic, not handled
        topic = msg.get("topic")
        if type(topic) is not str:
            return []  # subscription replies and pongs carry no topic
        if self._v5:
            if not topic.startswith("tickers."):
                self.seen_channel |= topic.startswith("instrument_info.")
                return []
            self.seen_channel = True
            record = self._v5_ticker(msg, local_us)
        else:
            if not topic.startswith("instrument_info."):
                self.seen_channel |= topic.startswith("tickers.")
                return []
            self.seen_channel = True
            record = self._instrument(msg, local_us)
        return [] if record is None else [record]

    # -- V5 `tickers` ----------------------------------------------------------------------------

    def _v5_ticker(self, msg: dict, local_us: int) -> Record | None:
        """A snapshot or delta: only the fields present (not "") change; `ts` is the exchange time."""
        data = msg.get("data")
        if type(data) is not dict:
            raise MalformedLine("wrong shape: tickers data is not an object")
        symbol = data.get("symbol")
        if type(symbol) is not str or (self._symbols is not None and symbol not in self._symbols):
            return None
        old = self._values.get(symbol, _NO_VALUES)
        new = old.copy()
        for key, index in _V5_KEYS:
            raw = data.get(key)
            if raw is not None and raw != "" and (value := self._parse(raw)) is not None:
                new[index] = value
        raw = data.get("nextFundingTime")
        if raw is not None and raw != "":
            funding = _positive_ms(self._parse(raw))
            if funding is not None:
                new[0] = funding
        ts = msg.get("ts")
        timestamp = ts * 1000 if type(ts) is int else _time_or_none(ts, 1000)
        return self._commit(symbol, timestamp, new, old, local_us)

    def _parse(self, raw: object) -> float | None:
        """`_number`, memoized for strings: the same price and rate strings recur."""
        if type(raw) is not str:
            return _number(raw)
        memo = self._memo
        try:
            return memo[raw]
        except KeyError:
            if len(memo) > _MEMO_LIMIT:
                memo.clear()
            value = memo[raw] = _number(raw)
            return value

    # -- `instrument_info` (before 2023-04-05) ---------------------------------------------------

    def _instrument(self, msg: dict, local_us: int) -> Record | None:
        """A snapshot (`data` is the instrument) or a delta (`data.update[0]`; later items unread)."""
        data = msg.get("data")
        if type(data) is not dict:
            raise MalformedLine("wrong shape: instrument_info data is not an object")
        info = data if "symbol" in data else data["update"][0]
        if type(info) is not dict:
            raise MalformedLine("wrong shape: instrument_info update is not an object")
        symbol = info.get("symbol")
        if type(symbol) is not str or (self._symbols is not None and symbol not in self._symbols):
            return None
        old = self._values.get(symbol, _NO_VALUES)
        new = old.copy()
        for index, keys in _OLD_PRICES:
            value = _first_present(info, keys)
            if value is not None:
                new[index] = value
        if (value := _last_e4(info)) is not None:
            new[4] = value
        for index, snake, camel in _OLD_RATES:
            value = _scaled(info.get(snake if snake in info else camel), 1e6)
            if value is not None:
                new[index] = value
        key = "next_funding_time" if "next_funding_time" in info else "nextFundingTime"
        funding = _funding_time(info.get(key))
        if funding is not None:
            new[0] = funding
        return self._commit(symbol, _instrument_time(msg, info), new, old, local_us)


def _scaled(raw: object, divisor: float) -> float | None:
    """A number or number string divided by its fixed-point divisor, or None (keep the previous)."""
    value = _number(raw)
    return None if value is None else (value if divisor == 1.0 else value / divisor)


def _first_present(info: dict, keys: tuple) -> float | None:
    """The value of the first key present, as tardis-node's `!== undefined` chain picks it."""
    for key, divisor in keys:
        if key in info:
            return _scaled(info[key], divisor)
    return None


def _last_e4(info: dict) -> float | None:
    """`lastPriceE4`, tried last and, in tardis-node, only when truthy (not "", 0 or null)."""
    if any(key in info for key in _LAST_KEYS):
        return None
    raw = info.get("lastPriceE4")
    return _scaled(raw, 1e4) if raw else None


def _positive_ms(ms: float | None) -> int | None:
    """A funding time in ms -> microseconds, cut to whole ms; None for a missing or 1970 (<= 0) one."""
    micros = _time_or_none(ms, 1000)
    return micros if micros is not None and micros > 0 else None


def _funding_time(raw: object) -> int | None:
    """`next_funding_time`: an ISO string (or a ms number); 1970 (Bybit's "none") is left out."""
    if type(raw) is str:
        return _iso_micros(raw)
    return _positive_ms(raw) if type(raw) in (int, float) else None


def _iso_micros(text: str) -> int | None:
    """`2022-06-21T16:00:00Z` -> microseconds cut to whole ms (a JavaScript Date); None if not after 1970."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None or len(text) < 20 or text[10] != "T":
        return None  # JavaScript reads a zone-less time as local time: never trust it
    micros = (moment - _EPOCH) // _MICROSECOND // 1000 * 1000
    return micros if micros > 0 else None


def _instrument_time(msg: dict, info: dict) -> int | None:
    """`timestamp_e6` (or `timestampE6`) in microseconds, else the instrument's `updated_at`."""
    for key in ("timestamp_e6", "timestampE6"):
        if key in msg:
            value = _number(msg[key])
            return None if value is None else int(value)
    raw = info.get("updated_at")
    return _iso_micros(raw) if type(raw) is str else None
