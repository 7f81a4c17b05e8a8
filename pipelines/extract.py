"""Extract: Tardis history for one exchange and time range, reduced to minute rows.

Only Tardis I/O and the streaming reduction live here. The replay is streamed message by message
through the normalizer into a `MinuteBook` that keeps only the last record per symbol and minute, so
memory is bounded by minutes, never by messages. One call covers one exchange and one range (a day
for backfills, a window for the scheduler) and is a plain function of picklable arguments so
backfills can run exchanges in worker processes.
"""

from __future__ import annotations

import asyncio
import csv
import gzip
import logging
import shutil
import tempfile
import urllib.error
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import aiohttp
import tardis_dev

from pipelines.columns import DERIVATIVE_TICKER, REPLAY_CHANNEL
from pipelines.errors import AuthError, DataNotPublished, ExtractError, UnknownSymbol
from pipelines.normalize import MalformedLine, make_normalizer
from pipelines.settings import Tardis

log = logging.getLogger(__name__)

# Replays start this long before the range so every field of the normalizer's state is known by the
# range's first minute; the warm-up minutes themselves are dropped.
WARMUP = timedelta(minutes=15)
US_PER_MINUTE = 60_000_000


@dataclass
class Extracted:
    """Minute rows of one exchange over [start, end), plus what it took to get them."""

    exchange: str
    start: datetime
    end: datetime
    source: str
    rows: list[tuple] = field(default_factory=list)  # (symbol, minute, record tuple)
    messages: int = 0
    malformed: int = 0
    symbols: dict[str, int] = field(default_factory=dict)  # minute rows per symbol

    def label(self) -> str:
        return f"{self.exchange} {self.start:%Y-%m-%d %H:%M}..{self.end:%Y-%m-%d %H:%M} UTC"


