"""Backtest figures: one year x 4 pairs of stored windows and settlements -> backtests, scorecard,
and a streamed export's peak memory.

Setup (not timed): 8-hourly windows per pair (random net carry and sides, about one in ten
flagged with a `rules` verdict), settlements of leg a every 8 h and leg b every hour (Hyperliquid's
interval: 8,760 a year), and marks. Leg a of the first pair has every minute of the year (525,600
rows, what `export` streams); the other legs have a mark at the last minute of every hour (what a
backtest reads: the last mark before each entry and exit). Then timed: `run_backtest` + `save` for
every pair, a rerun (an upsert, nothing changes), the scorecard of every verdict, and
`export --table tickers --format parquet` of the year with its peak traced memory (tracemalloc).

    python -m bench.backtest_bench
"""

from __future__ import annotations

import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from bench.windows_bench import bench_settings
from pipelines.backtest.engine import pair_costs, run_backtest, save
from pipelines.backtest.rules import Rules
from pipelines.core.timeutil import series_to_iso
from pipelines.research.export import export
from pipelines.research.scorecard import scorecard
from pipelines.store import open_db, row_counts, transaction
from pipelines.store.db import insert_rows

WINDOW_COLUMNS = (
    *("pair", "window_start", "window_end", "a_exchange", "a_symbol", "b_exchange", "b_symbol"),
    *("net_carry_apr", "short_side", "long_side", "flagged", "complete"),
)
VERDICT_COLUMNS = (
    *("pair", "window_end", "prompt_version", "risk", "action", "confidence", "model"),
    *("feature_hash", "created_at"),
)

START = datetime(2024, 1, 1, tzinfo=UTC)
RULES = Rules(entry_net=0.1, entry_flag=True, exit_net=0.0, exit_sign=True, max_hold_hours=24 * 14)


def _iso(start, periods: int, freq: str) -> list[str]:
    return series_to_iso(pd.Series(pd.date_range(start, periods=periods, freq=freq))).tolist()


def _windows(db, pair, ends: list[str], rng) -> None:
    net = rng.normal(0.05, 0.2, len(ends))
    short = rng.choice(["a", "b"], len(ends), p=[0.6, 0.4])
    flagged = rng.random(len(ends)) < 0.1
    (a_ex, a_sym, _), (b_ex, b_sym, _) = pair.legs
    insert_rows(
        db,
        "windows",
        WINDOW_COLUMNS,
        [
            (pair.name, e, e, a_ex, a_sym, b_ex, b_sym, n, s, "b" if s == "a" else "a", int(f), 1)
            for e, n, s, f in zip(ends, net, short, flagged, strict=True)
        ],
    )
    insert_rows(
        db,
        "verdicts",
        VERDICT_COLUMNS,
        [
            (
                pair.name,
                e,
                "v1",
                "LOW",
                rng.choice(["HOLD", "WATCH", "OPEN_ARB"]),
                rng.random(),
                "rules",
                "h",
                e,
            )
            for e, f in zip(ends, flagged, strict=True)
            if f
        ],
    )


def _leg(db, exchange: str, symbol: str, hours: int, marks: list[str], days: int, rng) -> None:
    settle = _iso(START + timedelta(hours=hours), days * 24 // hours, f"{hours}h")
    rates = rng.normal(1e-4 * hours / 8, 1e-4, len(settle))
    insert_rows(
        db,
        "funding",
        ("exchange", "symbol", "funding_time", "rate", "interval_hours", "apr"),
        [(exchange, symbol, t, r, hours, r * 8760 / hours) for t, r in zip(settle, rates, strict=True)],
    )
    mark = 100 * np.exp(np.cumsum(rng.normal(0, 3e-4, len(marks))))
    insert_rows(
        db,
        "tickers",
        ("exchange", "symbol", "ts", "mark_price", "index_price"),
        [(exchange, symbol, t, m, m) for t, m in zip(marks, mark, strict=True)],
    )


def write_inputs(db, settings, days: int, seed: int = 3) -> dict:
    """The stored inputs of `days` days for every pair; returns row counts."""
    rng = np.random.default_rng(seed)
    ends = _iso(START + timedelta(hours=8), days * 3, "8h")
    minutes = _iso(START, days * 1440, "min")
    hourly = _iso(START + timedelta(minutes=59), days * 24, "h")
    with transaction(db):
        for i, pair in enumerate(settings.pairs):
            _windows(db, pair, ends, rng)
            (a_ex, a_sym, _), (b_ex, b_sym, _) = pair.legs
            _leg(db, a_ex, a_sym, 8, minutes if i == 0 else hourly, days, rng)
            _leg(db, b_ex, b_sym, 1, hourly, days, rng)
    counts = row_counts(db)
    return {table: counts[table] for table in ("windows", "funding", "tickers", "verdicts")}


def _timed(call):
    began = time.perf_counter()
    out = call()
    return time.perf_counter() - began, out


def _backtest_all(db, settings, end) -> list:
    runs = []
    for pair in settings.pairs:
        result = run_backtest(db, pair, START, end, RULES, pair_costs(pair, settings.fees, 10_000, 2))
        save(db, result)
        runs.append(result.run)
    return runs


def bench_backtest(days: int = 365, pairs: int = 4) -> dict:
    """Seconds for a year x 4 pairs backtest (and rerun), the scorecard, and the export's peak memory."""
    with tempfile.TemporaryDirectory(prefix="arbdb-backtest-bench-") as tmp:
        settings = bench_settings(Path(tmp) / "bench.db", pairs)
        db = open_db(settings.database)
        setup, rows = _timed(lambda: write_inputs(db, settings, days))
        end = START + timedelta(days=days)
        seconds, runs = _timed(lambda: _backtest_all(db, settings, end))
        rerun, _ = _timed(lambda: _backtest_all(db, settings, end))
        score, (verdicts, _, _) = _timed(lambda: scorecard(db, settings, START, end))
        tracemalloc.start()
        export_s, exported = _timed(
            lambda: export(db, "tickers", START, end, "parquet", Path(tmp) / "t.parquet")
        )
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        db.close()
    return {
        "days x pairs": f"{days} x {pairs}",
        "setup_s (not timed)": setup,
        "windows": rows["windows"],
        "settlements": rows["funding"],
        "trades": sum(r["trades"] for r in runs),
        "backtest_s (all pairs, stored)": seconds,
        "backtest_rerun_s": rerun,
        "scorecard_verdicts": len(verdicts),
        "scorecard_s": score,
        "export_tickers_rows": exported,
        "export_parquet_s": export_s,
        "export_peak_traced_mb": peak / 1e6,
    }


if __name__ == "__main__":
    for key, value in bench_backtest().items():
        print(f"{key:32} {value:,.3f}" if isinstance(value, float) else f"{key:32} {value}")
