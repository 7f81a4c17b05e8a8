"""Schema step 5: a version 4 database gains `backtests` and `backtest_trades`, its rows untouched."""

from __future__ import annotations

import sqlite3
from contextlib import closing

from pipelines.store import open_db
from pipelines.store.migrations import SCHEMA_VERSION
from tests.pipelines.backtest.seed import A, settlement


def test_a_version_4_database_gets_the_backtest_tables(tmp_path):
    path = tmp_path / "arbdb.db"
    db = open_db(path)
    db["funding"].insert(settlement(A, "2024-03-01T08:00:00Z", 0.0001, 8))
    db.close()
    with closing(sqlite3.connect(path)) as conn:  # as arbdb with four steps left it
        conn.execute("DROP TABLE backtest_trades")
        conn.execute("DROP TABLE backtests")
        conn.execute("PRAGMA user_version = 4")
        conn.commit()
    db = open_db(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION  # step 5, then the later ones
    assert {"backtests", "backtest_trades"} <= set(db.table_names())
    assert db["backtest_trades"].pks == ["backtest_id", "trade"]
    assert [r["rate"] for r in db["funding"].rows] == [0.0001]
