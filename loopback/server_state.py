"""What the loopback Tardis server knows: the feed, stored days, the API key, faults, the request log.

Replay and dataset bodies are built here, synchronously (the app runs them in a worker thread so
the event loop keeps serving); stored days are opened once and kept memory-mapped.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np

from loopback.daystore import PreparedDay
from loopback.faults import FAULT_KINDS, Fault, RequestRecord
from loopback.generator import SampleFeed
from pipelines.venues.samplekit import TICKS_PER_MS, UNIX_EPOCH, day_ms

TICKS_PER_DAY = 86_400_000 * TICKS_PER_MS
OPEN_DAYS = 32  # memory-mapped days kept open


class ServerState:
    """Shared by every request of one server; thread-safe where requests meet."""

    def __init__(
        self,
        feed: SampleFeed,
        data_dir: Path | str,
        api_key: str | None = None,
        available_until: datetime | None = None,
        suggested_slice_size: int = 360,
        retry_after: int = 1,
    ) -> None:
        self.feed = feed
        self.data_dir = Path(data_dir)
        self.api_key = api_key or None
        if available_until is not None and available_until.tzinfo is None:
            available_until = available_until.replace(tzinfo=UTC)
        self.available_until = available_until
        self.suggested_slice_size = suggested_slice_size
        self.retry_after = retry_after
        self.requests: list[RequestRecord] = []
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._days: OrderedDict[tuple[str, date], PreparedDay] = OrderedDict()
        self._day_locks: dict[tuple[str, date], threading.Lock] = {}
        # Concurrency, as Tardis' rate limits see it: requests, and replays (or dataset days).
        self.in_flight = 0
        self.max_in_flight = 0
        self._units: Counter[str] = Counter()
        self.max_units_in_flight = 0

    # -- concurrency -------------------------------------------------------------------------------

    def request_started(self, unit: str) -> None:
        """A request of `unit` began: one replay (path and `from`) or one dataset day."""
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self._units[unit] += 1
            self.max_units_in_flight = max(self.max_units_in_flight, len(self._units))

    def request_ended(self, unit: str) -> None:
        """The request of `unit` was answered (or failed)."""
        with self._lock:
            self.in_flight -= 1
            self._units[unit] -= 1
            if self._units[unit] <= 0:
                del self._units[unit]

    def reset_concurrency(self) -> None:
        """Start counting the maxima afresh (requests in flight keep being counted)."""
        with self._lock:
            self.max_in_flight = self.in_flight
            self.max_units_in_flight = len(self._units)

    # -- faults ------------------------------------------------------------------------------------

    def inject(
        self, kind: str, count: int = 1, exchange: str | None = None, retry_after: int | None = None
    ) -> None:
        """Answer the next `count` requests (-1 = all) for `exchange` (None = any) with fault `kind`."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; choose from {', '.join(FAULT_KINDS)}")
        if count == 0 or count < -1:
            raise ValueError("count must be positive, or -1 for every request")
        with self._lock:
            self._faults.append(Fault(kind, count, exchange, retry_after or self.retry_after))

    def clear_faults(self) -> None:
        """Drop every queued fault."""
        with self._lock:
            self._faults.clear()

    def take_fault(self, exchange: str) -> Fault | None:
        """The fault this request gets, if any (consumes one use of it)."""
        with self._lock:
            for fault in self._faults:
                if fault.exchange in (None, exchange):
                    if fault.remaining > 0:
                        fault.remaining -= 1
                        if fault.remaining == 0:
                            self._faults.remove(fault)
                    return fault
        return None

    # -- data --------------------------------------------------------------------------------------

    def _until_ticks(self) -> int | None:
        if self.available_until is None:
            return None
        return (self.available_until - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) * 10

    def day_published(self, exchange: str, day: date) -> bool:
        """Whether the whole day exists and is not after `available_until`."""
        until = self._until_ticks()
        end = (day_ms(day) + 86_400_000) * TICKS_PER_MS
        return self.feed.has_day(exchange, day) and (until is None or end <= until)

    def prepared(self, exchange: str, day: date) -> PreparedDay:
        """The stored day, generated on first use (once, even under concurrent requests)."""
        key = (exchange, day)
        with self._lock:
            if key in self._days:
                self._days.move_to_end(key)
                return self._days[key]
            day_lock = self._day_locks.setdefault(key, threading.Lock())
        with day_lock:
            with self._lock:
                if key in self._days:
                    return self._days[key]
            opened = PreparedDay(self.feed.prepare(exchange, day, self.data_dir))
            with self._lock:
                self._days[key] = opened
                while len(self._days) > OPEN_DAYS:
                    # Not closed here: a request may still be reading it; the mapping goes with it.
                    self._days.popitem(last=False)
        return opened

    def replay_body(
        self, exchange: str, begin: int, end: int, symbols: np.ndarray | None, first: bool
    ) -> bytes:
        """Replay lines with local time in [begin, end) (100 ns ticks), uncompressed."""
        until = self._until_ticks()
        if until is not None:
            end = min(end, until)
        if begin >= end:
            return b""
        parts = []
        if first and self.feed.has_day(exchange, _day_of(begin)):
            parts.append(self.feed.preamble(exchange, begin, None if symbols is None else symbols.tolist()))
        for day_start in range(begin - begin % TICKS_PER_DAY, end, TICKS_PER_DAY):
            day = _day_of(day_start)
            if self.feed.has_day(exchange, day):
                part = self.prepared(exchange, day).select(
                    max(begin, day_start), min(end, day_start + TICKS_PER_DAY), symbols
                )
                parts.append(part)
        return b"".join(parts)

    def dataset_bytes(self, exchange: str, symbol: str, day: date) -> bytes:
        """The gzip dataset file of a symbol-day (generated on first use)."""
        return self.feed.dataset_file(exchange, symbol, day, self.data_dir).read_bytes()

    def close(self) -> None:
        """Release every memory-mapped day."""
        with self._lock:
            for opened in self._days.values():
                opened.close()
            self._days.clear()


def _day_of(ticks: int) -> date:
    return date.fromordinal(UNIX_EPOCH.toordinal() + ticks // TICKS_PER_DAY)


def as_utc(value: datetime | date | None) -> datetime | None:
    """An aware UTC datetime (naive = UTC, a date = its midnight), or None."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
