"""`make bench` (python -m bench.run): figures and ratios, never pass/fail.

1. Extract throughput: N days x P pairs of sample data (one message per second per symbol) served by
   the loopback Tardis server in its own process, pre-generated before timing. The real pipeline
   (`arbdb backfill`, a subprocess, empty cache and database) is timed against a bare
   `tardis_dev.replay(...)` loop (decode_response=True, iteration only) over the same range and
   server, also from an empty cache. Reports messages/s, peak RSS and the wall-time ratio.
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

from pipelines.columns import EXCHANGES
from pipelines.venues.registry import venue

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
PAIRS = [
    {"name": n, "gate_symbol": f"{n}_USDT", "bitfinex_symbol": f"{n}F0:USTF0"}
    for n in ("BTC", "ETH", "SOL", "DOGE")
]


def symbols_of(pairs: list[dict]) -> dict[str, list[str]]:
    return {
        EXCHANGES[0]: [p["gate_symbol"] for p in pairs],
        EXCHANGES[1]: [p["bitfinex_symbol"] for p in pairs],
    }


async def _bare_replay(
    endpoint: str, exchange: str, symbols: list[str], start: date, end: date, cache: Path
) -> int:
    n = 0
    async for _ in tardis_dev.replay(
        exchange,
        start.isoformat(),
        end.isoformat(),
        [tardis_dev.Channel(channel, symbols) for channel in venue(exchange).channels],
        endpoint=endpoint,
        cache_dir=str(cache),
        decode_response=True,
    ):
        n += 1
    return n


def bare_loop(endpoint: str, pairs: list[dict], start: date, end: date) -> dict:
    """tardis-dev's own decoded iteration over both exchanges, from an empty cache."""
    cache = Path(tempfile.mkdtemp(prefix="arbdb-bench-bare-"))
    try:
        t0 = time.perf_counter()
        messages = sum(
            asyncio.run(_bare_replay(endpoint, ex, syms, start, end, cache))
            for ex, syms in symbols_of(pairs).items()
        )
        return {"seconds": time.perf_counter() - t0, "messages": messages}
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def pipeline(server, pairs: list[dict], start: date, end: date, workers: int) -> dict:
    """`arbdb backfill` in a subprocess on an empty database and cache; wall time and peak RSS."""
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
        "pairs": pairs,
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


def extract_bench(days: int, n_pairs: int, interval: float, workers: int) -> dict:
    from loopback.tardis_server import start_in_process

    pairs = PAIRS[:n_pairs]
    start = date(2024, 3, 1)
    end = start + timedelta(days=days)
    data_dir = ROOT / ".cache" / "bench" / "sample-data"
    t0 = time.perf_counter()
    with start_in_process(
        from_day=start, to_day=end, interval_seconds=interval, data_dir=data_dir, symbols=symbols_of(pairs)
    ) as server:
        prepared = time.perf_counter() - t0
        print(f"  sample data ready in {prepared:.1f} s (generated once, cached in {data_dir})", flush=True)
        bare = bare_loop(server.url, pairs, start, end)
        print(
            f"  bare tardis_dev.replay loop: {bare['seconds']:.1f} s, {bare['messages']:,} messages",
            flush=True,
        )
        pipe = pipeline(server, pairs, start, end, workers)
        print(f"  arbdb backfill: {pipe['seconds']:.1f} s, peak RSS {pipe['peak_rss_mb']:.0f} MB", flush=True)
    return {
        "days": days,
        "pairs": n_pairs,
        "interval_seconds": interval,
        "workers": workers,
        "messages": bare["messages"],
        "bare_seconds": bare["seconds"],
        "pipeline_seconds": pipe["seconds"],
        "bare_msgs_per_s": bare["messages"] / bare["seconds"],
        "pipeline_msgs_per_s": bare["messages"] / pipe["seconds"],
        "ratio_pipeline_to_bare": pipe["seconds"] / bare["seconds"],
        "peak_rss_mb": pipe["peak_rss_mb"],
        **{k: v for k, v in pipe.items() if k.endswith("_rows")},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="make bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--pairs", type=int, default=4, choices=range(1, 5))
    parser.add_argument("--interval-seconds", type=float, default=1.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--only", choices=["extract", "windows", "llm", "dask"], action="append")
    args = parser.parse_args(argv)
    parts = args.only or ["extract", "windows", "llm"]
    results: dict = {}
    if "extract" in parts:
        print(
            f"extract: {args.days} days x {args.pairs} pairs,"
            f" one message per {args.interval_seconds:g} s per symbol"
        )
        results["extract"] = extract_bench(args.days, args.pairs, args.interval_seconds, args.workers)
    if "windows" in parts:
        from bench.windows_bench import bench_windows

        print("windows: one year x 4 pairs of stored minute history")
        results["windows"] = bench_windows(days=365, pairs=4)
    if "llm" in parts:
        from bench.llm_bench import bench_llm

        print("llm: batched vs one call per flagged window (loopback gateway)")
        results["llm"] = bench_llm()
    if "dask" in parts:  # 1 vs 2 local Dask workers (bench/dask_bench.py)
        from bench.dask_bench import bench_dask

        results["dask"] = bench_dask(min(args.days, 3))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "results.json").write_text(json.dumps(results, indent=2, default=str))
    print_results(results)


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
