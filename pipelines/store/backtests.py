"""Backtests: `backtests` (one row per run, keyed by a hash of what decides its result) and
`backtest_trades` (its trades, numbered 0, 1, ... in time order)."""

from __future__ import annotations

import sqlite_utils

from pipelines.store.db import transaction, upsert


def write_run(db: sqlite_utils.Database, run: dict, trades: list[dict], replaces: str | None = None) -> None:
    """Upsert the run and replace its trades, in one transaction (a rerun writes the same rows);
    the run keyed `replaces` (another key for the same command) is deleted with its trades."""
    with transaction(db):
        if replaces and replaces != run["id"]:
            db.execute("DELETE FROM backtest_trades WHERE backtest_id = ?", (replaces,))
            db.execute("DELETE FROM backtests WHERE id = ?", (replaces,))
        upsert(db, "backtests", [run])
        db.execute(
            "DELETE FROM backtest_trades WHERE backtest_id = ? AND trade >= ?", (run["id"], len(trades))
        )
        if trades:
            upsert(db, "backtest_trades", trades)
