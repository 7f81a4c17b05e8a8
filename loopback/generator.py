"""A deterministic, realistic sample of Tardis history for Gate.io and Bitfinex perpetuals.

`SampleFeed(seed, interval_seconds, symbols)` describes the feed; everything about one
(exchange, symbol, day) is a pure function of those and the day (see loopback/paths.py), so a day
generated alone equals the same day generated inside a range. It renders:

* raw replay lines, as Tardis serves them (`prepare` writes an exchange-day to disk once, keyed by
  seed, interval and symbols; the server slices the stored file);
* ground truth from the same underlying state: `dataset_csv` (Tardis' derivative_ticker CSV) and
  `settlements` (the funding rate settled at each funding time).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable
from datetime import date
from functools import lru_cache
from pathlib import Path

import numpy as np

from loopback import daystore, groundtruth, paths, render, simulate
from loopback.sims import Settled, served, sim
from pipelines.core.columns import BITFINEX
from pipelines.venues import samplekit
from pipelines.venues.registry import venue
from pipelines.venues.samplekit import TICKS_PER_MS, SymbolDay

log = logging.getLogger(__name__)

# Bump when generated data changes, so stale caches on disk are not served.
GENERATOR_VERSION = 2
MIN_INTERVAL = 0.05  # below this, receive latency could reorder one symbol's updates

Progress = Callable[[str, date, float], None]


def default_symbols() -> dict[str, list[str]]:
    """Exchange -> the symbols served when none are chosen: every served venue's defaults."""
    return {exchange: list(sim(exchange).symbols) for exchange in served()}


def dataset_symbol(symbol: str) -> str:
    """The symbol as it appears in a dataset file name (`BTCF0:USTF0` -> `BTCF0-USTF0`)."""
    return symbol.replace(":", "-").replace("/", "-").upper()


