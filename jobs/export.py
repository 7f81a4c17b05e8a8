"""`arbdb export`: where the rows go (stdout or a file) and the line saying how many went."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import click

from pipelines.config.settings import Settings
from pipelines.core.errors import UsageError
from pipelines.core.timeutil import day_start
from pipelines.research.export import export
from pipelines.store import open_readonly


def export_command(
    settings: Settings, table: str, span: tuple[date | None, date | None], fmt: str, out
) -> int:
    """Export `table` over the day span to `out` (CSV on stdout without one); returns rows written."""
    if fmt == "parquet" and not out:
        raise UsageError("--format parquet needs --out PATH (Parquet is binary, not for a terminal)")
    start, end = (day_start(d) if d else None for d in span)
    db = open_readonly(settings.database)
    try:
        if out:
            Path(out).parent.mkdir(parents=True, exist_ok=True)
        if fmt == "csv" and out:
            with open(out, "w", encoding="utf-8", newline="") as stream:
                rows = export(db, table, start, end, fmt, stream)
        else:
            rows = export(db, table, start, end, fmt, out or sys.stdout)
    finally:
        db.close()
    if out:
        click.echo(f"exported {rows:,} {table} rows to {out}", err=True)
    return rows
