"""SQL views for the common questions, created by the store whenever it is opened for writing.

- `window_verdicts`: every window with its latest verdict (if any): carry, sides, flags, action.
- `latest_windows`: the same for each pair's latest window only: "where does each pair stand?".
- `pair_settlements`: each pair's settlements with both legs side by side at every funding time of
  either leg (a leg settling more often shows NULL for the other leg at its extra times).

Views hold no data, so they are not schema steps: `create_views` creates a missing view and
replaces one whose SQL differs from the code's, and they are dropped before a migration
(`drop_before_upgrade`) and made again after it. `metadata.yml` describes their columns.
"""

from __future__ import annotations

import sqlite_utils


def latest_verdicts_sql(where: str = "", per_model: bool = False) -> str:
    """THE query for "the latest verdict of each window" (of each window and model when
    `per_model`), used by the `window_verdicts` view and by `pipelines.store.verdicts`: the newest
    `created_at` wins, a NULL one is the oldest, and a tie goes to the higher prompt version.
    `where` (with its leading " WHERE") filters the verdicts before the latest is taken."""
    partition = "pair, window_end" + (", model" if per_model else "")
    return (
        f"SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY {partition}"
        f" ORDER BY created_at DESC, prompt_version DESC) AS newest FROM verdicts{where}) WHERE newest = 1"
    )


VIEWS = {
    "window_verdicts": f"""
SELECT w.pair, w.window_start, w.window_end, w.a_exchange, w.a_symbol, w.b_exchange, w.b_symbol,
  w.a_rate, w.b_rate, w.funding_diff, w.carry_apr, w.net_carry_apr, w.long_side, w.short_side,
  w.mark_spread_last_bps, w.complete, w.flagged, w.reasons, w.warnings,
  v.action, v.risk, v.confidence, v.model, v.alert, v.prompt_version
FROM windows w LEFT JOIN ({latest_verdicts_sql()}) v ON v.pair = w.pair AND v.window_end = w.window_end""",
    "latest_windows": """
SELECT * FROM window_verdicts wv
WHERE wv.window_end = (SELECT MAX(w2.window_end) FROM windows w2 WHERE w2.pair = wv.pair)""",
    "pair_settlements": """
WITH legs AS (
  SELECT DISTINCT pair, a_exchange, a_symbol, b_exchange, b_symbol FROM windows WHERE a_exchange IS NOT NULL
), times AS (
  SELECT l.*, f.funding_time FROM legs l
    JOIN funding f ON f.exchange = l.a_exchange AND f.symbol = l.a_symbol
  UNION
  SELECT l.*, f.funding_time FROM legs l
    JOIN funding f ON f.exchange = l.b_exchange AND f.symbol = l.b_symbol
)
SELECT t.pair, t.funding_time,
  t.a_exchange, t.a_symbol, a.rate AS a_rate, a.interval_hours AS a_interval_hours, a.apr AS a_apr,
  t.b_exchange, t.b_symbol, b.rate AS b_rate, b.interval_hours AS b_interval_hours, b.apr AS b_apr,
  a.rate - b.rate AS rate_diff
FROM times t
LEFT JOIN funding a
  ON a.exchange = t.a_exchange AND a.symbol = t.a_symbol AND a.funding_time = t.funding_time
LEFT JOIN funding b
  ON b.exchange = t.b_exchange AND b.symbol = t.b_symbol AND b.funding_time = t.funding_time""",
}


def drop_before_upgrade(db: sqlite_utils.Database, schema_version: int) -> None:
    """Drop the views when the database is below `schema_version`: a view naming a column stops a
    migration step from renaming or dropping it (SQLite checks views on ALTER TABLE)."""
    if db.execute("PRAGMA user_version").fetchone()[0] >= schema_version:
        return
    with db.conn:
        for name in reversed(VIEWS):
            db.execute(f"DROP VIEW IF EXISTS {name}")


def _statement(name: str) -> str:
    return f"CREATE VIEW {name} AS{VIEWS[name]}"


def create_views(db: sqlite_utils.Database) -> None:
    """Create every view that is missing, and replace one whose stored SQL differs from `VIEWS`."""
    stored = dict(db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'view'").fetchall())
    for name in VIEWS:  # in order: latest_windows reads window_verdicts
        if stored.get(name) == _statement(name):
            continue
        with db.conn:
            db.execute(f"DROP VIEW IF EXISTS {name}")
            db.execute(_statement(name))
