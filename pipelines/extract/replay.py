"""Extract: Tardis history for one exchange and time range, reduced to minute rows.

Only Tardis I/O and the streaming reduction live here. The replay is streamed message by message
through the normalizer into a `MinuteBook` that keeps only the last record per symbol and minute, so
memory is bounded by minutes, never by messages. One call covers one exchange and one range (a day
for backfills, a window for the scheduler) and is a plain function of picklable arguments so
backfills can run exchanges in worker processes.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import shutil
import tempfile
import time
import urllib.error
import zlib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import aiohttp
import tardis_dev

from pipelines.config.settings import Tardis
from pipelines.core.errors import ArbdbError, AuthError, DataNotPublished, ExtractError, UnknownSymbol
from pipelines.extract.datasets import CorruptDownload, RowChecker, read_dataset
from pipelines.extract.probe import DeadlinePassed, guarded
from pipelines.venues.normalize import MalformedLine, make_normalizer
from pipelines.venues.registry import venue

log = logging.getLogger(__name__)

# Replays start this long before the range so every field of the normalizer's state is known by the
# range's first minute; the warm-up minutes themselves are dropped.
WARMUP = timedelta(minutes=15)
US_PER_MINUTE = 60_000_000
# A body cut short (the download "succeeded", decompressing fails) is fetched again this often in all.
DOWNLOAD_ATTEMPTS = 3


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
        """`exchange YYYY-MM-DD` for one whole UTC day, else the exchange and the range."""
        if self.end - self.start == timedelta(days=1) and self.start.time() == datetime.min.time():
            return f"{self.exchange} {self.start:%Y-%m-%d}"
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
        [tardis_dev.Channel(channel, names) for channel, names in venue(out.exchange).filters(symbols)],
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


def _dataset_name(exchange: str, data_type: str, day: datetime, symbol: str, fmt: str) -> str:
    return f"{day:%Y-%m-%d}_{symbol}.{fmt}.gz"  # the day first: `_read_datasets` reads it back


async def _download_datasets(out: Extracted, tardis: Tardis, symbols: list[str], target: Path) -> None:
    await tardis_dev.download_datasets_async(
        out.exchange,
        ["derivative_ticker"],
        symbols,
        from_date=out.start.strftime("%Y-%m-%d"),
        to_date=out.end.strftime("%Y-%m-%d"),
        api_key=tardis.api_key,
        download_dir=str(target),
        endpoint=tardis.datasets_endpoint,
        timeout=tardis.timeout_seconds,
        get_filename=_dataset_name,
    )


def _read_datasets(book: MinuteBook, out: Extracted, symbols: list[str], target: Path) -> None:
    for path in sorted(target.glob("*.csv.gz")):
        checker = RowChecker(out.exchange, set(symbols), date.fromisoformat(path.name[:10]))
        rows, bad = read_dataset(path, checker, book.add)
        out.messages += rows
        out.malformed += bad


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _fetch(book: MinuteBook, out: Extracted, tardis: Tardis, symbols: list[str], deadline: float) -> None:
    """One attempt: download and reduce into `book`, all inside the deadline and reachability guard."""
    datasets = out.source == "datasets"
    if datasets:
        root, url, key = tardis.download_dir, tardis.datasets_endpoint, "datasets_endpoint"
    else:
        root, url, key = tardis.cache_dir, tardis.endpoint, "endpoint"
    # A private directory per call: the replay client's auto-cleanup removes whole days of its cache,
    # which must not hit another worker's warm-up slices of the same day.
    scratch = Path(tempfile.mkdtemp(prefix=f"{out.exchange}-", dir=_ensure(root)))
    try:
        if datasets:
            work = _download_datasets(out, tardis, symbols, scratch)
        else:
            work = _replay_into(book, out, tardis, symbols, scratch)
        asyncio.run(guarded(work, url, key, out.label(), tardis.timeout_seconds, deadline))
        if datasets:
            _read_datasets(book, out, symbols, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _attempt(tardis: Tardis, symbols: list[str], out: Extracted, deadline: float) -> Extracted:
    book = MinuteBook(out.start, out.end)
    what = out.label()
    try:
        _fetch(book, out, tardis, symbols, deadline)
    except ArbdbError:
        raise
    except urllib.error.HTTPError as err:
        raise _http_error(err, what) from None
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:
        raise CorruptDownload(f"a gzip body cut short or damaged ({err})") from None
    except (OSError, ValueError, aiohttp.ClientError) as err:
        raise ExtractError(f"Tardis download failed for {what}: {err}") from None
    return book.fill(out)


def extract_range(
    tardis: Tardis, exchange: str, symbols: list[str], start: datetime, end: datetime, source: str = "replay"
) -> Extracted:
    """Minute rows of `symbols` on `exchange` for [start, end) from the replay API or CSV datasets.

    A body that arrives cut short is downloaded again (`DOWNLOAD_ATTEMPTS` in all), everything
    inside `tardis.day_timeout_seconds`. Raises `TardisUnreachable` (no connection at all, within
    seconds), `AuthError` (bad key), `UnknownSymbol` (404), `ExtractError` (HTTP failures after the
    client's retries, bodies cut short every time, time-out) naming the exchange and range, or
    `DataNotPublished` when Tardis returned nothing at all.
    """
    deadline = time.monotonic() + tardis.day_timeout_seconds
    what = Extracted(exchange, start, end, source).label()
    for attempt in range(1, DOWNLOAD_ATTEMPTS + 1):
        try:
            out = _attempt(tardis, symbols, Extracted(exchange, start, end, source), deadline)
            break
        except CorruptDownload as err:
            if attempt == DOWNLOAD_ATTEMPTS or time.monotonic() >= deadline:
                raise ExtractError(
                    f"Tardis sent {what} cut short {attempt} times ({err}); rerun later"
                ) from None
            log.warning("%s: %s; downloading it again (attempt %d)", what, err, attempt + 1)
        except DeadlinePassed:
            raise ExtractError(
                f"Tardis did not deliver {what} within {tardis.day_timeout_seconds:g} s (retries included)"
            ) from None
    if out.messages == 0:
        raise DataNotPublished(f"Tardis returned no data for {what}; retried on the next run")
    if out.malformed:
        log.warning("%s: skipped %d malformed lines/rows of %d", what, out.malformed, out.messages)
    return out