class MinuteBook:
    """Keeps the last derivative_ticker record per (symbol, minute) inside [start, end)."""

    def __init__(self, start: datetime, end: datetime):
        self.lo = int(start.timestamp() * 1_000_000)
        self.hi = int(end.timestamp() * 1_000_000)
        self.last: dict[tuple[str, int], tuple] = {}

    def add(self, record: tuple) -> None:
        ts = record[2]
        if self.lo <= ts < self.hi:
            self.last[(record[1], ts // US_PER_MINUTE)] = record

    def fill(self, out: Extracted) -> Extracted:
        keys = sorted(self.last)
        out.rows = [(sym, minute, self.last[(sym, minute)]) for sym, minute in keys]
        for sym, _ in keys:
            out.symbols[sym] = out.symbols.get(sym, 0) + 1
        return out


def _http_error(err: urllib.error.HTTPError, what: str) -> Exception:
    if err.code in (401, 403):
        return AuthError(
            f"Tardis refused the API key ({err.code}) for {what}: set TARDIS_API_KEY "
            "(without a key only the first day of each month is served)"
        )
    detail = (err.msg or "").strip().splitlines()[0][:200] if err.msg else ""
    if err.code in (400, 404):  # retrying will not help: a wrong symbol, exchange or endpoint
        return UnknownSymbol(
            f"Tardis answered HTTP {err.code} for {what}: {detail} "
            "(check the pairs in config.yaml and tardis.endpoint)"
        )
    return ExtractError(f"Tardis answered HTTP {err.code} for {what}: {detail}")


async def _replay_into(
    book: MinuteBook, out: Extracted, tardis: Tardis, symbols: list[str], cache_dir: Path
) -> None:
    normalizer = make_normalizer(out.exchange, symbols)
    feed, disconnect, add = normalizer.feed, normalizer.disconnect, book.add
    messages = malformed = 0
    stream = tardis_dev.replay(
        out.exchange,
        out.start - WARMUP,
        out.end,
        [tardis_dev.Channel(REPLAY_CHANNEL[out.exchange], symbols)],
        api_key=tardis.api_key,
        cache_dir=str(cache_dir),
        endpoint=tardis.endpoint,
        timeout=tardis.timeout_seconds,
        decode_response=False,
        with_disconnects=True,
        auto_cleanup=True,
    )
    async for item in stream:
        if item is None:
            disconnect()
            continue
        messages += 1
        try:
            records = feed(item.local_timestamp, item.message)
        except MalformedLine:
            malformed += 1
            continue
        for record in records:
            add(record)
    out.messages, out.malformed = messages, malformed


def _read_dataset(path: Path, book: MinuteBook) -> int:
    """Feed one derivative_ticker CSV into the book; returns its row count."""
    n = 0
    ints = {2, 3, 4}
    with gzip.open(path, "rt", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or tuple(header) != DERIVATIVE_TICKER:
            raise ExtractError(f"{path.name}: unexpected CSV header {header!r}")
        for row in reader:
            record = tuple(
                cell if i < 2 else (None if cell == "" else int(cell) if i in ints else float(cell))
                for i, cell in enumerate(row)
            )
            book.add(record)
            n += 1
    return n


def _datasets_into(book: MinuteBook, out: Extracted, tardis: Tardis, symbols: list[str]) -> None:
    target = Path(tempfile.mkdtemp(prefix="arbdb-datasets-", dir=_ensure(tardis.download_dir)))
    try:
        tardis_dev.download_datasets(
            out.exchange,
            ["derivative_ticker"],
            symbols,
            from_date=out.start.strftime("%Y-%m-%d"),
            to_date=out.end.strftime("%Y-%m-%d"),
            api_key=tardis.api_key,
            download_dir=str(target),
            endpoint=tardis.datasets_endpoint,
            timeout=tardis.timeout_seconds,
        )
        for path in sorted(target.glob("*.csv.gz")):
            out.messages += _read_dataset(path, book)
    finally:
        shutil.rmtree(target, ignore_errors=True)


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


async def _with_deadline(coro, tardis: Tardis, what: str) -> None:
    try:
        await asyncio.wait_for(coro, timeout=tardis.day_timeout_seconds)
    except TimeoutError:
        raise ExtractError(
            f"Tardis did not deliver {what} within {tardis.day_timeout_seconds:g} s (retries included)"
        ) from None


def extract_range(
    tardis: Tardis, exchange: str, symbols: list[str], start: datetime, end: datetime, source: str = "replay"
) -> Extracted:
    """Minute rows of `symbols` on `exchange` for [start, end) from the replay API or CSV datasets.

    Raises `AuthError` (bad key), `ExtractError` (HTTP failures after the client's retries, time-out)
    naming the exchange and range, or `DataNotPublished` when Tardis returned nothing at all.
    """
    out = Extracted(exchange, start, end, source)
    book = MinuteBook(start, end)
    what = out.label()
    try:
        if source == "datasets":
            _datasets_into(book, out, tardis, symbols)
        else:
            # A private slice cache per call: the client's auto-cleanup removes whole days of its cache,
            # which must not hit another worker's warm-up slices of the same day.
            cache_dir = Path(tempfile.mkdtemp(prefix=f"{out.exchange}-", dir=_ensure(tardis.cache_dir)))
            try:
                coro = _replay_into(book, out, tardis, symbols, cache_dir)
                asyncio.run(_with_deadline(coro, tardis, what))
            finally:
                shutil.rmtree(cache_dir, ignore_errors=True)
    except urllib.error.HTTPError as err:
        raise _http_error(err, what) from None
    except (OSError, ValueError, aiohttp.ClientError) as err:
        raise ExtractError(f"Tardis download failed for {what}: {err}") from None
    if out.messages == 0:
        raise DataNotPublished(f"Tardis returned no data for {what}; retried on the next run")
    if out.malformed:
        log.warning("%s: skipped %d malformed lines of %d", what, out.malformed, out.messages)
    return book.fill(out)
