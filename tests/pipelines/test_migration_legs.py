"""Schema step 4 on a real version-3 database: gate_/bitfinex_ window columns become legs a and b,
and the LLM verdicts cached for those windows stay valid (a rerun asks the gateway nothing)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta

import pandas as pd
import sqlite_utils

from pipelines.analyze.stage import analyze_range, make_client
from pipelines.core.columns import BITFINEX, GATE
from pipelines.core.features_hash import add_features_hash
from pipelines.store import SCHEMA, open_db
from pipelines.store.migrations import SCHEMA_VERSION
from pipelines.store.views import VIEWS
from pipelines.transform.windows_stage import update_windows
from tests.fixtures.llm import online_settings
from tests.fixtures.windows_data import store_history

START = datetime(2024, 3, 1, tzinfo=UTC)
END = START + timedelta(days=4)
NOW = datetime(2024, 3, 6, tzinfo=UTC)
IDENTITY = ("a_exchange", "a_symbol", "b_exchange", "b_symbol", "window_hours")


def old_name(column: str) -> str:
    """The window column's name in schema version 3 (Gate was leg a, Bitfinex leg b)."""
    for new, old in (("z_a_", "z_gate_"), ("z_b_", "z_bitfinex_"), ("a_", "gate_"), ("b_", "bitfinex_")):
        if column.startswith(new) and column not in IDENTITY:
            return old + column[len(new) :]
    return column


def as_version_3(path) -> None:
    """Turn the windows of a current database into what version 3 stored: old column names, no
    identity columns, sides gate/bitfinex, and the hash version 3 computed over those values (the
    same features in the same order; only the side words differ), on windows and their verdicts."""
    db = sqlite_utils.Database(path)
    for view in reversed(VIEWS):  # version 3 had no views (and they would stop DROP COLUMN)
        db.execute(f"DROP VIEW {view}")
    for column in SCHEMA["windows"][0]:
        if column in IDENTITY:
            db.execute(f"ALTER TABLE windows DROP COLUMN {column}")
        elif old_name(column) != column:
            db.execute(f"ALTER TABLE windows RENAME COLUMN {column} TO {old_name(column)}")
    for column in ("long_side", "short_side"):
        db.execute(f"UPDATE windows SET {column} = CASE {column} WHEN 'a' THEN 'gate' ELSE 'bitfinex' END")
    frame = pd.read_sql_query("SELECT * FROM windows", db.conn)
    renamed = frame.rename(columns={old_name(c): c for c in SCHEMA["windows"][0]})
    hashes = add_features_hash(renamed.drop(columns="features_hash"))["features_hash"]
    for pair, end, old, new in zip(
        frame["pair"], frame["window_end"], frame["features_hash"], hashes, strict=True
    ):
        db.execute("UPDATE windows SET features_hash = ? WHERE pair = ? AND window_end = ?", [new, pair, end])
        db.execute("UPDATE verdicts SET feature_hash = ? WHERE feature_hash = ?", [new, old])
    db.execute("PRAGMA user_version = 3")
    db.conn.commit()
    db.close()


def flag_all(settings):
    transform = settings.transform.model_copy(update={"net_carry_apr_floor": -10.0})  # every complete window
    return settings.model_copy(update={"transform": transform})


def analyze(db, settings):
    return analyze_range(
        db, settings, START, END, None, "run", NOW, client=make_client(settings, backoff_base=0.01)
    )


def test_step_4_renames_fills_the_legs_and_keeps_cached_verdicts_valid(settings, llm_server):
    settings = online_settings(flag_all(settings), llm_server)
    pair = settings.pair("BTC")
    db = open_db(settings.database)
    store_history(db, pair, START, days=4)
    update_windows(db, settings.window_config(), pair, START, END)
    first = analyze(db, settings)
    before = {r["window_end"]: r for r in db["windows"].rows}
    verdicts = sorted((v["window_end"], v["risk"], v["action"]) for v in db["verdicts"].rows)
    asked = len(llm_server.requests)
    assert first.analysed >= 3 and asked >= 1 and len(verdicts) == first.analysed
    db.close()

    as_version_3(settings.database)
    with closing(sqlite3.connect(settings.database)) as conn:
        assert "gate_rate" in [r[1] for r in conn.execute("PRAGMA table_info(windows)")]

    db = open_db(settings.database)  # migrates: step 4
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    after = {r["window_end"]: r for r in db["windows"].rows}
    assert after == before  # names, sides, identity and hashes as the current code writes them
    assert {(r["a_exchange"], r["a_symbol"], r["b_exchange"], r["b_symbol"]) for r in after.values()} == {
        (GATE, "BTC_USDT", BITFINEX, "BTCF0:USTF0")
    }
    assert update_windows(db, settings.window_config(), pair, START, END) == 0  # recomputing changes nothing
    rerun = analyze(db, settings)
    assert len(llm_server.requests) == asked and rerun.cached == first.analysed and rerun.analysed == 0
    assert sorted((v["window_end"], v["risk"], v["action"]) for v in db["verdicts"].rows) == verdicts
