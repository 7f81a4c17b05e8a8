"""Which windows are due, catch-up after missed windows, and the `runs` row of every attempt."""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from jobs import funding_cycle
from jobs.funding_cycle import due_windows, funding_cycle_job, run_due_windows
from pipelines.core.errors import AuthError, DataNotPublished, ExtractError, UnknownSymbol
from pipelines.core.timeutil import to_iso
from pipelines.core.window import Window
from pipelines.flows.run import analyze_recent
from pipelines.flows.runs import cycle_run_id, record_run
from pipelines.store import upsert
from tests.fixtures.llm import online_settings
from tests.fixtures.llm_windows import sample_windows


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def mark(db, pair: str, end: str, status: str, job: str = "funding_cycle", start: str | None = None) -> None:
    run_id = f"{job}:{pair}:{end}:{status}"
    upsert(db, "run_pairs", [{"run_id": run_id, "pair": name} for name in pair.split(",")])
    upsert(
        db,
        "runs",
        [
            {
                "run_id": run_id,
                "job": job,
                "pair": pair,
                "window_start": start,
                "window_end": end,
                "started_at": "2024-03-01T00:00:00Z",
                "status": status,
            }
        ],
    )


def names(due) -> list[tuple[str, str]]:
    return [(pair.name, to_iso(window.end)) for pair, window in due]


@pytest.fixture(autouse=True)
def _no_stop_left_over():
    funding_cycle.clear_stop()
    yield
    funding_cycle.clear_stop()


def test_first_start_looks_back_a_bounded_number_of_windows_oldest_first(db, settings):
    due = due_windows(db, settings, at("2024-03-01T08:20"), max_windows=3)
    assert names(due) == [
        ("BTC", "2024-02-29T16:00:00Z"),
        ("ETH", "2024-02-29T16:00:00Z"),
        ("BTC", "2024-03-01T00:00:00Z"),
        ("ETH", "2024-03-01T00:00:00Z"),
        ("BTC", "2024-03-01T08:00:00Z"),
        ("ETH", "2024-03-01T08:00:00Z"),
    ]
    assert all(window.hours == 8 for _, window in due)


def test_the_bound_comes_from_config(db, settings):
    due = due_windows(db, settings, at("2024-03-01T08:20"))
    assert len(due) == 2 * settings.schedule.catch_up_max_windows
    assert names(due)[0] == ("BTC", "2024-02-23T16:00:00Z")


@pytest.mark.parametrize(
    ("now", "latest"),
    [
        ("2024-03-01T08:00:00", "2024-03-01T00:00:00Z"),
        ("2024-03-01T08:14:59", "2024-03-01T00:00:00Z"),  # closed, but Tardis gets its delay
        ("2024-03-01T08:15:00", "2024-03-01T08:00:00Z"),
        ("2024-03-01T23:59:00", "2024-03-01T16:00:00Z"),
        ("2024-01-01T00:15:00", "2024-01-01T00:00:00Z"),  # year boundary
    ],
)
def test_a_window_is_due_once_closed_plus_delay(db, settings, now, latest):
    due = due_windows(db, settings, at(now), max_windows=1)
    assert names(due) == [("BTC", latest), ("ETH", latest)]


def test_zero_catch_up_still_covers_the_window_that_just_closed(db, settings):
    assert names(due_windows(db, settings, at("2024-03-01T16:30"), max_windows=0)) == [
        ("BTC", "2024-03-01T16:00:00Z"),
        ("ETH", "2024-03-01T16:00:00Z"),
    ]


