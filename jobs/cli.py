"""The `arbdb` command line. Every command is a thin call into one function; errors become one line.

Commands are grouped by stage below. Shared options: `--config PATH` (default ./config.yaml) and
`-v` for debug logging. Any failure prints `arbdb: error: <message>` and exits non-zero (an
`ArbdbError` with its own message and code; anything else translated in `jobs.cli_errors`).
"""

from __future__ import annotations

import sys
from datetime import date, timedelta

import click

from jobs import cli_research
from jobs.cli_errors import exit_with_failure
from jobs.cli_options import (
    ArbdbCommand,
    check_report_day,
    checked_range,
    day_range,
    get_settings,
    parse_day,
    report_day,
    set_logging,
    usage_line,
)
from pipelines.core.timeutil import utcnow
from pipelines.venues.registry import exchanges


class ArbdbGroup(click.Group):
    """Turns every failure of a command into one clear line and a non-zero exit, never a traceback."""

    command_class = ArbdbCommand

    def make_context(self, info_name, args, parent=None, **extra) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.exceptions.NoArgsIsHelpError:
            raise
        except click.UsageError as err:  # a bad option before the command: outside invoke
            click.echo(f"arbdb: error: {usage_line(err)}", err=True)
            sys.exit(2)

    def resolve_command(self, ctx, args):
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as err:
            raise usage_line(err) from None

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, BrokenPipeError):
            raise  # click's own: usage errors, ctx.exit(code), `arbdb windows | head`
        except (Exception, KeyboardInterrupt) as err:
            settings = (ctx.obj or {}).get("settings")
            exit_with_failure(err, settings.database if settings else None)


@click.group(cls=ArbdbGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default="config.yaml",
    show_default=True,
    help="Settings file.",
)
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
@click.pass_context
def cli(ctx: click.Context, config_path: str, verbose: bool) -> None:
    """arbdb: funding carry and basis history between perpetuals of two venues (Gate.io, Bitfinex, ...)."""
    set_logging(verbose)
    ctx.ensure_object(dict)
    ctx.obj["config_path"] = config_path  # a `--config` after the command is parsed later and wins


# -- commands are added below this line, one block per stage --


# -- sample-server: the loopback Tardis-compatible server --


@cli.command("sample-server")
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


# -- demo --


@cli.command()
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


# -- normalize: raw replay lines -> derivative_ticker CSV --


@cli.command("normalize")
@click.option("--exchange", required=True, metavar="EXCHANGE", help=f"Tardis id: {', '.join(exchanges())}.")
@click.option("--symbols", default=None, metavar="BTC_USDT,ETH_USDT", help="Only these (default: all).")
@click.argument("file", required=False, default="-", metavar="[FILE|-]")
def normalize_cmd(exchange: str, symbols: str | None, file: str) -> None:
    """Replay-format lines (plain or gzip, stdin by default) -> derivative_ticker CSV on stdout."""
    from pipelines.extract.normalize_io import normalize_file

    symbol_list = symbols.split(",") if symbols else None
    normalize_file(exchange, file, sys.stdout, sys.stderr, symbol_list, sys.stdin.buffer)


# -- report: nightly LLM cost report --


@cli.command("report")
@click.option(
    "--date",
    "day",
    metavar="DATE",
    callback=report_day,
    help="UTC day covered, YYYY-MM-DD [default: yesterday].",
)
@click.option("--send/--dry-run", default=True, help="Send (or queue), or print the text and write nothing.")
@click.option("--force", is_flag=True, help="Make it again even if already sent or waiting in the outbox.")
@click.pass_context
def report_cmd(ctx: click.Context, day: date | None, send: bool, force: bool) -> None:
    """LLM cost report for one day and the 7 days to it, by SMTP or into the outbox."""
    from jobs.report_job import check_delivered, describe, report_command
    from pipelines.core.timeutil import utcnow

    settings = get_settings(ctx)
    check_report_day(ctx, day)
    report_date = day
    result = report_command(settings, utcnow(), report_date, dry_run=not send, force=force)
    check_delivered(result, settings)
    click.echo(describe(result, settings) if send else result.text, nl=send)


# -- transform: stored windows --


@cli.command("windows")
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


@cli.command("screen")
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


# -- backtest, scorecard, export: research over the stored tables (jobs/cli_research.py) --

cli.add_command(cli_research.backtest_cmd)
cli.add_command(cli_research.scorecard_cmd)
cli.add_command(cli_research.export_cmd)


# -- analyze: LLM triage of flagged windows --


@cli.command()
@day_range(days_after_today=1)
@click.option("--pair", default=None, metavar="BTC[,ETH]", help="Pairs to analyse (default: all configured).")
@click.option("--dry-run", is_flag=True, help="Print the batched prompts and estimated cost; call nothing.")
@click.pass_context
def analyze(ctx, start, end, pair, dry_run):
    """Verdicts for flagged windows in [--from, --to) not analysed yet (gateway with a key, else rules)."""
    from rich.console import Console

    from jobs.analyze import analyze_job, print_result
    from pipelines.core.timeutil import utcnow
    from pipelines.store import open_db

    settings = get_settings(ctx)
    _warn_unlisted_models(settings, dry_run)
    result = analyze_job(
        open_db(settings.database),
        settings,
        start,
        end,
        settings.select_pairs(pair),
        utcnow(),
        dry_run=dry_run,
    )
    print_result(Console(highlight=False, soft_wrap=True), result)


