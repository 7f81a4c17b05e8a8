"""Pieces of one gateway pass on a real store: batches, the context windows, storing verdicts."""

from __future__ import annotations

from datetime import UTC, datetime

from pipelines.analyze.batches import batches, store_verdicts, window_context
from pipelines.analyze.prompt import window_id
from pipelines.analyze.result import AnalyzeResult
from pipelines.core.verdicts import Verdict
from pipelines.report.alerts import alerter
from tests.fixtures.llm_windows import sample_windows

FIRST_END = datetime(2024, 3, 1, 8, tzinfo=UTC)
NOW = datetime(2024, 3, 3, 0, 5, tzinfo=UTC)


def _stored(db, cycles: int = 5) -> list[dict]:
    """BTC and ETH windows in the store, as analyze's pending rows (`id`, `_hash`)."""
    rows = sample_windows(("BTC", "ETH"), FIRST_END, cycles)
    db["windows"].upsert_all(rows, pk=("pair", "window_end"))
    return [{**r, "id": window_id(r["pair"], r["window_end"]), "_hash": r["features_hash"]} for r in rows]


def _verdict(row: dict, action: str = "WATCH") -> Verdict:
    return Verdict(row["id"], "LOW", action, 0.5, "Nothing clear.", f"{row['pair']}: watch")


def test_batches_keep_order_and_size():
    assert batches(list(range(7)), 3) == [[0, 1, 2], [3, 4, 5], [6]]
    assert batches([], 3) == []


def test_context_is_the_pairs_previous_three_windows_oldest_first(db):
    rows = _stored(db)
    last_btc = rows[-2]  # BTC's fifth window
    context = window_context(db, [last_btc, rows[0]])
    assert [w["window_end"] for w in context[last_btc["id"]]] == [r["window_end"] for r in rows[2:8:2]]
    assert {w["pair"] for w in context[last_btc["id"]]} == {"BTC"}
    assert context[rows[0]["id"]] == []  # the first window has no past


def test_verdicts_are_stored_with_the_run_and_the_features_they_judged(db, settings):
    rows = _stored(db, cycles=2)
    result = AnalyzeResult("rules", "rules", "v1+abc")
    store_verdicts(
        db, alerter(settings.mail, db, NOW), result, "run-1", NOW, rows, [_verdict(r) for r in rows], "rules"
    )
    stored = list(db.query("SELECT * FROM verdicts ORDER BY pair, window_end"))
    assert result.analysed == 4 and result.alerts == 0 and len(stored) == 4
    by_key = {(r["pair"], r["window_end"]): r for r in rows}
    for row in stored:
        assert row["feature_hash"] == by_key[(row["pair"], row["window_end"])]["features_hash"]
        assert (row["prompt_version"], row["model"], row["run_id"]) == ("v1+abc", "rules", "run-1")
        assert row["created_at"] == "2024-03-03T00:05:00Z"


def test_a_verdict_on_features_recomputed_meanwhile_is_not_stored(db, settings):
    rows = _stored(db, cycles=1)
    db["windows"].update((rows[0]["pair"], rows[0]["window_end"]), {"features_hash": "recomputed"})
    result = AnalyzeResult("rules", "rules", "v1+abc")
    verdicts = [_verdict(rows[0], "OPEN_ARB"), _verdict(rows[1], "OPEN_ARB")]
    store_verdicts(db, alerter(settings.mail, db, NOW), result, "run-1", NOW, rows, verdicts, "rules")
    assert [r["pair"] for r in db.query("SELECT pair FROM verdicts")] == [rows[1]["pair"]]
    assert result.analysed == 1 and result.alerts == 1  # no alert for the verdict not stored


def test_no_verdicts_is_a_no_op(db, settings):
    result = AnalyzeResult("rules", "rules", "v1+abc")
    store_verdicts(db, alerter(settings.mail, db, NOW), result, "run-1", NOW, [], [], "rules")
    assert result.analysed == 0 and db["verdicts"].count == 0
