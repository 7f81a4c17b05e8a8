"""Schema versions of the store and the ordered steps between them.

The version is kept in `PRAGMA user_version`; `SCHEMA_VERSION` is the number of steps, step i
taking a database from version i to i + 1. Opening for writing applies the missing steps in one
transaction (all or nothing), so a database is always at one known version. A database newer than
this code is refused, and so is one missing a table or column its version promises (dropped by
hand): recreating it empty would hide lost data.

To change the schema: edit `pipelines.store.SCHEMA` and append a step to `STEPS` (new columns:
`add_columns`; renames, drops, type changes: sqlite-utils' `table.transform`). Never edit a step
already released. Step 1 brings a pre-version database additively up to the *current* SCHEMA, so
a later step must accept finding its new columns already there (`add_columns` does).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import sqlite_utils

from pipelines.core.errors import StoreError
from pipelines.store.guard import REBUILD

log = logging.getLogger(__name__)

# name -> (columns with SQLite types, primary key, not-null columns), as in pipelines.store
Schema = dict[str, tuple[dict[str, type], tuple[str, ...], set[str]]]
Indexes = dict[str, list[tuple[str, ...]]]
Step = Callable[[sqlite_utils.Database, Schema, Indexes], None]


def create_missing(db: sqlite_utils.Database, schema: Schema, indexes: Indexes) -> None:
    """Create every table, column and index of `schema` that is not there yet."""
    for name, (columns, pk, not_null) in schema.items():
        table = db.table(name)
        if not table.exists():
            table.create(columns, pk=pk if len(pk) > 1 else pk[0], not_null=not_null)
        else:
            add_columns(db, name, columns)
        for cols in indexes.get(name, []):
            table.create_index(list(cols), if_not_exists=True)


def add_columns(db: sqlite_utils.Database, table: str, columns: dict[str, type]) -> None:
    """Add the `columns` that `table` lacks (nullable; existing rows get NULL)."""
    present = db.table(table).columns_dict
    for column, col_type in columns.items():
        if column not in present:
            db.table(table).add_column(column, col_type)


def _adopt_unversioned(db: sqlite_utils.Database, schema: Schema, indexes: Indexes) -> None:
    # Code before schema versions created, at every open, whatever tables and columns were missing
    # (llm_failures, llm_calls.usage_estimated and most windows columns came that way): doing the
    # same once gives such a database everything it may lack, with its rows untouched.
    create_missing(db, schema, indexes)


def _runs_pid_host(db: sqlite_utils.Database, schema: Schema, indexes: Indexes) -> None:
    # `status` tells a killed run (its process gone) from a live one by the pid and host it recorded.
    add_columns(db, "runs", {"pid": int, "host": str})


def _run_pairs(db: sqlite_utils.Database, schema: Schema, indexes: Indexes) -> None:
    # Which pairs a run covers becomes rows (queried with `=`), filled from the comma lists that
    # `runs.pair` held until now (and still holds, as display text).
    create_missing(db, {"run_pairs": schema["run_pairs"]}, indexes)
    rows = db.execute("SELECT run_id, pair FROM runs WHERE pair IS NOT NULL AND pair != ''").fetchall()
    pairs = [{"run_id": run_id, "pair": name} for run_id, text in rows for name in _names(text)]
    db.table("run_pairs").upsert_all(pairs, pk=("run_id", "pair"))


def _names(text: str) -> list[str]:
    return [name for name in (part.strip() for part in text.split(",")) if name]


def _window_legs(db: sqlite_utils.Database, schema: Schema, indexes: Indexes) -> None:
    # Pairs became two generic legs: gate_*/bitfinex_* window columns are leg a/b, rows name their
    # legs and length, sides are a/b. Every window stored so far was Gate (a) vs Bitfinex (b).
    present = db.table("windows").columns_dict
    for old in present:
        new = _leg_column(old)
        if new != old:
            if new in present:  # step 1 of a pre-version database added it, empty
                db.execute(f'ALTER TABLE windows DROP COLUMN "{new}"')
            db.execute(f'ALTER TABLE windows RENAME COLUMN "{old}" TO "{new}"')
    add_columns(db, "windows", schema["windows"][0])
    for column in ("long_side", "short_side"):
        db.execute(
            f"UPDATE windows SET {column} = CASE {column} WHEN 'gate' THEN 'a' WHEN 'bitfinex' THEN 'b'"
            f" ELSE {column} END"
        )
    _fill_identity(db)
    _rehash(db)


def _leg_column(name: str) -> str:
    for old, new in (("gate_", "a_"), ("bitfinex_", "b_"), ("z_gate_", "z_a_"), ("z_bitfinex_", "z_b_")):
        if name.startswith(old):
            return new + name[len(old) :]
    return name


def _fill_identity(db: sqlite_utils.Database) -> None:
    from pipelines.core.columns import BITFINEX, GATE
    from pipelines.core.timeutil import parse_iso
    from pipelines.venues.registry import venue

    rows = db.execute(
        "SELECT pair, window_end, window_start FROM windows WHERE a_exchange IS NULL"
    ).fetchall()
    # The symbols were not stored: a pair's name was its coin in every default config.
    updates = [
        (
            GATE,
            venue(GATE).symbol_for(pair),
            BITFINEX,
            venue(BITFINEX).symbol_for(pair),
            (parse_iso(end) - parse_iso(start)).total_seconds() / 3600,
            pair,
            end,
        )
        for pair, end, start in rows
    ]
    db.conn.executemany(
        "UPDATE windows SET a_exchange = ?, a_symbol = ?, b_exchange = ?, b_symbol = ?, window_hours = ?"
        " WHERE pair = ? AND window_end = ?",
        updates,
    )


def _rehash(db: sqlite_utils.Database) -> None:
    # The sides' new names change the features hash; verdicts made for the old hash of a window
    # take its new hash, so cached verdicts stay valid and nothing is analysed again.
    import pandas as pd

    from pipelines.core.features_hash import add_features_hash

    frame = pd.read_sql_query("SELECT * FROM windows", db.conn)
    if frame.empty:
        return
    fresh = add_features_hash(frame.drop(columns=["features_hash"]))["features_hash"]
    changes = [
        (new, pair, end, old)
        for new, pair, end, old in zip(
            fresh, frame["pair"], frame["window_end"], frame["features_hash"], strict=True
        )
        if new != old
    ]
    db.conn.executemany(
        "UPDATE verdicts SET feature_hash = ? WHERE pair = ? AND window_end = ? AND feature_hash IS ?",
        changes,
    )
    db.conn.executemany(
        "UPDATE windows SET features_hash = ? WHERE pair = ? AND window_end = ? AND features_hash IS ?",
        changes,
    )


def _backtests(db: sqlite_utils.Database, schema: Schema, indexes: Indexes) -> None:
    # `arbdb backtest` stores its runs and their trades; nothing older to fill them from.
    create_missing(db, {name: schema[name] for name in ("backtests", "backtest_trades")}, indexes)


def _verdict_tiers(db: sqlite_utils.Database, schema: Schema, indexes: Indexes) -> None:
    # LLM tiers: every tier's verdict in verdict_tiers, the tier of each call, failure and final
    # verdict. Verdicts stored so far were tier 1's (one model): they become its cached verdicts,
    # so nothing is analysed again.
    create_missing(db, {"verdict_tiers": schema["verdict_tiers"]}, indexes)
    add_columns(db, "verdicts", schema["verdicts"][0])
    add_columns(db, "llm_calls", schema["llm_calls"][0])
    add_columns(db, "llm_failures", schema["llm_failures"][0])
    db.execute(
        "INSERT OR IGNORE INTO verdict_tiers (pair, window_end, prompt_version, tier, model, risk, action,"
        " confidence, rationale, alert, feature_hash, run_id, created_at)"
        " SELECT pair, window_end, prompt_version, 1, model, risk, action, confidence, rationale, alert,"
        " feature_hash, run_id, created_at FROM verdicts"
    )
    db.execute("UPDATE verdicts SET tier = 1, models = json_array(model) WHERE tier IS NULL")
    db.execute("UPDATE llm_calls SET tier = 1 WHERE tier IS NULL")
    db.execute("UPDATE llm_failures SET tier = 1 WHERE tier IS NULL")


def _settlement_evidence(db: sqlite_utils.Database, schema: Schema, indexes: Indexes) -> None:
    # Settlements say what decided them and what their prediction means; the tickers keep a rate the
    # feed states as settled; windows say what their legs' predictions mean. Rows stored before
    # were derived from the data by older rules: they are marked "data" with no kind, and the next
    # backfill over their range re-derives them from the stored minutes (`load.minutes.rederive_older`).
    for table in ("funding", "tickers", "windows"):
        add_columns(db, table, schema[table][0])
    db.execute("UPDATE funding SET evidence = 'data' WHERE evidence IS NULL")


STEPS: tuple[tuple[str, Step], ...] = (
    ("adopt a database made before schema versions (add missing tables and columns)", _adopt_unversioned),
    ("runs: pid and host of the process that ran each run", _runs_pid_host),
    ("run_pairs: the pairs of every run as rows, from the runs.pair comma lists", _run_pairs),
    ("windows: legs a and b instead of gate and bitfinex, each row naming its legs", _window_legs),
    ("backtests, backtest_trades: stored `arbdb backtest` runs and their trades", _backtests),
    ("LLM tiers: verdict_tiers from stored verdicts, tier and gateway cost in the ledger", _verdict_tiers),
    ("settlement evidence: stated rates, prediction kinds, evidence and warnings", _settlement_evidence),
)
SCHEMA_VERSION = len(STEPS)


def missing_parts(db: sqlite_utils.Database, schema: Schema) -> list[str]:
    """The tables and columns of `schema` absent from `db`, as `table x` / `column x.y`."""
    out = []
    for name, (columns, _, _) in schema.items():
        table = db.table(name)
        if not table.exists():
            out.append(f"table {name}")
            continue
        present = table.columns_dict
        out += [f"column {name}.{column}" for column in columns if column not in present]
    return out


def _listed(parts: list[str]) -> str:
    shown = ", ".join(parts[:4])
    return shown + (f" and {len(parts) - 4} more" if len(parts) > 4 else "")


def user_version(db: sqlite_utils.Database, path: Path) -> int:
    """The database's schema version; a version newer than this code is refused."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{path}: schema version {version} is newer than this arbdb understands ({SCHEMA_VERSION}); "
            "upgrade arbdb, or use the version that wrote it"
        )
    return version


