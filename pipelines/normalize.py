"""Raw Tardis replay messages -> `derivative_ticker` records (the hot path of the pipeline).

A replay line is `<28-char local timestamp> <exchange's raw JSON>`; an empty line marks a websocket
disconnect. Each exchange has a stateful `Normalizer`: per symbol it keeps the latest value of every
field, a null/missing field keeps the previous value, a record is emitted only when a value field
changed, and the exchange timestamp never moves backwards. Records are tuples in
`pipelines.columns.DERIVATIVE_TICKER` order (see tardis-data.md for the field mapping).

Speed matters more than elegance here: orjson, the local timestamp parsed with integer arithmetic on
a cached minute, per-symbol state as plain lists compared in C (`new != old`).

Replay file -> CSV (`arbdb normalize`) is in `pipelines.normalize_io`; the micro-benchmark is
`bench.normalize_bench`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from operator import itemgetter

import orjson

from pipelines.columns import BITFINEX, EXCHANGES, GATE, VALUE_FIELDS
from pipelines.errors import ArbdbError, UsageError

log = logging.getLogger(__name__)

Record = tuple
ErrorHandler = Callable[[int, str], None]

PREFIX_LEN = 28  # `2024-03-01T08:00:00.1234567Z`, then one space, then the JSON message
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
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
# Bitfinex STATUS_ARRAY indices in VALUE_FIELDS order after funding_timestamp (index 7, in ms, apart).
_BFX_INDICES = (11, 8, 17, 2, 3, 14)
_BFX_FUNDING_TS = 7
_GATE_FIELDS = itemgetter(*_GATE_KEYS[1:])
_BFX_FIELDS = itemgetter(_BFX_FUNDING_TS, *_BFX_INDICES)
_NO_VALUES = [None] * len(VALUE_FIELDS)
_MEMO_LIMIT = 10_000  # parsed Gate number strings kept; small stays cache-friendly (measured)


class MalformedLine(ArbdbError):
    """A replay line that cannot be parsed; the message says why. Callers count and skip it."""


class UnknownExchange(UsageError):
    """No normalizer for this exchange id."""


class ReplayReadError(ArbdbError):
    """A replay file could not be opened or read to the end (missing, unreadable, corrupt gzip)."""


class Normalizer:
    """Stateful per-exchange normalizer. Feed it replay lines in order; call `disconnect` on gaps."""

    exchange = ""

    def __init__(self, symbols: Iterable[str] | None = None) -> None:
        wanted = None if symbols is None else (s.strip().upper() for s in symbols)
        self._symbols = None if wanted is None else frozenset(s for s in wanted if s)
        self._values: dict[str, list] = {}  # symbol -> latest VALUE_FIELDS values, in that order
        self._times: dict[str, int] = {}  # symbol -> max exchange timestamp seen, microseconds
        self._minute_key = self._second_key = b""
        self._minute_us = self._second_us = 0

    def feed(self, local_timestamp: bytes | str, message: bytes | str) -> list[Record]:
        """Records emitted by one replay message; raises `MalformedLine` if it cannot be parsed."""
        if type(local_timestamp) is not bytes:
            local_timestamp = str(local_timestamp).encode()
        local_us = self._local_us(local_timestamp)
        try:
            msg = orjson.loads(message)
        except orjson.JSONDecodeError as err:
            raise MalformedLine(_json_reason(err, message)) from None
        try:
            return self._handle(msg, local_us)
        except _SHAPE_ERRORS as err:  # a shape no check anticipated (e.g. an unhashable chanId)
            raise _wrong_shape(err) from None

    def disconnect(self) -> None:
        """A websocket disconnect: forget every symbol's state (the next values start afresh)."""
        self._values.clear()
        self._times.clear()

    def _handle(self, msg: object, local_us: int) -> list[Record]:
        """Records from one decoded message (exchange-specific)."""
        raise NotImplementedError

    def _local_us(self, ts: bytes) -> int:
        """`2024-03-01T08:00:00.1234567Z` -> int microseconds; the second is cached (it repeats)."""
        if len(ts) != PREFIX_LEN or ts[19] != 46 or ts[27] != 90:  # '.' and 'Z'
            raise MalformedLine(f"bad timestamp prefix {ts[:40]!r}")
        key = ts[:19]
        if key != self._second_key:
            self._second_us = self._second_micros(key)
            self._second_key = key
        try:
            fraction = int(ts[20:27])  # 100 ns units
        except ValueError:
            raise MalformedLine(f"bad timestamp prefix {ts!r}") from None
        if fraction < 0:
            raise MalformedLine(f"bad timestamp prefix {ts!r}")
        return self._second_us + fraction // 10

    def _second_micros(self, key: bytes) -> int:
        """`2024-03-01T08:00:01` -> microseconds since the epoch; the minute is cached too."""
        minute = key[:16]
        if minute != self._minute_key:
            self._minute_us = _minute_micros(minute)
            self._minute_key = minute
        try:
            seconds = int(key[17:19])
        except ValueError:
            seconds = -1
        if key[16] != 58 or not 0 <= seconds < 60:  # ':'
            raise MalformedLine(f"bad timestamp prefix {key!r}")
        return self._minute_us + seconds * 1_000_000

    def _commit(self, symbol: str, timestamp: int, new: list, old: list, local_us: int) -> Record | None:
        """Keep the max timestamp; store `new` values and return the record if they differ from `old`."""
        prev = self._times.get(symbol)
        if prev is not None and prev > timestamp:
            timestamp = prev
        self._times[symbol] = timestamp
        if new == old:
            return None
        self._values[symbol] = new
        return (self.exchange, symbol, timestamp, local_us, *new)


