"""Windows figures: one year x 4 pairs of stored minute history -> windows, z-scores, flags.

Synthetic minute history (a random-walk mark and index per side, every minute) and settlements every
8 hours are written into a fresh SQLite file through `pipelines.store` (schema from `open_db`; rows
with plain INSERTs so setup stays short; not timed). Then `update_windows` runs over the full range
for every pair (timed: SQL reads, features, z-scores, flags, hashes, upsert), once more (an
idempotent rerun), and for one window at the end of the range (what a scheduled run does). Reading
the minute rows alone is timed too: row-by-row fetching through the sqlite3 module is the floor.

    python -m bench.windows_bench [--days 365] [--pairs 4]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines.config.settings import Settings, settings_from_mapping
from pipelines.core.timeutil import series_to_iso
from pipelines.store import open_db, transaction
from pipelines.transform.windows_stage import read_pair_marks, update_pairs

START = datetime(2024, 1, 1, tzinfo=UTC)
NAMES = ("BTC", "ETH", "SOL", "DOGE", "XRP", "ADA", "LINK", "AVAX")


def bench_settings(database: Path, pairs: int) -> Settings:
    names = NAMES[:pairs]
    config = {
        "database": str(database),
        "pairs": [{"name": n, "gate_symbol": f"{n}_USDT", "bitfinex_symbol": f"{n}F0:USTF0"} for n in names],
    }
    return settings_from_mapping(config, env={}, source="bench")


def write_history(db, settings: Settings, days: int, seed: int = 7) -> int:
    """Every minute of `days` days on both sides of every pair, and 8-hourly settlements from 3 days
    before; returns the minute rows written."""
    rng = np.random.default_rng(seed)
    minutes = series_to_iso(pd.Series(pd.date_range(START, periods=days * 1440, freq="min"))).tolist()
    times = pd.Series(
        pd.date_range(START - timedelta(days=3) + timedelta(hours=8), periods=(days + 3) * 3, freq="8h")
    )
    settle = series_to_iso(times).tolist()
    written = 0
    with transaction(db):
        for pair in settings.pairs:
            for exchange, symbol, _ in pair.legs:
                mark = 100 * np.exp(np.cumsum(rng.normal(0, 3e-4, len(minutes))))
                index = mark * (1 - rng.normal(2e-4, 2e-4, len(minutes)))
                db.conn.executemany(
                    "INSERT INTO tickers (exchange, symbol, ts, mark_price, index_price)"
                    " VALUES (?, ?, ?, ?, ?)",
                    zip(
                        [exchange] * len(minutes), [symbol] * len(minutes), minutes, mark, index, strict=True
                    ),
                )
                rates = rng.normal(1e-4, 1e-4, len(settle))
                db.conn.executemany(
                    "INSERT INTO funding"
                    " (exchange, symbol, funding_time, rate, predicted_rate, interval_hours, apr)"
                    " VALUES (?, ?, ?, ?, ?, 8, ?)",
                    zip(
                        [exchange] * len(settle),
                        [symbol] * len(settle),
                        settle,
                        rates,
                        rates,
                        rates * 1095,
                        strict=True,
                    ),
                )
                written += len(minutes)
    return written


def _update_all(db, settings: Settings, start: datetime, end: datetime) -> tuple[float, int]:
    began = time.perf_counter()
    count = update_pairs(
        db,
        settings.window_config(),
        settings.pairs,
        start,
        end,
        workers=settings.tardis.workers,
        database=settings.database,
    )
    return time.perf_counter() - began, count


def bench_windows(days: int = 365, pairs: int = 4) -> dict:
    """Seconds and windows/s to compute `days` of windows for `pairs` pairs from stored minutes."""
    with tempfile.TemporaryDirectory(prefix="arbdb-windows-bench-") as tmp:
        settings = bench_settings(Path(tmp) / "bench.db", pairs)
        db = open_db(settings.database)
        began = time.perf_counter()
        rows = write_history(db, settings, days)
        setup = time.perf_counter() - began
        end = START + timedelta(days=days)
        seconds, windows = _update_all(db, settings, START, end)
        rerun, _ = _update_all(db, settings, START, end)
        one, _ = _update_all(db, settings, end - timedelta(hours=8), end)
        began = time.perf_counter()
        for pair in settings.pairs:  # the floor: fetching the minute rows from SQLite
            read_pair_marks(db, pair, START, end)
        read = time.perf_counter() - began
        flagged = db.execute("SELECT count(*) FROM windows WHERE flagged = 1").fetchone()[0]
        db.close()
    return {
        "days": days,
        "pairs": pairs,
        "minute_rows": rows,
        "windows": windows,
        "flagged_windows": flagged,
        "setup_seconds": round(setup, 2),
        "seconds": round(seconds, 3),
        "windows_per_second": round(windows / seconds, 1),
        "minute_rows_per_second": round(rows / seconds),
        "read_minutes_seconds": round(read, 3),
        "rerun_seconds": round(rerun, 3),
        "one_window_all_pairs_seconds": round(one, 3),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.windows_bench", description=__doc__)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--pairs", type=int, default=4, choices=range(1, len(NAMES) + 1))
    args = parser.parse_args(argv)
    for key, value in bench_windows(args.days, args.pairs).items():
        print(f"{key:32} {value:,}" if not isinstance(value, str) else f"{key:32} {value}")


if __name__ == "__main__":
    main()
