"""`arbdb export`: one table's rows in a time range as CSV or Parquet, streamed in chunks.

Rows are read with `pandas.read_sql_query(chunksize=...)` and written chunk by chunk (CSV appended,
Parquet one row group per chunk through `pyarrow.parquet.ParquetWriter` with a schema from
`pipelines.store.SCHEMA`), so a year of minute rows never sits in memory at once. Times are the
store's ISO 8601 UTC text; rows come in key order.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import IO

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sqlite_utils

from pipelines.core.timeutil import to_iso
from pipelines.store import SCHEMA
from pipelines.store.db import chunks_between

# table -> the time column the range applies to, [from, to)
TABLES = {
    "windows": "window_end",
    "funding": "funding_time",
    "tickers": "ts",
    "backtest_trades": "entry_time",
}
CHUNK_ROWS = 50_000
_ARROW = {str: pa.string(), float: pa.float64(), int: pa.int64()}


def arrow_schema(table: str) -> pa.Schema:
    """The Parquet schema of `table`, from its SQLite column types."""
    columns, _, _ = SCHEMA[table]
    return pa.schema([(name, _ARROW[kind]) for name, kind in columns.items()])


def chunks(
    db: sqlite_utils.Database, table: str, start: datetime | None, end: datetime | None, rows=CHUNK_ROWS
):
    """DataFrames of `table`'s rows with the time column in [start, end) (an open side: no bound)."""
    _, pk, _ = SCHEMA[table]
    time = TABLES[table]
    # key order, with the time column first where the key allows it (the index serves it)
    order = [time] + [c for c in pk if c != time] if table in ("tickers", "funding") else list(pk)
    iso = [None if bound is None else to_iso(bound) for bound in (start, end)]
    yield from chunks_between(db, table, time, *iso, order, rows)


def _typed(chunk: pd.DataFrame, table: str) -> pd.DataFrame:
    # An integer column holding NULLs arrives as float: give it pandas' nullable Int64 for Arrow.
    ints = [name for name, kind in SCHEMA[table][0].items() if kind is int]
    return chunk.astype({name: "Int64" for name in ints})


def write_csv(frames, out: IO[str], table: str) -> int:
    """Write the chunks as one CSV (header once, also when no row matched); returns rows written."""
    rows, header = 0, True
    for chunk in frames:
        if chunk.empty:  # SQLite with no matching row still yields one empty chunk
            continue
        chunk.to_csv(out, index=False, header=header, lineterminator="\n")
        rows, header = rows + len(chunk), False
    if header:
        out.write(",".join(SCHEMA[table][0]) + "\n")
    return rows


def write_parquet(frames, path, table: str) -> int:
    """Write the chunks as one Parquet file, a row group per chunk; returns rows written."""
    schema, rows = arrow_schema(table), 0
    with pq.ParquetWriter(path, schema) as writer:
        for chunk in frames:
            writer.write_table(
                pa.Table.from_pandas(_typed(chunk, table), schema=schema, preserve_index=False)
            )
            rows += len(chunk)
    return rows


def export(db, table: str, start, end, fmt: str, out, rows: int = CHUNK_ROWS) -> int:
    """Stream `table` over [start, end) to `out` (a text stream for CSV, a path for Parquet,
    written beside it first and renamed: a failed export leaves no half file)."""
    frames = chunks(db, table, start, end, rows)
    if fmt == "csv":
        return write_csv(frames, out, table)
    part = Path(f"{out}.part")
    written = write_parquet(frames, part, table)
    part.replace(out)
    return written