def test_only_done_windows_are_skipped(db, settings):
    mark(db, "BTC", "2024-03-01T00:00:00Z", "done")
    mark(db, "BTC", "2024-02-29T16:00:00Z", "failed")
    mark(db, "ETH", "2024-03-01T00:00:00Z", "pending")
    mark(db, "ETH", "2024-03-01T08:00:00Z", "running")  # a crash mid-run leaves this behind
    mark(db, "ETH", "2024-02-29T16:00:00Z", "done", job="analyze")  # not a window load
    due = due_windows(db, settings, at("2024-03-01T08:20"), max_windows=3)
    assert names(due) == [
        ("BTC", "2024-02-29T16:00:00Z"),
        ("ETH", "2024-02-29T16:00:00Z"),
        ("ETH", "2024-03-01T00:00:00Z"),
        ("BTC", "2024-03-01T08:00:00Z"),
        ("ETH", "2024-03-01T08:00:00Z"),
    ]


def test_catch_up_after_missed_windows(db, settings):
    # Done up to Monday 08:00, then the machine slept until Wednesday 09:00.
    for _, window in due_windows(db, settings, at("2024-03-04T08:15"), max_windows=21):
        for pair in ("BTC", "ETH"):
            mark(db, pair, to_iso(window.end), "done")
    due = due_windows(db, settings, at("2024-03-06T09:00"), max_windows=21)
    assert [end for pair, end in names(due) if pair == "BTC"] == [
        "2024-03-04T16:00:00Z",
        "2024-03-05T00:00:00Z",
        "2024-03-05T08:00:00Z",
        "2024-03-05T16:00:00Z",
        "2024-03-06T00:00:00Z",
        "2024-03-06T08:00:00Z",
    ]
    assert len(due) == 12


def test_a_done_backfill_covers_its_range(db, settings):
    mark(db, "BTC,ETH", "2024-03-01T00:00:00Z", "done", job="backfill", start="2024-02-29T00:00:00Z")
    mark(db, "BTC", "2024-03-02T00:00:00Z", "failed", job="backfill", start="2024-03-01T00:00:00Z")
    due = due_windows(db, settings, at("2024-03-01T08:20"), max_windows=5)
    assert names(due) == [
        ("BTC", "2024-02-29T00:00:00Z"),
        ("ETH", "2024-02-29T00:00:00Z"),
        ("BTC", "2024-03-01T08:00:00Z"),
        ("ETH", "2024-03-01T08:00:00Z"),
    ]


def test_run_ids_are_deterministic(settings):
    window = Window(at("2024-03-01T00:00"), at("2024-03-01T08:00"))
    assert cycle_run_id(settings.pairs[0], window) == "funding_cycle:BTC:2024-03-01T08:00:00Z"


def run_row(db, run_id: str) -> dict:
    return db["runs"].get(run_id)


BASE = {"run_id": "funding_cycle:BTC:2024-03-01T08:00:00Z", "job": "funding_cycle", "pair": "BTC"}


def test_record_run_done_with_counts(db):
    seen = []

    def work():
        seen.append(run_row(db, BASE["run_id"])["status"])
        return {"minutes": 960, "windows": 1}

    assert record_run(db, BASE, work) == "done"
    row = run_row(db, BASE["run_id"])
    assert seen == ["running"]
    assert (row["status"], row["error"]) == ("done", None)
    assert json.loads(row["counts"]) == {"minutes": 960, "windows": 1}
    assert row["started_at"] <= row["finished_at"]


@pytest.mark.parametrize(
    ("error", "status", "message"),
    [
        (
            DataNotPublished("Tardis returned no data for gate-io-futures"),
            "pending",
            "Tardis returned no data",
        ),
        (ExtractError("Tardis download failed"), "failed", "Tardis download failed"),
        (KeyError("mark_price"), "failed", "KeyError: 'mark_price'"),
    ],
)
def test_record_run_keeps_the_error_and_does_not_raise(db, error, status, message):
    def work():
        raise error

    assert record_run(db, BASE, work) == status
    row = run_row(db, BASE["run_id"])
    assert row["status"] == status and message in row["error"]
    assert row["finished_at"] is not None and row["counts"] is None


def test_a_retry_overwrites_the_failed_attempt(db):
    def fail():
        raise ExtractError("connection refused")

    record_run(db, BASE, fail)
    record_run(db, BASE, lambda: {"windows": 1})
    assert db["runs"].count == 1
    row = run_row(db, BASE["run_id"])
    assert (row["status"], row["error"]) == ("done", None)