def _json_reason(err: orjson.JSONDecodeError, message: bytes | str) -> str:
    """Why a message is not JSON; a message cut short (also inside a string) is "truncated JSON"."""
    reason = str(err)
    if "zero-length" in reason:
        return "empty message"
    if "end of data" in reason or err.pos >= len(message.rstrip()):
        return "truncated JSON"
    return f"bad JSON ({reason})"


def _minute_micros(key: bytes) -> int:
    """Microseconds since the epoch of a `2024-03-01T08:00` prefix."""
    try:
        minute = datetime.strptime(key.decode("ascii"), "%Y-%m-%dT%H:%M").replace(tzinfo=UTC)
    except (UnicodeDecodeError, ValueError):
        raise MalformedLine(f"bad timestamp prefix {key!r}") from None
    return (minute - _EPOCH) // _MICROSECOND


_MICROSECOND = datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC) - _EPOCH


def _micros(value: object, scale: int) -> int:
    """An exchange time in seconds (scale 1e6) or milliseconds (scale 1e3) -> int microseconds."""
    if type(value) is int:
        return value * scale
    if value is None or isinstance(value, bool):
        raise ValueError(f"bad time {value!r}")
    return round(float(value) * scale)


_SHAPE_ERRORS = (KeyError, IndexError, TypeError, ValueError, AttributeError)


def _wrong_shape(err: Exception) -> MalformedLine:
    return MalformedLine(f"wrong shape: {type(err).__name__} {err}")


class GateNormalizer(Normalizer):
    """gate-io-futures, raw channel `futures.tickers`: numbers as strings, no funding timestamp."""

    exchange = GATE

    def __init__(self, symbols: Iterable[str] | None = None) -> None:
        super().__init__(symbols)
        self._memo: dict[str, float] = {}  # number string -> float

    def _handle(self, msg: object, local_us: int) -> list[Record]:
        if type(msg) is not dict:
            raise MalformedLine("wrong shape: not a JSON object")
        if msg.get("channel") != "futures.tickers" or msg.get("event") != "update":
            return []
        result = msg.get("result")
        try:
            time_ms = msg.get("time_ms")
            timestamp = _micros(msg.get("time"), 1_000_000) if time_ms is None else _micros(time_ms, 1000)
            if type(result) is list and len(result) == 1:
                result = result[0]
            if type(result) is dict:  # the usual case: one ticker per message
                record = self._ticker(result, timestamp, local_us)
                return [] if record is None else [record]
            if type(result) is list:
                return self._tickers(result, timestamp, local_us)
        except _SHAPE_ERRORS as err:
            raise _wrong_shape(err) from None
        raise MalformedLine("wrong shape: result is neither a list nor an object")

    def _tickers(self, result: list, timestamp: int, local_us: int) -> list[Record]:
        """Several tickers in one message: all or nothing, so a bad one leaves the state untouched."""
        saved = dict(self._values), dict(self._times)
        try:
            records = [self._ticker(t, timestamp, local_us) for t in result]
        except _SHAPE_ERRORS:
            self._values, self._times = saved
            raise
        return [r for r in records if r is not None]

    def _ticker(self, ticker: dict, timestamp: int, local_us: int) -> Record | None:
        symbol = ticker["contract"]
        if type(symbol) is not str:
            raise TypeError(f"contract {symbol!r} is not a string")
        if self._symbols is not None and symbol not in self._symbols:
            return None
        old = self._values.get(symbol, _NO_VALUES)
        try:  # fast path: every field present and numeric
            new = self._floats(_GATE_FIELDS(ticker))
        except _SHAPE_ERRORS:  # a field missing, null or "" keeps its previous value
            get = ticker.get
            new = [o if (v := get(k)) is None or v == "" else float(v) for k, o in zip(_GATE_KEYS, old)]  # noqa: B905
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
                value = memo[raw] = float(raw)
            new.append(value)
        return new


