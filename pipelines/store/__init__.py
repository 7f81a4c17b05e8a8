"""The SQLite store: the only package of the project that writes SQL (issue #18).

`schema` (tables), `db` (open, transaction, upsert), `guard`, `migrations`, `views`, and one module
per table family: `market` (tickers, funding, extracted), `windows`, `verdicts`, `ledger` (LLM calls
and failures), `runs`, `reports`, `backtests`, `summary`. The names below are re-exported so
`from pipelines.store import open_db` keeps working.
"""

from __future__ import annotations

from pipelines.store.db import open_db, open_readonly, row_counts, transaction, upsert
from pipelines.store.schema import INDEXES, SCHEMA

__all__ = ["INDEXES", "SCHEMA", "open_db", "open_readonly", "row_counts", "transaction", "upsert"]
