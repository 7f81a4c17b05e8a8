"""Reading Tardis `derivative_ticker` CSV datasets, validating every row.

A bad row is counted and skipped, like a malformed replay line, never stored. What is detectable:

* a wrong cell count (a row cut in half, two rows run together);
* the wrong exchange, or a symbol that is not the file's;
* a non-numeric or non-finite (nan, inf) number, an empty `timestamp` or `local_timestamp`;
* a `local_timestamp` outside the file's UTC day, or an exchange `timestamp` more than
  `TIMESTAMP_SLACK` outside it;
* a zero or negative price;
* the last row of a file that does not end in a newline (the file was cut short there, so its last
  number may be cut short too);
* a `mark_price` (the last column: a row cut inside it keeps its cell count) off by more than a factor
  of 2 from the row's `index_price` (else `last_price`). Losing one integer digit changes a price
  tenfold, so this catches every cut that matters.

Not detectable: a number cut after its decimal point in a row that still ends in a newline, and a
mark price without index or last price in its row. A gzip file cut short is `CorruptDownload`.
"""

from __future__ import annotations

import gzip
import logging
import math
import zlib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from pipelines.core.columns import DERIVATIVE_TICKER
from pipelines.core.errors import ExtractError

log = logging.getLogger(__name__)

TIMESTAMP_SLACK = timedelta(hours=1)
MARK_RATIO = 2.0
INTS = (2, 3, 4)  # timestamp, local_timestamp, funding_timestamp (µs)
PRICES = (8, 9, 10)  # last_price, index_price, mark_price
SHOWN = 5  # bad rows logged one by one per file


class CorruptDownload(ExtractError):
    """A downloaded body that cannot be decompressed to its end; worth downloading again."""


class BadRow(ValueError):
    """One CSV row that fails validation; the message says why."""


def _cell(i: int, cell: str):
    if cell == "":
        if i in (2, 3):
            raise BadRow(f"empty {DERIVATIVE_TICKER[i]}")
        return None
    try:
        value = int(cell) if i in INTS else float(cell)
    except ValueError:
        raise BadRow(f"{DERIVATIVE_TICKER[i]} {cell!r} is not a number") from None
    if i not in INTS and not math.isfinite(value):
        raise BadRow(f"{DERIVATIVE_TICKER[i]} {cell!r} is not finite")
    if i in PRICES and value <= 0:
        raise BadRow(f"{DERIVATIVE_TICKER[i]} {cell} is not a price")
    return value


class RowChecker:
    """Validates rows of one exchange's file for one UTC day and some symbols."""

    def __init__(self, exchange: str, symbols: set[str], day: date):
        self.exchange, self.symbols = exchange, symbols
        start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 1_000_000
        self.lo, self.hi = start, start + 86_400_000_000
        self.slack = TIMESTAMP_SLACK // timedelta(microseconds=1)

    def record(self, line: str) -> tuple:
        """The typed record of one CSV line (without its newline), or `BadRow`."""
        cells = line.split(",")  # Tardis writes no quoted cells in this data type
        if len(cells) != len(DERIVATIVE_TICKER):
            raise BadRow(f"{len(cells)} cells instead of {len(DERIVATIVE_TICKER)}")
        if cells[0] != self.exchange or cells[1] not in self.symbols:
            raise BadRow(f"row of {cells[0]} {cells[1]}, not of this file")
        record = tuple(cell if i < 2 else _cell(i, cell) for i, cell in enumerate(cells))
        if not self.lo <= record[3] < self.hi:
            raise BadRow(f"local_timestamp {record[3]} outside the file's day")
        if not self.lo - self.slack <= record[2] < self.hi + self.slack:
            raise BadRow(f"timestamp {record[2]} outside the file's day")
        mark, reference = record[10], record[9] if record[9] is not None else record[8]
        if (
            mark is not None
            and reference is not None
            and not 1 / MARK_RATIO <= mark / reference <= MARK_RATIO
        ):
            raise BadRow(f"mark_price {mark:g} implausible against {reference:g} (a number cut short?)")
        return record


def read_dataset(path: Path, checker: RowChecker, add) -> tuple[int, int]:
    """Feed the valid rows of one derivative_ticker CSV to `add`; returns (rows read, bad rows).

    Raises `CorruptDownload` when the gzip stream ends early or is damaged, and `ExtractError`
    for a header that is not derivative_ticker's.
    """
    rows = bad = 0
    try:
        with gzip.open(path, "rt", newline="") as handle:
            header = handle.readline().rstrip("\r\n").split(",")
            if tuple(header) != DERIVATIVE_TICKER:
                raise ExtractError(f"{path.name}: unexpected CSV header {header!r}")
            for number, line in enumerate(handle, start=2):
                rows += 1
                try:
                    if not line.endswith("\n"):
                        raise BadRow("the file ends inside this row (cut short)")
                    add(checker.record(line.rstrip("\r\n")))
                except BadRow as err:
                    bad += 1
                    if bad <= SHOWN:
                        log.warning("%s line %d skipped: %s", path.name, number, err)
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise CorruptDownload(f"{path.name} is cut short or damaged ({err})") from None
    if bad:
        log.warning("%s: skipped %d bad rows of %d", path.name, bad, rows)
    return rows, bad
