"""Schema step 6 on a real version-4 database: the verdicts stored so far become tier 1's cached
verdicts (a rerun asks the triage model nothing), and the ledger's rows are tier 1's."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from datetime import UTC, date, datetime

import pytest

from pipelines.analyze.stage import analyze_range, make_client
from pipelines.core.errors import StoreError
from pipelines.store import open_db, open_readonly
from pipelines.store.migrations import SCHEMA_VERSION
from tests.fixtures.llm import online_settings, tiered_settings
from tests.fixtures.llm_server import default_verdict
from tests.fixtures.llm_windows import sample_windows

NOW = datetime(2024, 3, 10, tzinfo=UTC)
NEW_COLUMNS = {
    "verdicts": ("tier", "models"),
    "llm_calls": ("tier", "gateway_cost_usd"),
    "llm_failures": ("tier",),
}


def as_version_4(path) -> None:
    """What version 4 stored: no verdict_tiers, none of the tier columns."""
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("DROP TABLE verdict_tiers")
        for table, columns in NEW_COLUMNS.items():
            for column in columns:
                conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        conn.execute("PRAGMA user_version = 4")
        conn.commit()


def analyze(db, cfg):
    client = make_client(cfg, backoff_base=0.01)
    return analyze_range(db, cfg, date(2024, 3, 1), date(2024, 3, 5), None, "r", NOW, client=client)


def test_step_6_makes_stored_verdicts_tier_1_and_a_tiered_rerun_asks_only_tier_2(settings, llm_server):
    db = open_db(settings.database)
    rows = sample_windows(("BTC", "ETH"), datetime(2024, 3, 1, 8, tzinfo=UTC), 4, seed=5)
    db["windows"].upsert_all(rows, pk=("pair", "window_end"), alter=True)
    first = analyze(db, online_settings(settings, llm_server))
    db.close()
    as_version_4(settings.database)
    with pytest.raises(StoreError, match=r"schema version 4\), lacks column verdicts.tier"):
        open_readonly(settings.database)  # a read-only command is told to migrate, writes nothing

    db = open_db(settings.database)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db["verdict_tiers"].count == db["verdicts"].count == first.analysed
    assert {(t["tier"], t["model"]) for t in db["verdict_tiers"].rows} == {(1, "deepseek-v3.2")}
    assert {json.loads(v["models"])[0] for v in db["verdicts"].rows} == {"deepseek-v3.2"}
    assert {c["tier"] for c in db["llm_calls"].rows} == {1}
    llm_server.reset()
    tiers = [{"model": "deepseek-v3.2"}, {"model": "gpt-4.1", "when": "OPEN_ARB"}]
    again = analyze(db, tiered_settings(settings, llm_server, tiers))
    ids = [f"{r['pair']}@{r['window_end']}" for r in rows if r["flagged"]]
    assert llm_server.asked("deepseek-v3.2") == [] and again.cached == len(ids)
    assert sorted(llm_server.asked("gpt-4.1")) == sorted(
        i for i in ids if default_verdict(i)["action"] == "OPEN_ARB"
    )
