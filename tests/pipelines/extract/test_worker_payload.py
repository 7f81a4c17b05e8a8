"""What a backfill sends to its extraction workers: the Tardis section (its key included, which a
worker uses), never the LLM key or the SMTP password (issue #18: narrow inputs)."""

from __future__ import annotations

import pickle
from concurrent.futures import Executor, Future
from datetime import UTC, date, datetime

import pytest

import pipelines.flows.backfill
from pipelines.config.settings import settings_from_mapping
from pipelines.core.columns import BITFINEX, GATE
from pipelines.core.errors import ArbdbError, ExtractError
from pipelines.flows.backfill import backfill
from pipelines.store import open_db

TARDIS_KEY = "tardis-key-Q7x3-used-by-workers"
LLM_KEY = "llm-key-Z9w2-never-in-a-worker"
SMTP_PASSWORD = "smtp-password-K4v8-never-in-a-worker"


class PicklingPool(Executor):
    """Stands in for the worker pool at its boundary: pickles each task exactly as a process pool
    would send it, keeps the bytes, and answers with an error (nothing is extracted)."""

    def __init__(self) -> None:
        self.payloads: list[bytes] = []

    def submit(self, fn, /, *args, **kwargs) -> Future:
        self.payloads.append(pickle.dumps((fn, args, kwargs)))
        future: Future = Future()
        future.set_exception(ExtractError("not extracted: payload test"))
        return future


def test_worker_tasks_carry_the_tardis_key_but_no_llm_or_smtp_secret(tmp_path, monkeypatch):
    settings = settings_from_mapping(
        {
            "database": str(tmp_path / "arbdb.db"),
            "tardis": {"workers": 2, "endpoint": "http://127.0.0.1:9/v1"},
            "pairs": [{"name": "BTC", "coin": "BTC", "venues": [GATE, BITFINEX]}],
            "mail": {"smtp_host": "smtp.example.org", "recipients": ["ops@example.org"]},
        },
        env={"TARDIS_API_KEY": TARDIS_KEY, "HOLYSHEEP_API_KEY": LLM_KEY, "SMTP_PASSWORD": SMTP_PASSWORD},
    )
    assert settings.llm.api_key == LLM_KEY and settings.mail.password == SMTP_PASSWORD
    pool = PicklingPool()
    monkeypatch.setattr(pipelines.flows.backfill, "worker_pool", lambda workers: pool)
    db = open_db(settings.database)
    try:
        with pytest.raises(ArbdbError, match="exchange-day"):
            backfill(
                db,
                settings,
                date(2024, 3, 1),
                date(2024, 3, 3),
                pairs=settings.pairs,
                source="replay",
                llm=False,
                now=datetime(2024, 3, 10, tzinfo=UTC),
            )
    finally:
        db.close()
    assert len(pool.payloads) == 4  # two venues x two days
    for payload in pool.payloads:
        assert TARDIS_KEY.encode() in payload  # the worker authenticates with it
        assert LLM_KEY.encode() not in payload
        assert SMTP_PASSWORD.encode() not in payload
        assert b"smtp.example.org" not in payload  # no other section either
