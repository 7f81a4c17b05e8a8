"""gate-io-futures: raw `futures.tickers` messages -> `derivative_ticker` records.

tardis-node's `GateIOFuturesDerivativeTickerMapper` is the reference (see `pipelines.venues.normalize`).

The settlement rule is in `pipelines.venues.gate.settle`, the docs page is README.md here.
"""

from __future__ import annotations

from collections.abc import Iterable
from operator import itemgetter

from pipelines.venues.base import (
    _NO_VALUES,
    _SHAPE_ERRORS,
    MalformedLine,
    Normalizer,
    Record,
    _number,
    _time_or_none,
)

EXCHANGE = "gate-io-futures"  # the Tardis exchange id

# Gate ticker keys in VALUE_FIELDS order. Gate sends no funding timestamp: key None is never present,
# so that field stays None through the generic "missing keeps the previous value" rule.
_GATE_KEYS = (
    None,
    "funding_rate",
    "funding_rate_indicative",
    "total_size",
    "last",
    "index_price",
    "mark_price",
)
_GATE_FIELDS = itemgetter(*_GATE_KEYS[1:])
_ABSENT = object()  # a key not in the message (unlike a null)
_MEMO_LIMIT = 10_000  # parsed Gate number strings kept; small stays cache-friendly (measured)


class GateNormalizer(Normalizer):
    """gate-io-futures, raw channel `futures.tickers`: numbers as strings, no funding timestamp."""

    exchange = EXCHANGE

    def __init__(self, symbols: Iterable[str] | None = None) -> None:
        super().__init__(symbols)
        self._memo: dict[str, float] = {}  # number string -> float

    def _handle(self, msg: object, local_us: int) -> list[Record]:
        if type(msg) is not dict:
            raise MalformedLine("wrong shape: not a JSON object")
        if msg.get("channel") != "futures.tickers" or msg.get("event") != "update":
            return []
        self.seen_channel = True
        result = msg.get("result")
        if result is None:
            raise MalformedLine("wrong shape: no result")
        # tardis-node: `time_ms` whenever the key is present, even null (then no usable time).
        time_ms = msg.get("time_ms", _ABSENT)
        if type(time_ms) is int:  # the usual case, tested first: this runs once per message
            timestamp = time_ms * 1000
        elif time_ms is _ABSENT:
            timestamp = _time_or_none(msg.get("time"), 1_000_000)
        else:
            timestamp = _time_or_none(time_ms, 1000)
        if type(result) is list and len(result) == 1:
            result = result[0]
            if type(result) is not dict:  # a nested `[[{...}]]` or a null: dropped whole, as tardis-node
                return []
        if type(result) is dict:  # the usual case: one ticker per message
            record = self._ticker(result, timestamp, local_us)
            return [] if record is None else [record]
        if type(result) is not list:
            raise MalformedLine("wrong shape: result is neither a list nor an object")
        return self._tickers(result, timestamp, local_us)

    def _tickers(self, result: list, timestamp: int | None, local_us: int) -> list[Record]:
        """Several tickers in one message, in order. Like tardis-node, the first item without a string
        `contract` (an inner list `[[{...}]]`, null, ...) ends the message: earlier ones count."""
        records = []
        for ticker in result:
            if type(ticker) is not dict or type(ticker.get("contract")) is not str:
                break
            record = self._ticker(ticker, timestamp, local_us)
            if record is not None:
                records.append(record)
        return records

    def _ticker(self, ticker: dict, timestamp: int | None, local_us: int) -> Record | None:
        symbol = ticker.get("contract")
        if type(symbol) is not str:
            return None  # tardis-node: no contract, no row (it would use a non-string one as the symbol)
        if self._symbols is not None and symbol not in self._symbols:
            return None
        old = self._values.get(symbol, _NO_VALUES)
        try:  # fast path: every field present and numeric
            new = self._floats(_GATE_FIELDS(ticker))
        except _SHAPE_ERRORS:  # a field missing, null, "", unparseable or infinite keeps its previous value
            get = ticker.get
            new = [o if (v := _number(get(k))) is None else v for k, o in zip(_GATE_KEYS, old)]  # noqa: B905
        return self._commit(symbol, timestamp, new, old, local_us)

    def _floats(self, fields: tuple) -> list:
        """[None (funding_timestamp), *floats]. Parsing number strings dominates the cost, and the same
        strings recur (unchanged rates, revisited prices), so parsed values are memoized."""
        memo = self._memo
        if len(memo) > _MEMO_LIMIT:
            memo.clear()
        new = [None]
        for raw in fields:
            value = memo.get(raw)
            if value is None:
                value = memo[raw] = _parse_gate(raw)
            new.append(value)
        return new


def _parse_gate(raw: object) -> float:
    """`float(raw)` for the fast path, raising ValueError where `_number` would give None."""
    value = _number(raw)
    if value is None:
        raise ValueError(f"not a number: {raw!r}")
    return value
