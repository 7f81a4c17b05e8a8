"""Raw Tardis replay messages -> `derivative_ticker` records (the hot path of the pipeline).

A replay line is `<28-char local timestamp> <exchange's raw JSON>`; an empty line marks a websocket
disconnect. Each exchange has a stateful `Normalizer`: per symbol it keeps the latest value of every
field, a null/missing field keeps the previous value, a record is emitted only when a value field
changed, and the exchange timestamp never moves backwards. Records are tuples in
`pipelines.columns.DERIVATIVE_TICKER` order (see tardis-data.md for the field mapping).

The reference is tardis-node's `normalizeDerivativeTickers` (npm `tardis-dev`, pinned in
tests/reference/); tests/pipelines/test_normalize_reference.py compares both row for row. Where it
stores junk (0 for null, NaN, Infinity, 1970), a value that is null, missing, unparseable or not
finite keeps the previous value instead, and a row with no exchange time yet takes the local time:
the README's "Deviations from tardis-node" lists each case.

Speed matters more than elegance here: orjson, the local timestamp parsed with integer arithmetic on
a cached minute, per-symbol state as plain lists compared in C (`new != old`).

Replay file -> CSV (`arbdb normalize`) is in `pipelines.normalize_io`; the micro-benchmark is
`bench.normalize_bench`.
"""

from __future__ import annotations

import json
import logging
import math
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
_ABSENT = object()  # a key not in the message (unlike a null)
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
        # Set by the first message of this exchange's channel: `arbdb normalize` tells a wrong
        # --exchange (no such message at all) from a file that merely had nothing to emit.
        self.seen_channel = False

    def feed(self, local_timestamp: bytes | str, message: bytes | str) -> list[Record]:
        """Records emitted by one replay message; raises `MalformedLine` if it cannot be parsed."""
        if type(local_timestamp) is not bytes:
            local_timestamp = str(local_timestamp).encode()
        local_us = self._local_us(local_timestamp)
        try:
            msg = orjson.loads(message)
        except orjson.JSONDecodeError as err:
            msg = _loads_slow(err, message)
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

    def _commit(
        self, symbol: str, timestamp: int | None, new: list, old: list, local_us: int
    ) -> Record | None:
        """Keep the max timestamp; store `new` values and return the record if they differ from `old`.

        `timestamp` None (the message has no usable exchange time) keeps the previous one; with none
        yet, the record takes the local time, which is not kept (tardis-node would store 1970)."""
        prev = self._times.get(symbol)
        if timestamp is None:
            timestamp = local_us if prev is None else prev
        else:
            if prev is not None and prev > timestamp:
                timestamp = prev
            self._times[symbol] = timestamp
        if new == old:
            return None
        self._values[symbol] = new
        return (self.exchange, symbol, timestamp, local_us, *new)


def _loads_slow(err: orjson.JSONDecodeError, message: bytes | str) -> object:
    """A message orjson refused: a number too large for a double (`1e400`) is read as infinity, which
    the normalizers then treat as a missing value; anything else is a `MalformedLine`."""
    if "infinity" not in str(err):
        raise MalformedLine(_json_reason(err, message)) from None
    try:
        return json.loads(message, parse_float=_finite_or_none, parse_int=_int_or_none)
    except ValueError:
        raise MalformedLine(_json_reason(err, message)) from None


def _finite_or_none(text: str) -> float | None:
    """A JSON number as a float, or None (a null: keep the previous value) when it overflows."""
    value = float(text)
    return value if math.isfinite(value) else None


def _int_or_none(text: str) -> int | None:
    """A JSON integer, or None when it is beyond a double's range (tardis-node reads Infinity)."""
    return int(text) if math.isfinite(float(text)) else None


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


def _time_or_none(value: object, scale: int) -> int | None:
    """`_micros`, or None for a null, missing (None), non-numeric or non-finite time."""
    if type(value) is int:
        return value * scale
    if type(value) is not float or not math.isfinite(value):
        return None
    return round(value * scale)


