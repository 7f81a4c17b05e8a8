"""The commands of `arbdb` that read and print: windows, screen (the stored windows), status (runs,
lag, spend) and normalize (replay lines -> CSV). Added to the group in jobs/cli.py.
"""

from __future__ import annotations

import sys
from datetime import date

import click

from jobs.cli_options import ArbdbCommand, day_range, get_settings
from pipelines.venues.registry import exchanges


@click.command("windows", cls=ArbdbCommand)
@click.option("--pair", "pair_name", required=True, metavar="BTC", help="Configured pair name.")
@day_range(days_after_today=1)
@click.option("--flagged", is_flag=True, help="Flagged windows only.")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True
)
@click.pass_context
def windows_cmd(ctx: click.Context, pair_name: str, start: date, end: date, flagged: bool, fmt: str) -> None:
    """Funding windows of one pair: carry, spreads, basis, z-scores, flags and data warnings."""
    import shutil

    from pipelines.core.timeutil import day_start
    from pipelines.store import open_readonly
    from pipelines.transform.windows_stage import read_windows
    from pipelines.transform.windows_view import show_windows

    settings = get_settings(ctx)
    pair = settings.pair(pair_name)
    db = open_readonly(settings.database)
    try:
        windows = read_windows(db, pair.name, day_start(start), day_start(end), flagged_only=flagged)
    finally:
        db.close()
    only = ", flagged only" if flagged else ""
    title = f"{pair.name} funding windows ({pair.label}) {start} .. {end} (exclusive){only}"
    click.echo(show_windows(windows, fmt, title, width=shutil.get_terminal_size((200, 40)).columns))


@click.command("screen", cls=ArbdbCommand)
@day_range(days_after_today=1)
@click.option(
    "--coins", default=None, metavar="BTC,ETH", help="Coins to screen (default: every watched coin)."
)
@click.option(
    "--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True
)
@click.pass_context
def screen_cmd(ctx: click.Context, start: date, end: date, coins: str | None, fmt: str) -> None:
    """Every two watched venues per coin, ranked by mean net carry APR over [--from, --to)."""
    from jobs.screen import screen_text
    from pipelines.store import open_readonly

    settings = get_settings(ctx)
    db = open_readonly(settings.database)
    try:
        click.echo(screen_text(db, settings, start, end, coins, fmt))
    finally:
        db.close()


@click.command("status", cls=ArbdbCommand)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_context
def status_cmd(ctx: click.Context, fmt: str) -> None:
    """Runs, lag, rows, LLM spend, outbox. Exit 1 when a pair is behind or its latest run failed."""
    from jobs.status import status_report

    text, code = status_report(get_settings(ctx), fmt)
    click.echo(text)
    ctx.exit(code)


@click.command("normalize", cls=ArbdbCommand)
@click.option("--exchange", required=True, metavar="EXCHANGE", help=f"Tardis id: {', '.join(exchanges())}.")
@click.option("--symbols", default=None, metavar="BTC_USDT,ETH_USDT", help="Only these (default: all).")
@click.argument("file", required=False, default="-", metavar="[FILE|-]")
def normalize_cmd(exchange: str, symbols: str | None, file: str) -> None:
    """Replay-format lines (plain or gzip, stdin by default) -> derivative_ticker CSV on stdout."""
    from pipelines.extract.normalize_io import normalize_file

    symbol_list = symbols.split(",") if symbols else None
    normalize_file(exchange, file, sys.stdout, sys.stderr, symbol_list, sys.stdin.buffer)
