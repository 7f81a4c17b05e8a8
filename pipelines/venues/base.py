"""The exchange-independent part of the normalizers: the `Normalizer` base (local timestamp,
per-symbol state, the emit rule) and the value rules shared by both exchanges.

See `pipelines.venues.normalize` for the whole picture and the tardis-node reference.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

import orjson

from pipelines.core.columns import VALUE_FIELDS
from pipelines.core.errors import ArbdbError

log = logging.getLogger(__name__)

Record = tuple
ErrorHandler = Callable[[int, str], None]

PREFIX_LEN = 28  # `2024-03-01T08:00:00.1234567Z`, then one space, then the JSON message
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NO_VALUES = [None] * len(VALUE_FIELDS)


class MalformedLine(ArbdbError):
    """A replay line that cannot be parsed; the message says why. Callers count and skip it."""


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

    def _advance(self, symbol: str, timestamp: int | None) -> None:
        """Move the symbol's exchange time forward to `timestamp` without emitting anything."""
        prev = self._times.get(symbol)
        if timestamp is not None and (prev is None or timestamp > prev):
            self._times[symbol] = timestamp

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
    """An exchange time in seconds (scale 1e6) or milliseconds (scale 1e3) -> int microseconds.

    A fractional time is cut to whole milliseconds, as a JavaScript Date (tardis-node) cuts it."""
    if type(value) is int:
        return value * scale
    if value is None or isinstance(value, bool):
        raise ValueError(f"bad time {value!r}")
    return int(float(value) * (scale // 1000)) * 1000


def _time_or_none(value: object, scale: int) -> int | None:
    """`_micros`, or None for a null, missing (None), non-numeric or non-finite time."""
    if type(value) is int:
        return value * scale
    if type(value) is not float or not math.isfinite(value):
        return None
    return int(value * (scale // 1000)) * 1000


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


_SHAPE_ERRORS = (KeyError, IndexError, TypeError, ValueError, AttributeError)


def _wrong_shape(err: Exception) -> MalformedLine:
    return MalformedLine(f"wrong shape: {type(err).__name__} {err}")
