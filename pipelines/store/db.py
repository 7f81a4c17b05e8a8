"""Opening the store (guarded, migrated, views in step), transactions, and the upsert every write uses."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import sqlite_utils

from pipelines.store import guard as store_guard
from pipelines.store import migrations, views
from pipelines.store.schema import INDEXES, SCHEMA


def open_db(path: Path | str) -> sqlite_utils.Database:
    """Open the store at `path` for writing, in WAL mode, at the current schema version.

    A missing file (and folder) is created with every table; an older schema is migrated
    (`pipelines.store.migrations`). A path that is a folder, unreadable or read-only, a file that is not
    a database or is damaged (PRAGMA quick_check), a newer schema or a dropped table or
    column raise `StoreError` naming the path, before anything is written.
    """
    if str(path) == ":memory:":
        db = sqlite_utils.Database(memory=True)
        migrations.migrate(db, Path(":memory:"), SCHEMA, INDEXES)
        views.create_views(db)
        return db
    path = Path(path)
    store_guard.check_write_path(path)
    return _prepared(path, lambda: sqlite3.connect(path), write=True)


def open_readonly(path: Path | str) -> sqlite_utils.Database:
    """Open the existing store at `path` for reading only: never creates, migrates or writes.

    Works on a read-only file or folder (`mode=ro`, or `immutable=1` when the WAL index cannot be
    opened). The same problems as `open_db` raise `StoreError`, and so does a missing file.
    """
    path = Path(path)
    store_guard.check_read_path(path)
    return _prepared(path, lambda: store_guard.connect_readonly(path), write=False)


def _prepared(path: Path, connect: Callable[[], sqlite3.Connection], write: bool) -> sqlite_utils.Database:
    """Connect, check and set up; an sqlite3 error on the way becomes a StoreError naming `path`."""
    try:
        conn = connect()
    except sqlite3.Error as err:
        raise store_guard.translate(err, path) from err
    try:
        db = sqlite_utils.Database(conn)
        db.execute("PRAGMA busy_timeout = 30000")
        store_guard.check_integrity(conn, path)
        if write:
            db.enable_wal()
            db.execute("PRAGMA synchronous = NORMAL")
            views.drop_before_upgrade(db, migrations.SCHEMA_VERSION)
            migrations.migrate(db, path, SCHEMA, INDEXES)
            views.create_views(db)  # pipelines.store.views: SQL views over the tables, kept in step
        else:
            migrations.check_readable(db, path, SCHEMA)
        return db
    except BaseException as err:
        conn.close()
        if isinstance(err, sqlite3.Error):
            raise store_guard.translate(err, path) from err
        raise


@contextmanager
def transaction(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """One atomic unit of work: everything inside commits together or not at all.

    The outermost level takes the write lock up front (BEGIN IMMEDIATE): a deferred transaction that
    reads first and writes later fails at once, without waiting, when another process wrote in
    between (WAL). Nested levels are savepoints.
    """
    if db.conn.in_transaction:
        with db.atomic():
            yield db
        return
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.rollback()
        raise
    db.conn.execute("COMMIT")


def upsert(db: sqlite_utils.Database, table: str, rows: Iterable[dict], batch_size: int = 2000) -> None:
    """Idempotent write keyed by the table's natural primary key."""
    _, pk, _ = SCHEMA[table]
    db[table].upsert_all(rows, pk=pk if len(pk) > 1 else pk[0], batch_size=batch_size)


def row_counts(db: sqlite_utils.Database) -> dict[str, int]:
    """Rows in every table of the schema, in schema order."""
    return {table: db[table].count for table in SCHEMA}


def frame(db: sqlite_utils.Database, sql: str, params=()) -> pd.DataFrame:
    """The rows of one query as a DataFrame (the store's modules read frames through this)."""
    return pd.read_sql_query(sql, db.conn, params=params)


def data_version(db: sqlite_utils.Database) -> int:
    """A number that changes whenever another connection commits (SQLite's `PRAGMA data_version`)."""
    return db.execute("PRAGMA data_version").fetchone()[0]


def table_between(
    db: sqlite_utils.Database, table: str, column: str, lo: str, hi: str, closed_right: bool = False
) -> pd.DataFrame:
    """Every column of `table`'s rows with lo <= `column` < hi, or lo < `column` <= hi when
    `closed_right` (window ends); an empty frame when the table does not exist."""
    if not db[table].exists():
        return pd.DataFrame()
    where = f"{column} > ? AND {column} <= ?" if closed_right else f"{column} >= ? AND {column} < ?"
    return frame(db, f"SELECT * FROM [{table}] WHERE {where}", [lo, hi])


def chunks_between(
    db: sqlite_utils.Database,
    table: str,
    column: str,
    start: str | None,
    end: str | None,
    order: Sequence[str],
    rows: int,
) -> Iterator[pd.DataFrame]:
    """DataFrames of at most `rows` rows of `table` (its schema's columns) with start <= `column` <
    end (ISO; None: no bound on that side), ordered by `order`."""
    where, params = [], []
    if start is not None:
        where, params = [*where, f"{column} >= ?"], [*params, start]
    if end is not None:
        where, params = [*where, f"{column} < ?"], [*params, end]
    sql = f"SELECT {', '.join(SCHEMA[table][0])} FROM {table}" + (
        f" WHERE {' AND '.join(where)}" if where else ""
    )
    yield from pd.read_sql_query(
        sql + f" ORDER BY {', '.join(order)}", db.conn, params=params, chunksize=rows
    )


def insert_rows(
    db: sqlite_utils.Database, table: str, columns: Sequence[str], rows: Iterable[Sequence]
) -> None:
    """Plain INSERT of value tuples into `columns` of `table` (fast, for benchmarks' scratch
    databases: a duplicate key fails, where `upsert` would replace)."""
    marks = ", ".join("?" * len(columns))
    db.conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
