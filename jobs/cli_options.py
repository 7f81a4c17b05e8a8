"""Option plumbing shared by every `arbdb` command: dates, `--config`/`-v` anywhere, one-line errors.

Dates are parsed here and checked by `pipelines.venues.history.check_range`, whose typed errors speak of
dates; this module turns them into messages naming the options. click's own usage errors (bad
value, unknown option, missing option) become one `UsageError` line too.
"""

from __future__ import annotations

import functools
import logging
import sys
import time
from datetime import UTC, date, datetime, timedelta

import click

from jobs.cli_errors import exit_with_failure
from pipelines.config.settings import Settings, load_settings
from pipelines.core.errors import UsageError
from pipelines.core.timeutil import DateRangeError, utcnow
from pipelines.venues.history import check_range


def usage_line(err: click.UsageError) -> UsageError:
    """click's multi-line usage message (bad option, bad value, unknown command) as our one line."""
    path = err.ctx.command_path if err.ctx else "arbdb"
    return UsageError(f"{err.format_message().rstrip('.')} (see '{path} -h')")


def set_logging(verbose: bool) -> None:
    """Log to stderr with UTC timestamps; debug level with `-v`."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%SZ",
    )
    logging.Formatter.converter = time.gmtime
    if verbose:  # basicConfig does nothing once logging is set up (e.g. `-v` after the command)
        logging.getLogger().setLevel(logging.DEBUG)


def _config_after_command(ctx: click.Context, _param, value: str | None) -> None:
    if value is not None:  # given after the subcommand: it wins over the one before
        ctx.ensure_object(dict)["config_path"] = value


def _verbose_after_command(_ctx, _param, value: bool) -> None:
    if value:
        set_logging(True)


class ArbdbCommand(click.Command):
    """A subcommand: also takes `--config` and `-v` after its name; a bad option is one line."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.params += [
            click.Option(
                ["--config", "config_path"],
                type=click.Path(dir_okay=False),
                expose_value=False,
                callback=_config_after_command,
                help="Settings file (here or before the command; this one wins).",
            ),
            click.Option(
                ["-v", "--verbose"],
                is_flag=True,
                expose_value=False,
                callback=_verbose_after_command,
                help="Debug logging.",
            ),
        ]

    def make_context(self, info_name, args, parent=None, **extra) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as err:  # raised inside the group's invoke, which prints it
            raise usage_line(err) from None


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


def parse_day(value: str, name: str) -> date:
    """A `YYYY-MM-DD` command-line date, or a UsageError naming the option."""
    try:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC).date()
    except ValueError:
        raise UsageError(f"{name} {value!r} is not a date like 2024-03-01") from None


def _day(_ctx, param: click.Parameter, value: str | None) -> date | None:
    return None if value is None else parse_day(value, param.opts[0])


_BEFORE_HISTORY = "is before the history both venues of a pair have on Tardis"


def get_settings(ctx: click.Context) -> Settings:
    """Settings for this invocation, loaded and validated once."""
    obj = ctx.find_root().ensure_object(dict)
    if "settings" not in obj:
        obj["settings"] = load_settings(obj.get("config_path", "config.yaml"))
    return obj["settings"]


def pair_venues(ctx: click.Context | None = None) -> list[tuple[str, ...]]:
    """Each configured pair's two exchanges: the history a date range may reach back to."""
    settings = get_settings(ctx or click.get_current_context())
    return [tuple(leg.exchange for leg in pair.legs) for pair in settings.pairs]


def checked_range(start: date, end: date, latest_end: date | None, opts=("--from", "--to")) -> None:
    """`check_range` for a command line: a bad range is a UsageError naming the options `opts`."""
    start_opt, end_opt = opts
    try:
        check_range(start, end, latest_end, pair_venues())
    except DateRangeError as err:
        if err.problem == "order":
            message = f"{start_opt} {start} must be before {end_opt} {end} ({end_opt} is exclusive)"
        elif err.problem == "future":
            message = (
                f"{end_opt} {end} is in the future; the latest {end_opt} allowed is {err.limit}"
                f" ({end_opt} is exclusive)"
            )
        else:
            message = f"{start_opt} {start} {_BEFORE_HISTORY} (from {err.limit})"
        raise UsageError(message) from None


def day_range(days_after_today: int):
    """Add `--from/--to DATE`, parsed and checked by `checked_range`, passed as dates `start`/`end`.

    The latest `--to` (exclusive) is today + `days_after_today`: 0 where only complete days make
    sense (backfill), 1 where today's windows so far are wanted too (reading, analysing).
    """

    def decorate(command):
        @functools.wraps(command)
        def checked(*args, start: date, end: date, **kwargs):
            checked_range(start, end, utcnow().date() + timedelta(days=days_after_today))
            return command(*args, start=start, end=end, **kwargs)

        checked = click.option(
            "--to",
            "end",
            required=True,
            metavar="DATE",
            callback=_day,
            help="Day after the last one (exclusive).",
        )(checked)
        return click.option(
            "--from",
            "start",
            required=True,
            metavar="DATE",
            callback=_day,
            help="First day, YYYY-MM-DD (UTC).",
        )(checked)

    return decorate


def report_day(ctx, param: click.Parameter, value: str | None) -> date | None:
    """`--date D`, parsed; `check_report_day` checks it once every option (`--config`) is read."""
    return _day(ctx, param, value)


def check_report_day(ctx: click.Context, day: date | None) -> None:
    """`--date D`: D must be a complete UTC day (before today) within the pairs' shared history."""
    if day is None:
        return
    try:
        check_range(day, day + timedelta(days=1), latest_end=utcnow().date(), pair_venues=pair_venues(ctx))
    except DateRangeError as err:
        if err.problem == "future":
            latest = err.limit - timedelta(days=1)
            raise UsageError(f"--date {day} is not a complete UTC day yet; the latest is {latest}") from None
        raise UsageError(f"--date {day} {_BEFORE_HISTORY} (from {err.limit})") from None