class SampleFeed:
    """The sample feed's parameters and everything rendered from them."""

    def __init__(
        self, seed: int = 7, interval_seconds: float = 1.0, symbols: dict[str, list[str]] | None = None
    ) -> None:
        if interval_seconds < MIN_INTERVAL or interval_seconds > 3600:
            raise ValueError(
                f"interval_seconds must be within [{MIN_INTERVAL}, 3600], not {interval_seconds}"
            )
        self.seed = int(seed)
        self.interval_seconds = float(interval_seconds)
        chosen = default_symbols() if symbols is None else symbols
        self.symbols: dict[str, tuple[str, ...]] = {ex: tuple(chosen.get(ex, ())) for ex in served()}
        for exchange in set(chosen) - set(served()):
            raise ValueError(f"unknown exchange {exchange!r}; the sample feed has {', '.join(served())}")
        for exchange, names in self.symbols.items():
            bad = [s for s in names if not sim(exchange).matches(s)]
            if bad or len(set(names)) != len(names):
                raise ValueError(f"bad or repeated symbols for {exchange}: {bad or names}")

    def __repr__(self) -> str:
        return (
            f"SampleFeed(seed={self.seed}, interval_seconds={self.interval_seconds}, symbols={self.symbols})"
        )

    def __reduce__(self):
        return SampleFeed, (self.seed, self.interval_seconds, {k: list(v) for k, v in self.symbols.items()})

    def key(self, exchange: str) -> str:
        """Cache key of one exchange's data: generator version, seed, interval and symbols."""
        spec = [GENERATOR_VERSION, self.seed, self.interval_seconds, exchange, list(self.symbols[exchange])]
        return hashlib.sha1(json.dumps(spec).encode()).hexdigest()[:16]

    def has_day(self, exchange: str, day: date) -> bool:
        """Whether the exchange has history that day (Tardis' start, the generator's horizon)."""
        start = date.fromisoformat(venue(exchange).history_start)
        last = paths.EPOCH.toordinal() + paths.HORIZON_DAYS - 2
        return bool(self.symbols.get(exchange)) and start <= day and day.toordinal() < last

    def symbol_index(self, exchange: str, symbol: str) -> int:
        """Position of `symbol` in the exchange's symbol list; ValueError when not served."""
        try:
            return self.symbols[exchange].index(symbol)
        except (KeyError, ValueError):
            raise ValueError(f"{symbol} is not served for {exchange}") from None

    # -- the underlying state --------------------------------------------------------------------

    def symbol_day(self, exchange: str, symbol: str, day: date) -> SymbolDay:
        """The simulated updates of one (exchange, symbol, day)."""
        index = self.symbol_index(exchange, symbol)
        return _symbol_day(self.seed, self.interval_seconds, exchange, symbol, day, index)

    def settlements(self, exchange: str, symbol: str, day: date) -> Settled:
        """(funding time, settled rate, interval hours) for the funding times within `day`."""
        return sim(exchange).settled(self, symbol, day)

    def dataset_csv(self, exchange: str, symbol: str, day: date) -> bytes:
        """Tardis' derivative_ticker CSV for one symbol-day (uncompressed), rendered from the state."""
        return groundtruth.to_csv(groundtruth.normalized(self.symbol_day(exchange, symbol, day)))

    # -- raw replay lines ------------------------------------------------------------------------

    def day_lines(self, exchange: str, day: date) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """Every replay line of an exchange-day in local-time order: (local, symbol number, lines)."""
        parts = []
        for number, symbol in enumerate(self.symbols[exchange]):
            sd = self.symbol_day(exchange, symbol, day)
            local, lines = self._symbol_lines(sd)
            parts.append((local, np.full(len(local), number, dtype=np.int16), lines))
        connection_lines = sim(exchange).connection_lines
        if connection_lines is not None:
            local, lines = connection_lines(self, day)
            parts.append((local, np.full(len(local), -1, dtype=np.int16), lines))
        local = np.concatenate([p[0] for p in parts])
        symbol = np.concatenate([p[1] for p in parts])
        lines = [line for p in parts for line in p[2]]
        order = np.argsort(local, kind="stable")
        return local[order], symbol[order], [lines[i] for i in order.tolist()]

    def _symbol_lines(self, sd: SymbolDay) -> render.Lines:
        return sim(sd.exchange).lines(self, sd)

    def sessions(self, day: date) -> list[simulate.Connection]:
        """Bitfinex's websocket sessions of `day`."""
        return simulate.bitfinex_connections(self.seed, day)

    def server_id(self, day: date) -> str:
        """A stable per-day id, as a venue's info event carries."""
        return hashlib.md5(f"{self.seed}:{day}".encode()).hexdigest()

    def preamble(self, exchange: str, at: int, symbols: Iterable[int] | None = None) -> bytes:
        """Subscription lines valid at `at` (100 ns since 1970), stamped `at`, as a replay starts with.

        Only venues whose updates name a channel id need them (Bitfinex); empty otherwise.
        """
        preamble = sim(exchange).preamble
        return b"" if preamble is None else preamble(self, at, None if symbols is None else list(symbols))

    def bitfinex_preamble(self, at: int, symbols: list[int] | None) -> bytes:
        """Bitfinex's `subscribed` events of the session live at `at`; empty inside a disconnect gap."""
        exchange = BITFINEX
        day = date.fromordinal(samplekit.UNIX_EPOCH.toordinal() + at // (86_400_000 * TICKS_PER_MS))
        live = [s for s in self.sessions(day) if s.start <= at < s.end]
        if not live or not self.has_day(exchange, day):
            return b""
        head = render.prefixes(np.array([at]), day)[0]
        names = self.symbols[exchange]
        wanted = range(len(names)) if symbols is None else sorted(symbols)
        return "".join(
            f'{head}{{"event":"subscribed","channel":"status","chanId":{live[0].channel_base + i},'
            f'"key":"deriv:t{names[i]}"}}\n'
            for i in wanted
        ).encode()

    # -- on disk ---------------------------------------------------------------------------------

    def day_path(self, exchange: str, day: date, data_dir: Path | str) -> Path:
        """Directory of one stored exchange-day under `data_dir`."""
        return Path(data_dir) / self.key(exchange) / exchange / day.isoformat()

    def prepare(self, exchange: str, day: date, data_dir: Path | str) -> Path:
        """Generate and store an exchange-day's replay lines once; a rerun finds them. Returns the path."""
        path = self.day_path(exchange, day, data_dir)
        if daystore.is_written(path):
            return path
        started = time.perf_counter()
        local, symbol, lines = self.day_lines(exchange, day)
        daystore.write_day(path, local, symbol, lines)
        log.info(
            "generated %s %s: %d lines in %.2fs", exchange, day, len(lines), time.perf_counter() - started
        )
        return path

    def prepare_range(
        self, days: Iterable[date], data_dir: Path | str, progress: Progress | None = None
    ) -> None:
        """`prepare` every exchange-day of `days`; `progress(exchange, day, seconds)` after each."""
        for day in days:
            for exchange in served():
                if not self.has_day(exchange, day):
                    continue
                started = time.perf_counter()
                self.prepare(exchange, day, data_dir)
                if progress:
                    progress(exchange, day, time.perf_counter() - started)

    def dataset_file(self, exchange: str, symbol: str, day: date, data_dir: Path | str) -> Path:
        """The gzipped dataset CSV of a symbol-day, written under `data_dir` on first use."""
        path = self.day_path(exchange, day, data_dir) / f"derivative_ticker_{dataset_symbol(symbol)}.csv.gz"
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{time.monotonic_ns()}.tmp")
            tmp.write_bytes(gzip.compress(self.dataset_csv(exchange, symbol, day), compresslevel=6, mtime=0))
            tmp.replace(path)
        return path


@lru_cache(maxsize=16)
def _symbol_day(seed: int, interval: float, exchange: str, symbol: str, day: date, index: int) -> SymbolDay:
    # Cached because settlements, CSV and lines of a day all start from the same state.
    return sim(exchange).day(seed, interval, symbol, day, index)
