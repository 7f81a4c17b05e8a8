"""The SQLite store: schema, connection, and the upsert used by every stage.

All tables are created up front with explicit primary keys (natural keys) so every write is an
idempotent upsert. Timestamps are ISO 8601 UTC text (see `pipelines.core.timeutil`). docs/schema.md
is generated from SCHEMA (`make docs`; tests/docs/test_schema.py fails when it drifts). A schema
change needs a step in `pipelines.store.migrations` too (schema version in `PRAGMA user_version`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils

from pipelines.store import guard as store_guard
from pipelines.store import migrations, views

# name -> (columns with SQLite types, primary key, not-null columns)
SCHEMA: dict[str, tuple[dict[str, type], tuple[str, ...], set[str]]] = {
    "tickers": (
        {
            "exchange": str,
            "symbol": str,
            "ts": str,  # minute, UTC
            "mark_price": float,
            "index_price": float,
            "last_price": float,
            "funding_rate": float,
            "predicted_funding_rate": float,
            "funding_timestamp": str,
            "open_interest": float,
            "stated_rate": float,  # a settled rate the feed states in this minute (OKX settFundingRate)
            "stated_time": str,  # the funding time it was settled at (OKX prevFundingTime)
        },
        ("exchange", "symbol", "ts"),
        {"exchange", "symbol", "ts"},
    ),
    "funding": (
        {
            "exchange": str,
            "symbol": str,
            "funding_time": str,
            "rate": float,  # settled rate, fraction per period
            "predicted_rate": float,  # last predicted rate before settlement
            "interval_hours": float,
            "apr": float,  # rate * 8760 / interval_hours, fraction
            "stated_rate": float,  # the settled rate as the venue's feed states it, where it does
            "predicted_kind": str,  # settled | estimate | forecast (pipelines.core.columns.PREDICTED_KINDS)
            "evidence": str,  # data | stated | hint (pipelines.core.columns.EVIDENCE)
            "warning": str,  # ambiguous evidence, or evidence against the configuration
        },
        ("exchange", "symbol", "funding_time"),
        {"exchange", "symbol", "funding_time", "rate", "interval_hours", "apr"},
    ),
    "extracted": (
        {
            "exchange": str,
            "symbol": str,
            "day": str,  # YYYY-MM-DD
            "source": str,  # replay | datasets
            "messages": int,
            "rows": int,  # minute rows loaded
            "loaded_at": str,
        },
        ("exchange", "symbol", "day"),
        {"exchange", "symbol", "day", "source"},
    ),
    "windows": (
        {  # columns declared in pipelines.transform.scoring (WINDOW_COLUMNS); rates/APRs are fractions
            "pair": str,
            "window_start": str,
            "window_end": str,  # the settlement time naming the window
            "a_exchange": str,  # leg a (Tardis id, symbol), then leg b, in the pair's order
            "a_symbol": str,
            "b_exchange": str,
            "b_symbol": str,
            "window_hours": float,
            "a_rate": float,  # leg a's settlements in the window, summed
            "b_rate": float,
            "a_interval_hours": float,
            "b_interval_hours": float,
            "a_apr": float,
            "b_apr": float,
            "funding_diff": float,  # a minus b, per window
            "carry_apr": float,
            "fees_apr": float,
            "net_carry_apr": float,  # |carry_apr| - fees_apr
            "break_even_periods": float,
            "long_side": str,  # a | b
            "short_side": str,
            "a_predicted": float,
            "b_predicted": float,
            "a_forecast_error": float,  # settled - predicted; NULL where the kind is settled or mixed
            "b_forecast_error": float,
            "mark_spread_mean_bps": float,
            "mark_spread_min_bps": float,
            "mark_spread_max_bps": float,
            "mark_spread_last_bps": float,
            "a_basis_mean_bps": float,
            "a_basis_last_bps": float,
            "b_basis_mean_bps": float,
            "b_basis_last_bps": float,
            "expected_minutes": int,
            "a_minutes": int,
            "b_minutes": int,
            "aligned_minutes": int,
            "a_longest_gap_minutes": int,
            "b_longest_gap_minutes": int,
            "a_unchanged_minutes": int,
            "b_unchanged_minutes": int,
            "a_settled": int,  # settlements in the window
            "b_settled": int,
            "a_interval_inferred_hours": float,
            "b_interval_inferred_hours": float,
            "a_predicted_kind": str,  # settled | estimate | forecast | mixed: what a_predicted is
            "b_predicted_kind": str,
            "z_funding_diff": float,
            "z_carry_apr": float,
            "z_net_carry_apr": float,
            "z_a_rate": float,
            "z_b_rate": float,
            "z_a_apr": float,
            "z_b_apr": float,
            "z_a_forecast_error": float,
            "z_b_forecast_error": float,
            "z_mark_spread_mean_bps": float,
            "z_mark_spread_min_bps": float,
            "z_mark_spread_max_bps": float,
            "z_mark_spread_last_bps": float,
            "z_a_basis_mean_bps": float,
            "z_a_basis_last_bps": float,
            "z_b_basis_mean_bps": float,
            "z_b_basis_last_bps": float,
            "complete": int,  # 0 = stored but never flagged
            "warnings": str,  # JSON list: missing settlement, low coverage, stale, interval mismatch,
            # and each settlement's own warning (funding.warning)
            "flagged": int,
            "reasons": str,  # JSON list of words a trader reads
            "features_hash": str,  # sha256 of rounded features + z-scores (LLM cache key)
        },
        ("pair", "window_end"),
        {"pair", "window_end", "window_start"},
    ),
    "verdicts": (
        {
            "pair": str,
            "window_end": str,
            "prompt_version": str,
            "risk": str,  # LOW | MEDIUM | HIGH
            "action": str,  # HOLD | WATCH | OPEN_ARB
            "confidence": float,  # 0..1
            "rationale": str,
            "alert": str,
            "model": str,  # gateway model id, or "rules"
            "tier": int,  # the tier whose verdict this is (the last that gave one)
            "models": str,  # JSON list: the model of every tier that judged the window, in order
            "feature_hash": str,
            "run_id": str,
            "created_at": str,
        },
        ("pair", "window_end", "prompt_version"),
        {"pair", "window_end", "prompt_version", "risk", "action", "confidence", "model", "feature_hash"},
    ),
    "verdict_tiers": (  # every tier's verdict on a window; `verdicts` holds the last tier's
        {
            "pair": str,
            "window_end": str,
            "prompt_version": str,
            "tier": int,  # 1 = triage (every flagged window), 2.. = escalations
            "model": str,
            "risk": str,
            "action": str,
            "confidence": float,
            "rationale": str,
            "alert": str,
            "feature_hash": str,
            "run_id": str,
            "created_at": str,
        },
        ("pair", "window_end", "prompt_version", "tier"),
        {"pair", "window_end", "prompt_version", "tier", "model", "risk", "action", "confidence"}
        | {"feature_hash"},
    ),
    "llm_calls": (
        {
            "id": int,
            "ts": str,
            "run_id": str,
            "model": str,
            "batch_size": int,
            "window_ids": str,  # JSON list of "PAIR@window_end"
            "prompt_tokens": int,
            "completion_tokens": int,
            "cost_usd": float,
            "latency_ms": float,
            "status": str,  # ok | invalid | error | skipped
            "error": str,
            "usage_estimated": int,  # 1 when the reply had no usage and tokens were estimated
            "tier": int,  # the analyzer tier the call was made for (NULL before tiers: tier 1)
            "gateway_cost_usd": float,  # the cost the gateway reported in `usage`, NULL when none
        },
        ("id",),
        {"ts", "model", "batch_size", "status"},
    ),
    "llm_failures": (
        {
            "pair": str,
            "window_end": str,
            "prompt_version": str,
            "run_id": str,
            "model": str,
            "reason": str,  # invalid verdict, gateway error, or "budget: ..." when skipped
            "ts": str,
            "tier": int,  # the tier that gave no verdict (NULL before tiers: tier 1)
        },
        ("pair", "window_end", "prompt_version", "run_id"),
        {"pair", "window_end", "prompt_version", "run_id", "reason", "ts"},
    ),
    "runs": (
        {
            "run_id": str,
            "job": str,  # funding_cycle | backfill | analyze | cost_report ...
            "pair": str,  # display text: the pair, or a range run's pairs comma-joined (see run_pairs)
            "window_start": str,
            "window_end": str,
            "started_at": str,
            "finished_at": str,
            "status": str,  # running | done | failed | pending | interrupted (found dead by a later run)
            "counts": str,  # JSON object
            "error": str,
            "pid": int,  # process that ran it, with `host`: tells a killed run from a live one
            "host": str,
        },
        ("run_id",),
        {"run_id", "job", "started_at", "status"},
    ),
    "run_pairs": (  # the pairs a run covers, one row each (runs.pair is their display text)
        {"run_id": str, "pair": str},
        ("run_id", "pair"),
        {"run_id", "pair"},
    ),
    "reports": (
        {
            "id": int,
            "created_at": str,
            "report_date": str,
            "period_start": str,
            "period_end": str,
            "subject": str,
            "status": str,  # pending (being delivered) | sent | outboxed
            "recipients": str,
            "eml_path": str,
            "sent_at": str,
            "error": str,
            "message_id": str,  # set once at composition; a message is sent at most once
            "attempts": int,  # SMTP attempts so far
            "cost_usd": float,  # LLM cost of the report day, USD
        },
        ("id",),
        {"created_at", "report_date", "status"},
    ),
    "backtests": (  # one run of `arbdb backtest`; id = hash of pair, range, rules, notional, fees, slippage
        {
            "id": str,
            "pair": str,
            "a_leg": str,  # exchange:symbol
            "b_leg": str,
            "range_start": str,  # windows ending in (range_start, range_end]
            "range_end": str,
            "rules": str,  # "entry net:0.25; exit net:0,sign,end"
            "notional": float,  # per leg, quote currency
            "fee_a": float,  # taker fee per fill, fraction
            "fee_b": float,
            "slippage_bps": float,  # per fill
            "window_hours": float,
            "funding_pnl": float,  # quote currency, like every *_pnl, fees, slippage, max_drawdown
            "fees": float,
            "slippage": float,
            "spread_pnl": float,
            "net_pnl": float,
            "return_on_notional": float,  # fraction
            "annualised_return": float,  # fraction per year of range
            "max_drawdown": float,
            "sharpe_per_period": float,  # per window period, not annualised
            "trades": int,
            "time_in_market": float,  # fraction of the range
        },
        ("id",),
        {"id", "pair", "range_start", "range_end", "rules"},
    ),
    "backtest_trades": (
        {
            "backtest_id": str,
            "trade": int,  # 0, 1, ... in time order
            "pair": str,
            "entry_time": str,  # close of the window whose entry rule fired
            "exit_time": str,  # close of the window whose exit rule fired, or the range end
            "long_side": str,  # a | b
            "short_side": str,
            "long_leg": str,  # exchange:symbol
            "short_leg": str,
            "entry_net_carry_apr": float,
            "exit_reason": str,  # net | sign | hold | end
            "settlements": int,  # both legs' settlements paid while open
            "funding_pnl": float,
            "fees": float,
            "slippage": float,
            "spread_pnl": float,
            "marks_missing": int,  # 1: no fresh mark at entry or exit, spread P&L taken as 0
            "net_pnl": float,
            "hours": float,
            "return_on_notional": float,
            "net_apr": float,  # return_on_notional annualised over the hours held
        },
        ("backtest_id", "trade"),
        {"backtest_id", "trade", "pair", "entry_time", "exit_time"},
    ),
}

INDEXES = {
    "tickers": [("ts",)],
    "funding": [("funding_time",)],
    "llm_calls": [("ts",), ("run_id",)],
    "runs": [("job", "window_end")],
    "run_pairs": [("pair",)],
}


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
