"""The store's SQL views (pipelines.store.views) on seeded rows, and the datasette metadata file."""

from __future__ import annotations

from pathlib import Path

import yaml

from pipelines.store import SCHEMA, open_db
from pipelines.store.views import VIEWS
from tests.pipelines.backtest.seed import A, B, seed, settlement, window

METADATA = Path(__file__).resolve().parents[2] / "metadata.yml"
T = "2024-03-01T{}:00:00Z".format


def verdict(end, action, created, version):
    return {
        "pair": "BTC",
        "window_end": end,
        "prompt_version": version,
        "risk": "LOW",
        "action": action,
        "confidence": 0.5,
        "model": "rules",
        "feature_hash": "h",
        "created_at": created,
    }


def test_latest_window_with_its_latest_verdict_and_settlements_side_by_side(db):
    seed(
        db,
        [window(T("08"), 0.1), window(T("16"), 0.2)],
        [settlement(A, T("08"), 0.0003, 8), settlement(A, T("16"), 0.0002, 8)]
        + [settlement(B, T(h), 0.0001, 4) for h in ("04", "08", "12", "16")],
        verdicts=[
            verdict(T("16"), "WATCH", "2024-03-02T00:00:00Z", "v1"),
            verdict(T("16"), "OPEN_ARB", "2024-03-03T00:00:00Z", "v2"),
        ],
    )
    latest = list(db.query("SELECT pair, window_end, net_carry_apr, action FROM latest_windows"))
    assert latest == [{"pair": "BTC", "window_end": T("16"), "net_carry_apr": 0.2, "action": "OPEN_ARB"}]
    both = db.execute(
        "SELECT funding_time, a_rate, b_rate, rate_diff FROM pair_settlements ORDER BY 1"
    ).fetchall()
    assert [row[:3] for row in both] == [
        (T("04"), None, 0.0001),
        (T("08"), 0.0003, 0.0001),
        (T("12"), None, 0.0001),
        (T("16"), 0.0002, 0.0001),
    ]
    assert both[1][3] == 0.0003 - 0.0001 and both[0][3] is None


def test_views_are_made_once_and_remade_when_their_sql_changes(settings):
    db = open_db(settings.database)
    before = db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'view' ORDER BY name").fetchall()
    db.execute("DROP VIEW latest_windows")
    db.execute("CREATE VIEW pair_settlements2 AS SELECT 1")
    db.conn.commit()
    db.close()
    again = open_db(settings.database)
    after = again.execute("SELECT name, sql FROM sqlite_master WHERE type = 'view' ORDER BY name").fetchall()
    assert [n for n, _ in before] == sorted(VIEWS)
    assert [v for v in after if v[0] in VIEWS] == before


def test_every_column_the_metadata_describes_exists(db):
    tables = yaml.safe_load(METADATA.read_text())["databases"]["arbdb"]["tables"]
    for name, meta in tables.items():
        if name in SCHEMA:
            present = set(SCHEMA[name][0])
        else:
            assert name in VIEWS, f"{name}: neither a table nor a view"
            present = {row[1] for row in db.execute(f"PRAGMA table_info({name})")}
        assert meta["description"], name
        missing = set(meta.get("columns", {})) - present
        assert not missing, f"{name}: {sorted(missing)}"
    assert set(VIEWS) <= set(tables)
