"""The demo commands of `arbdb`: sample-server (the loopback Tardis-compatible server) and demo (the
whole pipeline on it). Added to the group in jobs/cli.py.
"""

from __future__ import annotations

from datetime import timedelta

import click

from jobs.cli_options import ArbdbCommand, checked_range, get_settings, parse_day
from pipelines.core.timeutil import utcnow


@click.command("sample-server", cls=ArbdbCommand)
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=0, show_default=True, type=click.IntRange(0, 65535), help="0 = any free.")
@click.option(
    "--from",
    "from_",
    default="2024-03-01",
    show_default=True,
    metavar="DATE",
    help="First day to pre-generate.",
)
@click.option(
    "--to",
    "to",
    default="2024-03-15",
    show_default=True,
    metavar="DATE",
    help="Day after the last one (exclusive).",
)
@click.option("--seed", default=7, show_default=True, type=int, help="Sample feed seed.")
@click.option(
    "--interval-seconds",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0.05, 3600),
    help="About one message per symbol this often.",
)
@click.option("--api-key", default=None, help="Require this Bearer key (first day of a month stays free).")
@click.option(
    "--data-dir",
    default=None,
    type=click.Path(file_okay=False),
    help="Generated days cache [.cache/sample-tardis].",
)
def sample_server_cmd(from_, to, host, port, seed, interval_seconds, api_key, data_dir) -> None:
    """Serve generated Tardis history on loopback. First stdout line: endpoint=URL datasets_endpoint=URL."""
    from pathlib import Path

    from loopback.sample_server import run_sample_server

    start, end = parse_day(from_, "--from"), parse_day(to, "--to")
    checked_range(start, end, latest_end=None)  # generated data: future days are fine
    run_sample_server(
        host=host,
        port=port,
        start=start,
        end=end,
        seed=seed,
        interval_seconds=interval_seconds,
        api_key=api_key,
        data_dir=Path(data_dir) if data_dir else None,
    )


@click.command("demo", cls=ArbdbCommand)
@click.option(
    "--workdir",
    default="data/demo",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where the demo database, outbox and sample data go.",
)
@click.option("--pairs", default="BTC,ETH", show_default=True, help="Pairs to backfill.")
@click.option("--from", "from_", default=None, metavar="DATE", help="First day (default 2024-03-01).")
@click.option("--days", default=14, show_default=True, type=click.IntRange(1, 366), help="Days to backfill.")
@click.option(
    "--interval-seconds",
    default=10.0,
    show_default=True,
    type=click.FloatRange(0.05, 600),
    help="Sample message spacing per symbol.",
)
@click.pass_context
def demo(ctx, workdir, pairs, from_, days, interval_seconds):
    """Run the whole pipeline on generated sample data served on loopback (no keys, no network)."""
    from pathlib import Path

    from jobs.demo import DEMO_FROM, run_demo
    from jobs.progress import console

    now = utcnow()
    start = parse_day(from_, "--from") if from_ else DEMO_FROM
    checked_range(start, start + timedelta(days=days), now.date(), opts=("--from", "--from + --days"))
    console.width = max(console.width, 140)  # summary tables; logs of non-terminals default to 80
    settings = get_settings(ctx)
    settings.select_pairs(pairs)  # a bad --pairs stops here, before the sample server starts
    run_demo(settings, Path(workdir), pairs, start, days, interval_seconds, now, console)