class BitfinexNormalizer(Normalizer):
    """bitfinex-derivatives, raw channel `status`: chanId -> symbol map from subscription messages."""

    exchange = BITFINEX

    def __init__(self, symbols: Iterable[str] | None = None) -> None:
        super().__init__(symbols)
        self._channels: dict[object, str] = {}

    def disconnect(self) -> None:
        """Forget symbol state and channel ids: they are rebuilt from the new subscriptions."""
        super().disconnect()
        self._channels.clear()

    def _handle(self, msg: object, local_us: int) -> list[Record]:
        if type(msg) is dict:
            self._event(msg)
            return []
        if type(msg) is not list or len(msg) < 2:
            raise MalformedLine("wrong shape: neither an event object nor a channel array")
        status = msg[1]
        if type(status) is not list:  # heartbeat `[chanId, "hb", ...]` or another channel's payload
            return []
        symbol = msg[-1] if msg[-2] == "status" else self._channels.get(msg[0])
        if symbol is None or (self._symbols is not None and symbol not in self._symbols):
            return []
        try:
            record = self._status(symbol, msg[3], status, local_us)
        except _SHAPE_ERRORS as err:
            raise _wrong_shape(err) from None
        return [] if record is None else [record]

    def _event(self, msg: dict) -> None:
        """Track `subscribed` events: status channels map chanId -> symbol, others drop the id."""
        if msg.get("event") != "subscribed":
            return
        key = msg.get("key")
        if msg.get("channel") == "status" and type(key) is str and key.startswith("deriv:"):
            symbol = key[6:]
            self._channels[msg.get("chanId")] = symbol[1:] if symbol.startswith("t") else symbol
        else:
            self._channels.pop(msg.get("chanId"), None)

    def _status(self, symbol: str, time_ms: object, status: list, local_us: int) -> Record | None:
        """Merge one STATUS_ARRAY (early 12-element arrays lack mark price and open interest)."""
        if type(symbol) is not str:
            raise TypeError(f"symbol {symbol!r} is not a string")
        old = self._values.get(symbol, _NO_VALUES)
        try:  # fast path, all in C: every field present and numeric
            fields = _BFX_FIELDS(status)
            new = [_micros(fields[0], 1000), *map(float, fields[1:])]
        except _SHAPE_ERRORS:  # a field null or beyond a short array keeps its previous value
            new = self._merge_slow(status, old)
        return self._commit(symbol, _micros(time_ms, 1000), new, old, local_us)

    @staticmethod
    def _merge_slow(status: list, old: list) -> list:
        n = len(status)
        funding = status[_BFX_FUNDING_TS] if n > _BFX_FUNDING_TS else None
        # zip stops at the shorter: old[0] (funding_timestamp) is merged apart.
        new = [o if i >= n or (v := status[i]) is None else float(v) for i, o in zip(_BFX_INDICES, old[1:])]  # noqa: B905
        new.insert(0, old[0] if funding is None else _micros(funding, 1000))
        return new


_NORMALIZERS = {GATE: GateNormalizer, BITFINEX: BitfinexNormalizer}


def make_normalizer(exchange: str, symbols: Iterable[str] | None = None) -> Normalizer:
    """A fresh normalizer for `exchange`; `symbols` restricts its output (None = every symbol)."""
    try:
        cls = _NORMALIZERS[exchange]
    except KeyError:
        raise UnknownExchange(f"unknown exchange {exchange!r} (known: {', '.join(EXCHANGES)})") from None
    return cls(symbols)


def normalize_lines(
    exchange: str,
    lines: Iterable[bytes | str],
    symbols: Iterable[str] | None = None,
    on_error: ErrorHandler | None = None,
) -> Iterator[Record]:
    """Records from whole replay lines; malformed lines go to `on_error(line_no, reason)` and are skipped.

    An empty line is a disconnect. The exchange is checked now, not at the first `next()`.
    """
    normalizer = make_normalizer(exchange, symbols)
    return _normalize(normalizer, lines, on_error or _log_malformed)


def _normalize(normalizer: Normalizer, lines: Iterable[bytes | str], on_error: ErrorHandler):
    """The `normalize_lines` loop; `feed` inlined because this runs once per message."""
    local_us, handle, loads, decode_error = (
        normalizer._local_us,
        normalizer._handle,
        orjson.loads,
        orjson.JSONDecodeError,
    )
    for line_no, line in enumerate(lines, 1):
        if type(line) is not bytes:
            line = line.encode()
        if len(line) <= PREFIX_LEN + 1 or line[PREFIX_LEN] != 32:  # ' ' after the timestamp
            if not line.strip():
                normalizer.disconnect()
            else:
                on_error(
                    line_no,
                    "truncated line" if len(line.rstrip()) <= PREFIX_LEN + 1 else "bad timestamp prefix",
                )
            continue
        try:
            # orjson ignores the trailing newline, so the message is sliced once and never stripped.
            yield from handle(loads(line[PREFIX_LEN + 1 :]), local_us(line[:PREFIX_LEN]))
        except decode_error as err:
            on_error(line_no, _json_reason(err, line[PREFIX_LEN + 1 :]))
        except MalformedLine as err:
            on_error(line_no, str(err))
        except _SHAPE_ERRORS as err:  # a shape no check anticipated (e.g. an unhashable chanId)
            on_error(line_no, str(_wrong_shape(err)))


def _log_malformed(line_no: int, reason: str) -> None:
    log.warning("replay line %d skipped: %s", line_no, reason)
