"""The `arbdb` command line. Every command is a thin call into one function; errors become one line.

Commands are grouped by stage below. Shared options: `--config PATH` (default ./config.yaml) and
`-v` for debug logging. An `ArbdbError` prints `arbdb: error: <message>` and exits non-zero.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, date, datetime

import click

from pipelines.errors import ArbdbError, UsageError
from pipelines.settings import Settings, load_settings


class ArbdbGroup(click.Group):
    """Turns arbdb errors into one clear line and a non-zero exit, never a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ArbdbError as err:
            click.echo(f"arbdb: error: {err}", err=True)
            sys.exit(err.exit_code)


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
    """arbdb: funding carry and basis history between Gate.io and Bitfinex perpetuals."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%SZ",
    )
    logging.Formatter.converter = __import__("time").gmtime
    ctx.ensure_object(dict)
    ctx.obj["config_path"] = config_path


def get_settings(ctx: click.Context) -> Settings:
    """Settings for this invocation, loaded and validated once."""
    obj = ctx.ensure_object(dict)
    if "settings" not in obj:
        obj["settings"] = load_settings(obj.get("config_path", "config.yaml"))
    return obj["settings"]


def parse_day(value: str, name: str) -> date:
    """A `YYYY-MM-DD` command-line date, or a UsageError naming the option."""
    try:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC).date()
    except ValueError:
        raise UsageError(f"{name} {value!r} is not a date like 2024-03-01") from None


# -- commands are added below this line, one block per stage --


def main() -> None:
    """Console-script entry point."""
    cli(obj={})


if __name__ == "__main__":
    main()