def _warn_unlisted_models(settings, dry_run: bool) -> None:
    from pipelines.analyze.models import unlisted_warning

    warning = None if dry_run else unlisted_warning(settings.llm)  # a dry run calls nothing
    if warning:
        click.echo(f"arbdb: warning: {warning}", err=True)


@cli.group("llm", cls=ArbdbGroup)
def llm_group() -> None:
    """The LLM gateway: `arbdb llm models`."""


@llm_group.command("models")
@click.pass_context
def llm_models(ctx: click.Context) -> None:
    """Models the gateway offers (GET {base_url}/models), with their configured prices and tiers."""
    from jobs.llm_models import print_models

    print_models(get_settings(ctx).llm)


@cli.command("run-scheduler")
@click.pass_context
def run_scheduler_cmd(ctx: click.Context) -> None:
    """Long-running: funding_cycle at each funding time + delay, nightly cost_report. Stop with SIGTERM."""
    from jobs.scheduler import run_scheduler

    get_settings(ctx)  # a bad config stops here with one line, before the lock is taken
    run_scheduler(ctx.obj["config_path"])


@cli.command("status")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.pass_context
def status_cmd(ctx: click.Context, fmt: str) -> None:
    """Runs, lag, rows, LLM spend, outbox. Exit 1 when a pair is behind or its latest run failed."""
    from jobs.status import status_report

    text, code = status_report(get_settings(ctx), fmt)
    click.echo(text)
    ctx.exit(code)


# -- extract + load: backfill --


@cli.command()
@day_range(days_after_today=0)
@click.option("--pairs", default=None, metavar="BTC,ETH", help="Pairs to load (default: all configured).")
@click.option(
    "--source",
    type=click.Choice(["replay", "datasets"]),
    default=None,
    help="Tardis source (default: tardis.source in config).",
)
@click.option("--no-llm", is_flag=True, help="Skip the LLM stage (windows are still computed).")
@click.option(
    "--scheduler",
    default=None,
    metavar="tcp://HOST:8786",
    help="Extract on this Dask scheduler's workers (default: tardis.executor in config).",
)
@click.pass_context
def backfill(ctx, start, end, pairs, source, no_llm, scheduler):
    """Load history for [--from, --to) and compute windows and verdicts. Resumable and idempotent."""
    from jobs.progress import backfill_bar, console
    from pipelines.core.timeutil import utcnow
    from pipelines.flows.run import backfill as run_backfill
    from pipelines.store import open_db

    settings = get_settings(ctx)
    if scheduler is not None:
        settings = _on_scheduler(settings, scheduler)
    selected = settings.select_pairs(pairs)
    db = open_db(settings.database)
    with backfill_bar() as update:
        result = run_backfill(
            db,
            settings,
            start,
            end,
            pairs=selected,
            source=source or settings.tardis.source,
            llm=not no_llm,
            now=utcnow(),
            on_progress=update,
            legs=None if pairs else settings.watched_legs(),  # all: the markets' legs too
        )
    c = result.counts
    console.print(
        f"backfill {start}..{end} (exclusive) {','.join(p.name for p in selected)}: "
        f"{c.get('days_loaded', 0)} exchange-days fetched, "
        f"{c.get('days_skipped', 0)} skipped (already loaded), "
        f"{c.get('messages', 0):,} messages, {c.get('minutes', 0):,} minute rows "
        f"({c.get('minutes_new', 0):,} new), {c.get('malformed', 0)} malformed lines skipped, "
        f"{c.get('windows', 0)} windows in range, {c.get('windows_written', 0)} window rows written "
        "(new or changed)"
        + (f", {c['settlements_rederived']} settlements re-derived" if c.get("settlements_rederived") else "")
    )
    if c.get("llm_error"):  # loaded data and the verdicts that succeeded are kept
        from pipelines.core.errors import LLMError

        raise LLMError(c["llm_error"])


def _on_scheduler(settings, address: str):
    """`settings` extracting on the Dask scheduler at `address` (--scheduler implies executor dask)."""
    from pipelines.core.errors import UsageError

    try:
        tardis = settings.tardis.on_scheduler(address)
    except ValueError as err:
        raise UsageError(f"--scheduler: {err}") from None
    return settings.model_copy(update={"tardis": tardis})


def main() -> None:
    """Console-script entry point: click's handling, but an interrupt or error while parsing the
    command line (outside `ArbdbGroup.invoke`) also ends in one line, never `Aborted!`."""
    try:
        code = cli.main(obj={}, standalone_mode=False)
    except click.ClickException as err:
        err.show()
        sys.exit(err.exit_code)
    except (click.Abort, Exception, KeyboardInterrupt) as err:
        exit_with_failure(err)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
