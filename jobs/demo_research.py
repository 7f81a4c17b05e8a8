"""The demo's research part: a short backtest of the first pair and the verdict scorecard."""

from __future__ import annotations

from datetime import date

import sqlite_utils
from rich.console import Console

from jobs.backtest import backtest_pair, show
from jobs.scorecard import scorecard_text, span_of
from pipelines.backtest.rules import Rules
from pipelines.config.settings import Settings

# Enter on a flag or a positive net carry, leave when it turns negative or flips: the demo's two
# weeks give a few trades whatever the sample's level of carry.
DEMO_RULES = Rules(entry_net=0.0, entry_flag=True, exit_net=0.0, exit_sign=True)


def print_research(
    db: sqlite_utils.Database, settings: Settings, start: date, end: date, console: Console, config_path
) -> None:
    """Backtest the first pair over the demo's range (stored), then score every stored verdict."""
    pair = settings.pairs[0]
    result = backtest_pair(db, settings, pair, (start, end), DEMO_RULES, 10_000, 2)
    console.print(show(result, "table"), markup=False, highlight=False)
    console.print(
        scorecard_text(db, settings, span_of(start, end), None, "table"), markup=False, highlight=False
    )
    arbdb = f".venv/bin/arbdb --config {config_path}"
    console.print(
        f"  {arbdb} backtest --pair {pair.name} --from {start} --to {end} --entry net:0,flag --chart bt.png\n"
        f"  {arbdb} scorecard\n  {arbdb} export --table windows --format parquet --out windows.parquet"
    )