def migrate(db: sqlite_utils.Database, path: Path, schema: Schema, indexes: Indexes) -> None:
    """Bring `db` to SCHEMA_VERSION (creating an empty one), then refuse it if anything is missing."""
    if user_version(db, path) < SCHEMA_VERSION:
        _upgrade(db, path, schema, indexes)
    missing = missing_parts(db, schema)
    if missing:
        raise StoreError(f"{path}: {_listed(missing)} missing from the database (dropped?); {REBUILD}")
    for name in schema:
        for cols in indexes.get(name, []):  # an index holds no data of its own: recreate it quietly
            db.table(name).create_index(list(cols), if_not_exists=True)


def _upgrade(db: sqlite_utils.Database, path: Path, schema: Schema, indexes: Indexes) -> None:
    db.conn.execute("BEGIN IMMEDIATE")  # the write lock first: two processes never migrate at once
    try:
        version = user_version(db, path)  # again under the lock: another process may have migrated
        if version == 0 and not db.table_names():
            create_missing(db, schema, indexes)
            log.debug("%s: new database, schema version %d", path, SCHEMA_VERSION)
        else:
            for number, (what, step) in enumerate(STEPS[version:], start=version + 1):
                log.info("%s: migrating schema version %d -> %d: %s", path, number - 1, number, what)
                step(db, schema, indexes)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except BaseException:
        db.conn.rollback()
        raise
    db.conn.execute("COMMIT")


def check_readable(db: sqlite_utils.Database, path: Path, schema: Schema) -> None:
    """Refuse, without writing, a database a read-only command cannot read as this code expects."""
    version = user_version(db, path)
    missing = missing_parts(db, schema)
    if missing and version < SCHEMA_VERSION:
        raise StoreError(
            f"{path}: made by an older arbdb (schema version {version}), lacks {_listed(missing)}; "
            "run a write command such as `arbdb backfill` once to migrate it"
        )
    if missing:
        raise StoreError(f"{path}: {_listed(missing)} missing from the database (dropped?); {REBUILD}")
