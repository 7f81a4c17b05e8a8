"""`make bench` (python -m bench.run): figures and ratios, never pass/fail.

1. Extract throughput: N days x C coins x every venue of sample data (one message per second per
   symbol and channel) served by the loopback Tardis server in its own process, pre-generated before
   timing. Per venue, arbdb's extract (`extract_range`: replay, normalize, minute book; in-process,
   empty cache) is timed against a bare `tardis_dev.replay(...)` loop (decode_response=True,
   iteration only) over the same range and server, also from an empty cache. Then the real
   pipeline (`arbdb backfill` of every venue, a subprocess, empty cache and database, the default
   pairs' windows) against the bare loop over all venues. Reports messages/s, peak RSS, the ratios.
2. Windows: one year x 4 pairs of stored minute history -> windows, z-scores, flags.
3. LLM batching: batched prompts vs one call per window against the loopback gateway.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import tardis_dev
import yaml

from bench.common import BENCH_FROM, COINS, OUT, ROOT, symbols_of
from pipelines.core.columns import BITFINEX, GATE
from pipelines.venues.registry import VENUES, venue


async def _bare_replay(
    endpoint: str, exchange: str, symbols: list[str], start: date, end: date, cache: Path
) -> int:
    n = 0
    async for _ in tardis_dev.replay(
        exchange,
        start.isoformat(),
        end.isoformat(),
        [tardis_dev.Channel(channel, names) for channel, names in venue(exchange).filters(symbols)],
        endpoint=endpoint,
        cache_dir=str(cache),
        decode_response=True,
    ):
        n += 1
    return n


def bare_loop(endpoint: str, exchange: str, symbols: list[str], start: date, end: date) -> dict:
    """tardis-dev's own decoded iteration over one venue, from an empty cache."""
    cache = Path(tempfile.mkdtemp(prefix="arbdb-bench-bare-"))
    try:
        t0 = time.perf_counter()
        messages = asyncio.run(_bare_replay(endpoint, exchange, symbols, start, end, cache))
        return {"seconds": time.perf_counter() - t0, "messages": messages}
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def arbdb_extract(endpoint: str, exchange: str, symbols: list[str], start: date, end: date) -> dict:
    """arbdb's extract of one venue (replay, normalize, minute book), in-process, empty cache."""
    from datetime import UTC, datetime

    from pipelines.config.settings import Tardis
    from pipelines.extract.replay import extract_range

    cache = Path(tempfile.mkdtemp(prefix="arbdb-bench-extract-"))
    tardis = Tardis(endpoint=endpoint, cache_dir=cache / "replay", download_dir=cache / "dl")
    try:
        t0 = time.perf_counter()
        got = extract_range(
            tardis,
            exchange,
            symbols,
            datetime.combine(start, datetime.min.time(), tzinfo=UTC),
            datetime.combine(end, datetime.min.time(), tzinfo=UTC),
        )
        return {"seconds": time.perf_counter() - t0, "messages": got.messages, "minutes": len(got.rows)}
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def pipeline(server, coins: tuple[str, ...], start: date, end: date, workers: int) -> dict:
    """`arbdb backfill` of every venue's perpetuals of `coins` (markets) and the default pairs'
    windows, in a subprocess on an empty database and cache; wall time and peak RSS."""
    work = Path(tempfile.mkdtemp(prefix="arbdb-bench-pipe-"))
    config = {
        "database": str(work / "bench.db"),
        "tardis": {
            "endpoint": server.url,
            "datasets_endpoint": server.datasets_url,
            "workers": workers,
            "cache_dir": str(work / "cache"),
            "download_dir": str(work / "dl"),
        },
        "pairs": [{"name": c, "coin": c, "venues": [GATE, BITFINEX]} for c in coins],
        "markets": [{"coin": c, "venues": list(VENUES)} for c in coins],
        "mail": {"outbox_dir": str(work / "outbox")},
    }
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    env = {k: v for k, v in os.environ.items() if k not in ("HOLYSHEEP_API_KEY", "TARDIS_API_KEY")}
    cmd = [
        sys.executable,
        "-m",
        "jobs.cli",
        "--config",
        str(work / "config.yaml"),
        "backfill",
        "--from",
        start.isoformat(),
        "--to",
        end.isoformat(),
    ]
    try:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        stderr = proc.stderr.read()
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"bench: backfill failed:\n{stderr}")
        rows = _counts(work / "bench.db")
        return {
            "seconds": seconds,
            "peak_rss_mb": usage.ru_maxrss / 1024,
            "summary": stderr.strip().splitlines()[-1],
            **rows,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _counts(db_path: Path) -> dict:
    import sqlite3

    with sqlite3.connect(db_path) as conn:
        return {
            f"{t}_rows": conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
            for t in ("tickers", "funding", "windows", "verdicts")
        }


def extract_bench(days: int, n_coins: int, interval: float, workers: int) -> dict:
    from loopback.tardis_server import start_in_process

    coins = COINS[:n_coins]
    start, end = BENCH_FROM, BENCH_FROM + timedelta(days=days)
    data_dir = ROOT / ".cache" / "bench" / "sample-data"
    t0 = time.perf_counter()
    with start_in_process(
        from_day=start, to_day=end, interval_seconds=interval, data_dir=data_dir, symbols=symbols_of(coins)
    ) as server:
        print(f"  sample data ready in {time.perf_counter() - t0:.1f} s (cached in {data_dir})", flush=True)
        out: dict = {"days": days, "coins": n_coins, "venues": len(VENUES), "interval_seconds": interval}
        bare_total = messages = 0.0
        for exchange, symbols in symbols_of(coins).items():
            bare = bare_loop(server.url, exchange, symbols, start, end)
            ours = arbdb_extract(server.url, exchange, symbols, start, end)
            bare_total += bare["seconds"]
            messages += bare["messages"]
            print(
                f"  {exchange:22} {bare['messages']:>11,} msgs"
                f"  bare {bare['messages'] / bare['seconds']:>9,.0f} msg/s"
                f"  arbdb extract {ours['messages'] / ours['seconds']:>9,.0f} msg/s"
                f"  ratio {ours['seconds'] / bare['seconds']:.2f}",
                flush=True,
            )
            out[f"{exchange}_messages"] = bare["messages"]
            out[f"{exchange}_bare_msgs_per_s"] = bare["messages"] / bare["seconds"]
            out[f"{exchange}_extract_msgs_per_s"] = ours["messages"] / ours["seconds"]
            out[f"{exchange}_ratio_extract_to_bare"] = ours["seconds"] / bare["seconds"]
        pipe = pipeline(server, coins, start, end, workers)
        print(
            f"  arbdb backfill, all venues: {pipe['seconds']:.1f} s, peak RSS {pipe['peak_rss_mb']:.0f} MB",
            flush=True,
        )
    return {
        **out,
        "workers": workers,
        "messages": int(messages),
        "bare_seconds": bare_total,
        "pipeline_seconds": pipe["seconds"],
        "bare_msgs_per_s": messages / bare_total,
        "pipeline_msgs_per_s": messages / pipe["seconds"],
        "ratio_pipeline_to_bare": pipe["seconds"] / bare_total,
        "peak_rss_mb": pipe["peak_rss_mb"],
        **{k: v for k, v in pipe.items() if k.endswith("_rows")},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="make bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--coins", type=int, default=4, choices=range(1, 5), help="BTC, ETH, SOL, DOGE")
    parser.add_argument("--interval-seconds", type=float, default=1.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--only", choices=["extract", "windows", "llm", "backtest", "dask"], action="append")
    args = parser.parse_args(argv)
    parts = args.only or ["extract", "windows", "llm", "backtest"]
    results: dict = {}
    if "extract" in parts:
        print(
            f"extract: {args.days} days x {args.coins} coins x {len(VENUES)} venues from {BENCH_FROM},"
            f" one message per {args.interval_seconds:g} s per symbol and channel"
        )
        results["extract"] = extract_bench(args.days, args.coins, args.interval_seconds, args.workers)
    if "windows" in parts:
        from bench.windows_bench import bench_windows

        print("windows: one year x 4 pairs of stored minute history")
        results["windows"] = bench_windows(days=365, pairs=4)
    if "llm" in parts:
        from bench.llm_bench import bench_llm

        print("llm: batched vs one call per flagged window (loopback gateway)")
        results["llm"] = bench_llm()
    if "backtest" in parts:
        results["backtest"] = _backtest_part()
    if "dask" in parts:  # 1 vs 2 local Dask workers (bench/dask_bench.py)
        from bench.dask_bench import bench_dask

        results["dask"] = bench_dask(min(args.days, 3))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "results.json").write_text(json.dumps(results, indent=2, default=str))
    print_results(results)


def _backtest_part() -> dict:
    from bench.backtest_bench import bench_backtest

    print("backtest: one year x 4 pairs of windows and settlements (leg b hourly), scorecard, export")
    return bench_backtest(days=365, pairs=4)


def print_results(results: dict) -> None:
    print("\n== arbdb bench ==")
    for section, figures in results.items():
        print(f"[{section}]")
        for key, value in figures.items():
            text = (
                f"{value:,.3f}"
                if isinstance(value, float)
                else f"{value:,}"
                if isinstance(value, int)
                else value
            )
            print(f"  {key:32} {text}")
    print(f"(written to {OUT / 'results.json'})")


if __name__ == "__main__":
    main()
