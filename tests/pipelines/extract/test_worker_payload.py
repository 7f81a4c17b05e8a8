"""What a backfill sends to its worker processes: to extraction workers the Tardis section (its key
included, which a worker uses), to window workers the fees and transform sections; never the LLM
key or the SMTP password (issue #18: narrow inputs)."""

from __future__ import annotations

import pickle
from concurrent.futures import Executor, Future
from datetime import UTC, date, datetime, timedelta

import pytest

import pipelines.flows.backfill
import pipelines.transform.windows_stage
from pipelines.config.settings import settings_from_mapping
from pipelines.core.columns import BITFINEX, GATE
from pipelines.core.errors import ArbdbError, ExtractError
from pipelines.flows.backfill import backfill
from pipelines.store import open_db
from pipelines.transform.windows_stage import PARALLEL_MIN_DAYS, update_pairs

TARDIS_KEY = "tardis-key-Q7x3-used-by-workers"
LLM_KEY = "llm-key-Z9w2-never-in-a-worker"
SMTP_PASSWORD = "smtp-password-K4v8-never-in-a-worker"


class PicklingPool(Executor):
    """Stands in for the worker pool at its boundary: pickles each task exactly as a process pool
    would send it, keeps the bytes, and answers with an error (nothing is extracted)."""

    def __init__(self, answer: Exception | list | None = None, **_) -> None:
        self.payloads: list[bytes] = []
        self.answer = ExtractError("not extracted: payload test") if answer is None else answer

    def submit(self, fn, /, *args, **kwargs) -> Future:
        self.payloads.append(pickle.dumps((fn, args, kwargs)))
        future: Future = Future()
        if isinstance(self.answer, Exception):
            future.set_exception(self.answer)
        else:
            future.set_result(self.answer)
        return future


def _settings(tmp_path):
    settings = settings_from_mapping(
        {
            "database": str(tmp_path / "arbdb.db"),
            "tardis": {"workers": 2, "endpoint": "http://127.0.0.1:9/v1"},
            "pairs": [{"name": c, "coin": c, "venues": [GATE, BITFINEX]} for c in ("BTC", "ETH")],
            "mail": {"smtp_host": "smtp.example.org", "recipients": ["ops@example.org"]},
        },
        env={"TARDIS_API_KEY": TARDIS_KEY, "HOLYSHEEP_API_KEY": LLM_KEY, "SMTP_PASSWORD": SMTP_PASSWORD},
    )
    assert settings.llm.api_key == LLM_KEY and settings.mail.password == SMTP_PASSWORD
    return settings


def test_window_workers_get_the_fees_and_transform_sections_and_no_secret(tmp_path, monkeypatch):
    settings = _settings(tmp_path)
    pools: list[PicklingPool] = []

    def pool(**kwargs) -> PicklingPool:
        pools.append(PicklingPool([]))  # each pair's rows: none (the database is empty)
        return pools[-1]

    monkeypatch.setattr(pipelines.transform.windows_stage, "ProcessPoolExecutor", pool)
    start = datetime(2024, 3, 1, tzinfo=UTC)
    db = open_db(settings.database)
    try:
        config, end = settings.window_config(), start + timedelta(days=PARALLEL_MIN_DAYS)
        assert (
            update_pairs(db, config, settings.pairs, start, end, workers=2, database=settings.database) == 0
        )
    finally:
        db.close()
    [used] = pools
    assert len(used.payloads) == 2  # one task per pair
    for payload in used.payloads:
        for secret in (TARDIS_KEY, LLM_KEY, SMTP_PASSWORD):
            assert secret.encode() not in payload


def test_extract_tasks_carry_the_tardis_key_but_no_llm_or_smtp_secret(tmp_path, monkeypatch):
    settings = _settings(tmp_path)
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
    assert len(pool.payloads) == 4  # two venues x two days (both pairs' legs on Gate and Bitfinex)
    for payload in pool.payloads:
        assert TARDIS_KEY.encode() in payload  # the worker authenticates with it
        assert LLM_KEY.encode() not in payload
        assert SMTP_PASSWORD.encode() not in payload
        assert b"smtp.example.org" not in payload  # no other section either
