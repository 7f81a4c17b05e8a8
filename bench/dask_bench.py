"""Dask figures (`make bench ARGS="--only dask"`): a backfill on 1 and on 2 local Dask workers.

The loopback Tardis server runs in its own process with the sample data generated before timing
(one message per second per symbol, Gate and Bitfinex, 4 pairs). For each worker count a fresh
`distributed.LocalCluster` (worker processes, one thread each) is started (not timed) and
`pipelines.flows.backfill.backfill` with `tardis.executor: dask` loads the days into an empty database (timed:
submission, extraction on the workers, the client's upserts, windows). Reported: wall time,
messages/s overall and per worker, and the projection of a year x 300 symbols (1 msg/s each) from
the measured per-worker rate.

    python -m bench.dask_bench [--days 3]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from bench.common import PAIRS, ROOT, pair_symbols
from pipelines.config.settings import settings_from_mapping

START = date(2024, 3, 1)
YEAR_MESSAGES = 300 * 86_400 * 365  # a year of 300 symbols at one message per second


def _settings(server, work: Path, address: str):
    config = {
        "database": str(work / "bench.db"),
        "tardis": {
            "endpoint": server.url,
            "datasets_endpoint": server.datasets_url,
            "cache_dir": str(work / "cache"),
            "download_dir": str(work / "dl"),
            "executor": "dask",
            "dask_scheduler": address,
        },
        "pairs": PAIRS,
        "mail": {"outbox_dir": str(work / "outbox")},
    }
    return settings_from_mapping(config, env={}, source="bench")


def one_run(server, workers: int, days: int) -> dict:
    """A backfill of `days` days on a fresh LocalCluster of `workers` single-threaded processes."""
    import distributed

    from pipelines.flows.backfill import backfill
    from pipelines.store import open_db

    work = Path(tempfile.mkdtemp(prefix="arbdb-bench-dask-"))
    cluster = distributed.LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
    )
    try:
        settings = _settings(server, work, cluster.scheduler_address)
        db = open_db(settings.database)
        now = datetime.combine(START + timedelta(days=days + 1), datetime.min.time(), UTC)
        t0 = time.perf_counter()
        result = backfill(
            db,
            settings,
            START,
            START + timedelta(days=days),
            pairs=settings.pairs,
            source="replay",
            llm=False,
            now=now,
        )
        seconds = time.perf_counter() - t0
        db.close()
    finally:
        cluster.close()
        shutil.rmtree(work, ignore_errors=True)
    messages = result.counts["messages"]
    return {"seconds": seconds, "messages": messages, "days_loaded": result.counts["days_loaded"]}


def bench_dask(days: int = 3, interval: float = 1.0) -> dict:
    """1 vs 2 local Dask workers over the same server and days; figures and the year projection."""
    from loopback.tardis_server import start_in_process

    data_dir = ROOT / ".cache" / "bench" / "sample-data"
    end = START + timedelta(days=days)
    out: dict = {"days": days, "pairs": len(PAIRS), "interval_seconds": interval}
    with start_in_process(
        from_day=START, to_day=end, interval_seconds=interval, data_dir=data_dir, symbols=pair_symbols(PAIRS)
    ) as server:
        for workers in (1, 2):
            run = one_run(server, workers, days)
            rate = run["messages"] / run["seconds"]
            print(f"  {workers} worker(s): {run['seconds']:.1f} s, {rate:,.0f} msg/s", flush=True)
            out[f"w{workers}_seconds"] = run["seconds"]
            out[f"w{workers}_msgs_per_s"] = rate
            out[f"w{workers}_msgs_per_s_per_worker"] = rate / workers
            out["messages"] = run["messages"]
            out["exchange_days"] = run["days_loaded"]
    out["speedup_2_vs_1"] = out["w1_seconds"] / out["w2_seconds"]
    per_worker = out["w2_msgs_per_s_per_worker"]
    for workers in (8, 32, 60):
        out[f"year_300_symbols_hours_on_{workers}_workers"] = YEAR_MESSAGES / (per_worker * workers) / 3600
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.dask_bench", description=__doc__)
    parser.add_argument("--days", type=int, default=3)
    args = parser.parse_args(argv)
    for key, value in bench_dask(args.days).items():
        print(f"  {key:40} {value:,.2f}" if isinstance(value, float) else f"  {key:40} {value}")


if __name__ == "__main__":
    main()
