"""Terminal progress for long commands (the CLI owns the terminal; library code only reports)."""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from pipelines.flows.backfill import BackfillProgress

console = Console(stderr=True, soft_wrap=True)


@contextmanager
def backfill_bar():
    """A rich progress bar fed by `BackfillProgress` updates: exchange-days, messages, rows, rate."""
    started = time.monotonic()
    progress = Progress(
        TextColumn("[bold]backfill"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("exchange-days"),
        TextColumn("{task.fields[stats]}"),
        TimeRemainingColumn(),
        console=console,
        disable=not sys.stderr.isatty(),
    )
    task = progress.add_task("backfill", total=None, stats="")
    last_line = [0.0]

    def update(p: BackfillProgress) -> None:
        rate = p.messages / max(time.monotonic() - started, 1e-9)
        stats = f"{p.messages:,} msgs  {p.minutes:,} minute rows  {rate:,.0f} msg/s  {p.current}"
        progress.update(task, total=p.tasks_total, completed=p.tasks_done, stats=stats)
        if progress.disable and time.monotonic() - last_line[0] > 5:
            last_line[0] = time.monotonic()
            console.print(f"backfill {p.tasks_done}/{p.tasks_total} exchange-days  {stats}")

    with progress:
        yield update
