"""Raw Tardis replay messages -> `derivative_ticker` records (the hot path of the pipeline).

A replay line is `<28-char local timestamp> <exchange's raw JSON>`; an empty line marks a websocket
disconnect. Each exchange has a stateful `Normalizer`: per symbol it keeps the latest value of every
field, a null/missing field keeps the previous value, a record is emitted only when a value field
changed, and the exchange timestamp never moves backwards. Records are tuples in
`pipelines.core.columns.DERIVATIVE_TICKER` order (see tardis-data.md for the field mapping).

The reference is tardis-node's `normalizeDerivativeTickers` (npm `tardis-dev`, pinned in
tests/reference/); tests/venues/test_normalize_reference.py compares both row for row. Where it
stores junk (0 for null, NaN, Infinity, 1970), a value that is null, missing, unparseable or not
finite keeps the previous value instead, and a row with no exchange time yet takes the local time:
docs/computation.md's "Deviations from tardis-node" and each venue's page list each case.

The exchanges are in their folders (`pipelines.venues.<name>.normalize`, found through
`pipelines.venues.registry`), their common base in `pipelines.venues.base`.
Speed matters more than elegance here: orjson, the local
timestamp parsed with integer arithmetic on a cached minute, per-symbol state as plain lists
compared in C (`new != old`).

Replay file -> CSV (`arbdb normalize`) is in `pipelines.extract.normalize_io`; the micro-benchmark is
`bench.normalize_bench`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

import orjson

from pipelines.core.errors import UsageError
from pipelines.venues.base import (
    _SHAPE_ERRORS,
    PREFIX_LEN,
    ErrorHandler,
    MalformedLine,
    Normalizer,
    Record,
    ReplayReadError,
    _wrong_shape,
)
from pipelines.venues.registry import exchanges, venue

__all__ = [
    "PREFIX_LEN",
    "MalformedLine",
    "Normalizer",
    "Record",
    "ReplayReadError",
    "UnknownExchange",
    "make_normalizer",
    "normalize_lines",
    "normalize_with",
]

log = logging.getLogger(__name__)


class UnknownExchange(UsageError):
    """No normalizer for this exchange id."""


def make_normalizer(exchange: str, symbols: Iterable[str] | None = None) -> Normalizer:
    """A fresh normalizer for `exchange`; `symbols` restricts its output (None = every symbol)."""
    try:
        cls = venue(exchange).normalizer
    except KeyError:
        raise UnknownExchange(f"unknown exchange {exchange!r} (known: {', '.join(exchanges())})") from None
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