def _number(value: object) -> float | None:
    """A finite float from a number or number string, else None (the caller keeps the previous value).

    Python's float() accepts "1_000", "nan" and "inf", which Gate never means; they are refused too."""
    if value is None or type(value) is bool:
        return None
    if type(value) is str and "_" in value:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _parse_gate(raw: object) -> float:
    """`float(raw)` for the fast path, raising ValueError where `_number` would give None."""
    value = _number(raw)
    if value is None:
        raise ValueError(f"not a number: {raw!r}")
    return value


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
        # tardis-node's canHandle: a string before the last element names the channel; without one,
        # the chanId must belong to a status subscription.
        channel = msg[-2]
        if type(channel) is str:
            if channel != "status":
                return []
            symbol = msg[-1]
            if type(symbol) is not str:
                symbol = self._channels.get(msg[0])
        else:
            symbol = self._channels.get(msg[0])
            if symbol is None:
                return []
            if type(msg[-1]) is str:
                symbol = msg[-1]
        self.seen_channel = True
        status = msg[1]
        if type(status) is not list or symbol is None:  # heartbeat `[chanId, "hb", ...]`
            return []
        if self._symbols is not None and symbol not in self._symbols:
            return []
        time_ms = msg[3] if len(msg) > 3 else None
        timestamp = time_ms * 1000 if type(time_ms) is int else _time_or_none(time_ms, 1000)
        record = self._status(symbol, timestamp, status, local_us)
        return [] if record is None else [record]

    def _event(self, msg: dict) -> None:
        """Track `subscribed` events of status channels: chanId -> symbol, as tardis-node does (it
        strips `deriv:t` and never forgets an id until a disconnect)."""
        if msg.get("event") != "subscribed" or msg.get("channel") != "status":
            return
        key = msg.get("key")
        if type(key) is str and key.startswith("deriv:"):
            self.seen_channel = True
            self._channels[msg.get("chanId")] = key.replace("deriv:t", "", 1)

    def _status(self, symbol: str, timestamp: int | None, status: list, local_us: int) -> Record | None:
        """Merge one STATUS_ARRAY (early 12-element arrays lack mark price and open interest)."""
        old = self._values.get(symbol, _NO_VALUES)
        try:  # fast path, all in C: every field present and numeric (orjson gives no infinities)
            fields = _BFX_FIELDS(status)
            new = [_micros(fields[0], 1000), *map(float, fields[1:])]
        except _SHAPE_ERRORS:  # a field null, beyond a short array or not finite keeps its previous value
            new = self._merge_slow(status, old)
        return self._commit(symbol, timestamp, new, old, local_us)

    @staticmethod
    def _merge_slow(status: list, old: list) -> list:
        n = len(status)
        funding = _time_or_none(status[_BFX_FUNDING_TS], 1000) if n > _BFX_FUNDING_TS else None
        # zip stops at the shorter: old[0] (funding_timestamp) is merged apart.
        new = [o if i >= n or (v := _number(status[i])) is None else v for i, o in zip(_BFX_INDICES, old[1:])]  # noqa: B905
        new.insert(0, old[0] if funding is None else funding)
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
    return normalize_with(normalizer, lines, on_error or _log_malformed)


def normalize_with(normalizer: Normalizer, lines: Iterable[bytes | str], on_error: ErrorHandler):
    """`normalize_lines` with a normalizer of the caller's (who can read `seen_channel` after).

    The loop inlines `feed` because it runs once per message."""
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
        except decode_error:  # rare: a number orjson cannot hold, or a malformed line
            yield from _retry_slow(normalizer, line, line_no, on_error)
        except MalformedLine as err:
            on_error(line_no, str(err))
        except _SHAPE_ERRORS as err:  # a shape no check anticipated (e.g. an unhashable chanId)
            on_error(line_no, str(_wrong_shape(err)))


def _retry_slow(normalizer: Normalizer, line: bytes, line_no: int, on_error: ErrorHandler) -> list[Record]:
    """The records of a line orjson refused, through `feed` (which falls back to `_loads_slow`); a
    malformed one goes to `on_error`."""
    try:
        return normalizer.feed(line[:PREFIX_LEN], line[PREFIX_LEN + 1 :])
    except MalformedLine as error:
        on_error(line_no, str(error))
    return []


def _log_malformed(line_no: int, reason: str) -> None:
    log.warning("replay line %d skipped: %s", line_no, reason)
