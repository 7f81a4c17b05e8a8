"""The stage commands of `arbdb`: backfill (extract + load + transform + analyze), analyze (LLM triage
of flagged windows), llm models, report (the nightly LLM cost report) and run-scheduler (all of them
on the clock). Added to the group in jobs/cli.py.
"""

from __future__ import annotations

from datetime import date

import click

from jobs.cli_options import ArbdbCommand, ArbdbGroup, check_report_day, day_range, get_settings, report_day


@click.command("backfill", cls=ArbdbCommand)
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
    from pipelines.flows.backfill import backfill as run_backfill
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


@click.command("analyze", cls=ArbdbCommand)
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


@click.group("llm", cls=ArbdbGroup)
def llm_group() -> None:
    """The LLM gateway: `arbdb llm models`."""


@llm_group.command("models")
@click.pass_context
def llm_models(ctx: click.Context) -> None:
    """Models the gateway offers (GET {base_url}/models), with their configured prices and tiers."""
    from jobs.llm_models import print_models

    print_models(get_settings(ctx).llm)


@click.command("report", cls=ArbdbCommand)
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


@click.command("run-scheduler", cls=ArbdbCommand)
@click.pass_context
def run_scheduler_cmd(ctx: click.Context) -> None:
    """Long-running: funding_cycle at each funding time + delay, nightly cost_report. Stop with SIGTERM."""
    from jobs.scheduler import run_scheduler

    get_settings(ctx)  # a bad config stops here with one line, before the lock is taken
    run_scheduler(ctx.obj["config_path"])
