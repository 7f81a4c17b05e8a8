"""`arbdb sample-server`: pre-generate a range of days with a progress bar, print the endpoints,
serve until SIGINT/SIGTERM. This module owns the terminal; the server itself only logs.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import date
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from loopback.generator import SampleFeed
from loopback.server_state import ServerState
from loopback.sims import served
from loopback.tardis_server import serve, urls
from pipelines.core.timeutil import days as day_range

DEFAULT_DATA_DIR = Path(".cache/sample-tardis")


def prepare_with_progress(feed: SampleFeed, days: list[date], data_dir: Path) -> None:
    """Generate every exchange-day of `days` (cached on disk), with a progress bar on stderr."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=False) as progress:
        task = progress.add_task("generating sample days", total=len(days) * len(served()))

        def advance(exchange: str, day: date, seconds: float) -> None:
            progress.update(task, advance=1, description=f"{exchange} {day} ({seconds:.1f}s)")

        feed.prepare_range(days, data_dir, progress=advance)
        progress.update(task, completed=len(days) * len(served()), description="sample days ready")


def run_sample_server(
    *,
    host: str,
    port: int,
    start: date,
    end: date,
    seed: int,
    interval_seconds: float,
    api_key: str | None,
    data_dir: Path | None,
) -> None:
    """Prepare [start, end), then serve; the first stdout line is `endpoint=... datasets_endpoint=...`."""
    feed = SampleFeed(seed=seed, interval_seconds=interval_seconds)
    directory = data_dir or DEFAULT_DATA_DIR
    prepare_with_progress(feed, day_range(start, end), directory)
    state = ServerState(feed, directory, api_key=api_key)

    def ready(bound: int) -> None:
        endpoint, datasets = urls(host, bound)
        sys.stdout.write(f"endpoint={endpoint} datasets_endpoint={datasets}\n")
        sys.stdout.flush()
        Console(stderr=True).print(
            f"Serving the sample feed (seed {seed}) on {endpoint}; put in config.yaml:\n"
            f"  tardis:\n    endpoint: {endpoint}\n    datasets_endpoint: {datasets}\n"
            "Days outside the prepared range are generated on first request. Ctrl-C stops."
        )

    asyncio.run(serve(state, host, port, ready))