def test_a_stop_request_leaves_the_remaining_windows_for_the_next_run(db, settings):
    funding_cycle.request_stop()
    assert run_due_windows(db, settings, at("2024-03-01T08:20")) == {"left": 2 * 21}
    assert db["runs"].count == 0
    assert funding_cycle_job(settings, now=at("2024-03-01T08:20")) == {}


def one_window_each(settings, **tardis):
    """Settings looking back one window per pair, with `tardis` settings changed."""
    schedule = settings.schedule.model_copy(update={"catch_up_max_windows": 1})
    return settings.model_copy(
        update={"tardis": settings.tardis.model_copy(update=tardis), "schedule": schedule}
    )


def quick_failing(settings):
    """Settings whose Tardis endpoint is a closed loopback port, giving up after one second."""
    return one_window_each(settings, day_timeout_seconds=1, endpoint="http://127.0.0.1:9/v1")


def test_a_failing_window_is_recorded_and_retried_on_the_next_run(db, settings):
    settings = quick_failing(settings)
    now = at("2024-03-01T08:20")
    assert funding_cycle_job(settings, now=now) == {"failed": 2}  # one failure does not stop the others
    rows = {row["run_id"]: row for row in db["runs"].rows}
    assert set(rows) == {"funding_cycle:BTC:2024-03-01T08:00:00Z", "funding_cycle:ETH:2024-03-01T08:00:00Z"}
    assert {row["status"] for row in rows.values()} == {"failed"}
    assert all("Tardis" in row["error"] for row in rows.values())
    assert len(due_windows(db, settings, now)) == 2  # still due: the next run tries them again
    assert funding_cycle_job(settings, now=now) == {"failed": 2}
    assert db["runs"].count == 2


def test_a_failed_window_succeeds_on_the_next_run_once_tardis_answers(db, settings, tardis_settings):
    now = at("2024-03-01T08:20")
    btc_only = {"pairs": settings.pairs[:1]}
    assert funding_cycle_job(quick_failing(settings).model_copy(update=btc_only), now=now) == {"failed": 1}
    run_id = "funding_cycle:BTC:2024-03-01T08:00:00Z"
    assert db["runs"].get(run_id)["status"] == "failed"

    served = one_window_each(tardis_settings).model_copy(update=btc_only)
    assert funding_cycle_job(served, now=now) == {"done": 1, "analyze_done": 1}
    row = db["runs"].get(run_id)
    assert (row["status"], row["error"]) == ("done", None)
    counts = json.loads(row["counts"])
    assert counts["minutes"] > 0 and counts["windows"] >= 1
    assert db["windows"].count >= 1
    assert due_windows(db, served, now) == []
    assert funding_cycle_job(served, now=now) == {}  # nothing left to do


def test_overlapping_cycles_run_one_after_the_other(db, settings, tardis_settings):
    # The start-up catch-up and a scheduled fire can overlap; the second must see the first's work.
    served = one_window_each(tardis_settings).model_copy(update={"pairs": settings.pairs[:1]})
    now = at("2024-03-01T08:20")
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: funding_cycle_job(served, now=now), range(2)))
    assert sorted(results, key=len) == [{}, {"done": 1, "analyze_done": 1}]
    assert [(row["job"], row["status"]) for row in db["runs"].rows] == [
        ("funding_cycle", "done"),
        ("analyze", "done"),
    ]


def test_the_cycles_analyze_pass_is_failed_when_the_gateway_is_down(db, settings, llm_server):
    # The scheduler's batched pass must not say `done` when flagged windows got no verdict.
    now = at("2024-03-01T08:20")
    db["windows"].upsert_all(
        sample_windows(("BTC", "ETH"), at("2024-02-29T16:00"), 2), pk=("pair", "window_end"), alter=True
    )
    down = online_settings(settings, llm_server)
    llm_server.stop()  # connection refused from now on
    assert analyze_recent(db, down, now) == "failed"
    row = db["runs"].get(f"analyze:{to_iso(now)}")
    assert row["status"] == "failed"
    assert "flagged windows not analysed" in row["error"] and "connection refused" in row["error"]
    assert db["verdicts"].count == 0


