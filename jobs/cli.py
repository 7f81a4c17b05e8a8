"""The `arbdb` command line. Every command is a thin call into one function; errors become one line.

Commands live in one module per group (jobs/cli_pipeline.py, cli_views.py, cli_research.py,
cli_demo.py); this module is the group and the entry point. Shared options: `--config PATH`
(default ./config.yaml) and `-v` for debug logging. Any failure prints `arbdb: error: <message>` and
exits non-zero (an `ArbdbError` with its own message and code; anything else translated in
`jobs.cli_errors`).
"""

from __future__ import annotations

import sys

import click

from jobs import cli_demo, cli_pipeline, cli_research, cli_views
from jobs.cli_errors import exit_with_failure
from jobs.cli_options import ArbdbGroup, set_logging


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


# -- the commands, one module per group: stages, views, research, demo --

for command in (
    cli_pipeline.backfill,
    cli_pipeline.analyze,
    cli_pipeline.llm_group,
    cli_pipeline.report_cmd,
    cli_pipeline.run_scheduler_cmd,
    cli_views.windows_cmd,
    cli_views.screen_cmd,
    cli_views.status_cmd,
    cli_views.normalize_cmd,
    cli_research.backtest_cmd,
    cli_research.scorecard_cmd,
    cli_research.export_cmd,
    cli_demo.sample_server_cmd,
    cli_demo.demo,
):
    cli.add_command(command)


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
