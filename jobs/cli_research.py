"""The research commands of `arbdb`: backtest, scorecard, export (added to the group in jobs/cli.py).

Each is a thin call into jobs/backtest.py, jobs/scorecard.py or jobs/export.py, with the shared
options of jobs/cli_options.py (`--config`/`-v` after the command, one-line errors).
"""

from __future__ import annotations

import click

from jobs.cli_options import ArbdbCommand, checked_range, day_range, get_settings, parse_day


@click.command("backtest", cls=ArbdbCommand)
@click.option("--pair", "pair_name", required=True, metavar="BTC", help="Configured pair name.")
@day_range(days_after_today=1)
@click.option("--entry", default=None, metavar="net:0.25,flag,verdict:MODEL", help="Entry rules, any fires.")
@click.option(
    "--exit",
    "exit_",
    default=None,
    metavar="net:0,sign,hold:HOURS",
    help="Exit rules, any fires; when several fire at one close, the first listed names the exit.",
)
@click.option("--notional", default=10_000.0, show_default=True, type=click.FloatRange(min=0, min_open=True))
@click.option(
    "--slippage-bps", default=2.0, show_default=True, type=click.FloatRange(min=0), help="Per fill."
)
@click.option(
    "--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True
)
@click.option(
    "--chart", default=None, type=click.Path(dir_okay=False), help="Write the equity curve PNG here."
)
@click.pass_context
def backtest_cmd(ctx, pair_name, start, end, entry, exit_, notional, slippage_bps, fmt, chart) -> None:
    """Carry backtest of one pair over windows ending in (--from, --to] (00:00 UTC): stored, then shown.

    The range ends at the last stored window, and at the last window by which both legs'
    settlements are stored; a note says so (stderr under --format csv|json, whose output stays
    valid: with no window, CSV is the header only, JSON has "backtest": null and no trades; exit 0).
    """
    from pathlib import Path

    from jobs.backtest import backtest_pair, notes_of, show, write_chart
    from pipelines.backtest.rules import parse_rules
    from pipelines.store import open_db

    settings = get_settings(ctx)
    pair, rules = settings.pair(pair_name), parse_rules(entry, exit_)
    db = open_db(settings.database)
    try:
        result = backtest_pair(db, settings, pair, (start, end), rules, notional, slippage_bps)
    finally:
        db.close()
    if chart and result.windows:
        write_chart(result, Path(chart))
    click.echo(show(result, fmt))
    if fmt != "table":
        for note in notes_of(result):
            click.echo(f"arbdb: note: {note}", err=True)


@click.command("scorecard", cls=ArbdbCommand)
@click.option(
    "--model", default=None, metavar="M", help="One model's verdicts (`rules` for the offline analyzer)."
)
@click.option(
    "--from", "from_", default=None, metavar="DATE", help="First day of window ends (default: all)."
)
@click.option("--to", "to", default=None, metavar="DATE", help="Day after the last one (exclusive).")
@click.option(
    "--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True
)
@click.option(
    "--by",
    type=click.Choice(["action", "tier"]),
    default="action",
    show_default=True,
    help="tier: each LLM tier's verdicts, its cost per verdict and how often its overrules were right.",
)
@click.pass_context
def scorecard_cmd(ctx, model, from_, to, fmt, by) -> None:
    """Every stored verdict scored by the carry it would have realised: hit rate, APR, calibration."""
    from jobs.scorecard import scorecard_text, span_of
    from pipelines.store import open_readonly

    start = parse_day(from_, "--from") if from_ else None
    end = parse_day(to, "--to") if to else None
    if start and end and start >= end:
        checked_range(start, end, latest_end=None)
    settings = get_settings(ctx)
    db = open_readonly(settings.database)
    try:
        click.echo(scorecard_text(db, settings, span_of(start, end), model, fmt, by))
    finally:
        db.close()


@click.command("export", cls=ArbdbCommand)
@click.option(
    "--table",
    required=True,
    type=click.Choice(["windows", "funding", "tickers", "backtest_trades"]),
    help="Table.",
)
@click.option("--from", "from_", default=None, metavar="DATE", help="First day (default: the first row).")
@click.option("--to", "to", default=None, metavar="DATE", help="Day after the last one (exclusive).")
@click.option("--format", "fmt", required=True, type=click.Choice(["csv", "parquet"]))
@click.option(
    "--out", default=None, type=click.Path(dir_okay=False), help="File to write (CSV: default stdout)."
)
@click.pass_context
def export_cmd(ctx, table, from_, to, fmt, out) -> None:
    """Stream one table's rows in [--from, --to) as CSV or Parquet, chunk by chunk."""
    from jobs.export import export_command

    start = parse_day(from_, "--from") if from_ else None
    end = parse_day(to, "--to") if to else None
    if start and end and start >= end:
        checked_range(start, end, latest_end=None)
    export_command(get_settings(ctx), table, (start, end), fmt, out)