def failing_run_window(errors):
    """A stand-in for `pipelines.flows.run.run_window` raising `errors[pair name]` (or loading nothing)."""

    def fake(settings, db, pair, window, **_):
        if pair.name in errors:
            raise errors[pair.name]
        return {"minutes": 0}

    return fake


def test_an_auth_error_stops_the_cycle_and_leaves_every_window_due(db, settings, monkeypatch, caplog):
    import pipelines.flows.run

    monkeypatch.setattr(pipelines.flows.run, "run_window", failing_run_window({"BTC": AuthError("HTTP 401")}))
    now = at("2024-03-01T08:20")
    assert run_due_windows(db, settings, now) == {"failed": 1, "left": 2 * 21 - 1}
    [row] = db["runs"].rows
    assert (row["run_id"], row["status"], row["error"]) == (
        "funding_cycle:BTC:2024-02-23T16:00:00Z",
        "failed",
        "HTTP 401",
    )
    assert len(due_windows(db, settings, now)) == 2 * 21  # nothing recorded done: all retried next run
    assert any(r.levelno == logging.ERROR and "needs a person" in r.getMessage() for r in caplog.records)


def test_an_unknown_symbol_fails_its_pair_only_and_needs_a_person(db, settings, monkeypatch, caplog):
    import pipelines.flows.run

    settings = one_window_each(settings)
    errors = {"BTC": UnknownSymbol("BTC_USDT not served"), "ETH": ExtractError("HTTP 500")}
    monkeypatch.setattr(pipelines.flows.run, "run_window", failing_run_window(errors))
    assert run_due_windows(db, settings, at("2024-03-01T08:20")) == {"failed": 2}
    people = [r.getMessage() for r in caplog.records if "needs a person" in r.getMessage()]
    assert len(people) == 1 and "BTC_USDT not served" in people[0]  # the retriable one just waits


def test_a_retriable_failure_does_not_stop_the_cycle(db, settings, monkeypatch):
    import pipelines.flows.run

    settings = one_window_each(settings)
    errors = {"BTC": DataNotPublished("not yet")}
    monkeypatch.setattr(pipelines.flows.run, "run_window", failing_run_window(errors))
    monkeypatch.setattr(pipelines.flows.run, "analyze_recent", lambda db, settings, now: "done")
    assert run_due_windows(db, settings, at("2024-03-01T08:20")) == {
        "pending": 1,
        "done": 1,
        "analyze_done": 1,
    }
    assert names(due_windows(db, settings, at("2024-03-01T08:20"))) == [("BTC", "2024-03-01T08:00:00Z")]


def test_an_hourly_pair_has_its_windows_due_on_its_own_grid_beside_8_hour_pairs(db, settings):
    from pipelines.config.pairs import Pair

    hourly = Pair(
        name="SOL",
        legs=["gate-io-futures:SOL_USDT", "bitfinex-derivatives:SOLF0:USTF0"],
        interval_hours={"gate-io-futures": 1},
        window_hours=1,
    )
    settings = settings.model_copy(update={"pairs": (*settings.pairs, hourly)})
    assert hourly.window_hours == 1
    due = due_windows(db, settings, at("2024-03-01T10:20"), max_windows=2)
    assert names(due) == [
        ("BTC", "2024-03-01T00:00:00Z"),
        ("ETH", "2024-03-01T00:00:00Z"),
        ("BTC", "2024-03-01T08:00:00Z"),
        ("ETH", "2024-03-01T08:00:00Z"),
        ("SOL", "2024-03-01T09:00:00Z"),
        ("SOL", "2024-03-01T10:00:00Z"),
    ]
