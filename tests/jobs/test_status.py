"""`arbdb status`: lag, failures, spend, outbox and the exit code, on a real SQLite file."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from jobs.cli import cli
from jobs.status import collect_status, format_table, status_exit_code, status_report
from pipelines.core.timeutil import to_iso
from pipelines.store import upsert

NOW = datetime(2024, 3, 1, 16, 20, tzinfo=UTC)


def run(db, pair: str, end: datetime, status: str, *, seconds: int = 30, error: str | None = None) -> None:
    started = end + timedelta(minutes=15)
    upsert(
        db,
        "runs",
        [
            {
                "run_id": f"funding_cycle:{pair}:{to_iso(end)}",
                "job": "funding_cycle",
                "pair": pair,
                "window_start": to_iso(end - timedelta(hours=8)),
                "window_end": to_iso(end),
                "started_at": to_iso(started),
                "finished_at": to_iso(started + timedelta(seconds=seconds)),
                "status": status,
                "error": error,
            }
        ],
    )


def done_through(db, end: datetime, pairs=("BTC", "ETH")) -> None:
    for pair in pairs:
        for k in range(3, -1, -1):
            run(db, pair, end - timedelta(hours=8 * k), "done")


def test_an_empty_database_is_not_healthy(db, settings):
    status = collect_status(db, settings, NOW)
    assert status["problems"] == ["BTC: no window done yet", "ETH: no window done yet"]
    assert status_exit_code(status) == 1
    assert status["jobs"] == {}
    assert status["rows"]["runs"] == 0 and "tickers" in status["rows"]


def test_up_to_date_pairs_are_healthy(db, settings):
    done_through(db, datetime(2024, 3, 1, 16, tzinfo=UTC))
    status = collect_status(db, settings, NOW)
    assert status_exit_code(status) == 0, status["problems"]
    btc = status["pairs"]["BTC"]
    assert (btc["latest_closed"], btc["latest_done"]) == ("2024-03-01T16:00:00Z", "2024-03-01T16:00:00Z")
    assert (btc["lag_windows"], btc["lag_hours"], btc["behind"], btc["failing"]) == (0, 0, False, False)
    last = status["jobs"]["funding_cycle"][0]
    assert last["status"] == "done" and last["duration_seconds"] == 30
    assert len(status["jobs"]["funding_cycle"]) == 5
    assert status["next_fire_times"] == {
        "funding_cycle": "2024-03-02T00:15:00Z",
        "cost_report": "2024-03-02T06:30:00Z",
    }
    assert status["rows"]["runs"] == 8


@pytest.mark.parametrize(
    ("now", "behind"),
    [
        (datetime(2024, 3, 1, 16, 5, tzinfo=UTC), False),  # 16:00 closed, not due before 16:15
        (datetime(2024, 3, 1, 16, 20, tzinfo=UTC), False),  # 16:00 due: one window may be in flight
        (datetime(2024, 3, 2, 0, 14, tzinfo=UTC), False),
        (datetime(2024, 3, 2, 0, 15, tzinfo=UTC), True),  # a whole cycle missed
    ],
)
def test_one_window_in_flight_is_tolerated_two_are_behind(db, settings, now, behind):
    done_through(db, datetime(2024, 3, 1, 8, tzinfo=UTC))
    status = collect_status(db, settings, now)
    assert status["pairs"]["BTC"]["behind"] is behind
    assert status_exit_code(status) == int(behind)


def test_a_failed_latest_run_makes_the_exit_code_non_zero(db, settings):
    done_through(db, datetime(2024, 3, 1, 8, tzinfo=UTC))
    run(db, "ETH", datetime(2024, 3, 1, 16, tzinfo=UTC), "failed", error="Tardis download failed")
    status = collect_status(db, settings, NOW)
    assert status["pairs"]["ETH"]["failing"] and not status["pairs"]["BTC"]["failing"]
    assert status["problems"] == [
        "ETH: latest run failed (window 2024-03-01T16:00:00Z): Tardis download failed"
    ]
    assert status_exit_code(status) == 1


def test_a_pending_window_is_not_a_failure(db, settings):
    done_through(db, datetime(2024, 3, 1, 8, tzinfo=UTC))
    run(db, "BTC", datetime(2024, 3, 1, 16, tzinfo=UTC), "pending", error="Tardis returned no data")
    status = collect_status(db, settings, NOW)
    assert status["pairs"]["BTC"]["last_run"]["status"] == "pending"
    assert status_exit_code(status) == 0


def test_llm_spend_counts_today_only(db, settings):
    calls = [
        ("2024-02-29T23:59:59Z", 1.0),
        ("2024-03-01T00:00:00Z", 0.25),
        ("2024-03-01T16:00:00Z", 0.125),
        ("2024-03-02T00:00:00Z", 5.0),
    ]
    upsert(
        db,
        "llm_calls",
        [
            {"id": i, "ts": ts, "model": "deepseek-v3.2", "batch_size": 8, "status": "ok", "cost_usd": cost}
            for i, (ts, cost) in enumerate(calls, 1)
        ],
    )
    assert collect_status(db, settings, NOW)["llm"] == {
        "spend_today_usd": 0.375,
        "budget_usd": 2.0,
        "calls_today": 2,
    }


def test_outbox_counts_waiting_messages(db, settings):
    outbox = settings.mail.outbox_dir
    assert collect_status(db, settings, NOW)["outbox"]["messages"] == 0  # no folder yet
    outbox.mkdir(parents=True)
    for name in ("a-report-1.eml", "b-report-2.eml", "c-report-3.eml.sending", ".tmp123.tmp"):
        (outbox / name).write_text("x")
    # A message being sent (claimed) is still in the outbox.
    expected = {"dir": str(outbox), "messages": 3, "sending": 1, "dead": 0}
    assert collect_status(db, settings, NOW)["outbox"] == expected


def test_table_and_json_renderings(db, settings):
    done_through(db, datetime(2024, 3, 1, 8, tzinfo=UTC))
    run(db, "ETH", datetime(2024, 3, 1, 16, tzinfo=UTC), "failed", error="boom")
    text, code = status_report(settings, "table", now=NOW)
    assert code == 1
    assert text.splitlines()[0] == "arbdb status at 2024-03-01T16:20:00Z: NOT OK"
    assert "ETH: latest run failed (window 2024-03-01T16:00:00Z): boom" in text
    assert "LLM spend today: $0.0000 of $2.00 (0 calls)" in text
    assert text == format_table(collect_status(db, settings, NOW))
    as_json, _ = status_report(settings, "json", now=NOW)
    assert json.loads(as_json)["pairs"]["BTC"]["latest_done"] == "2024-03-01T08:00:00Z"


def test_cli_status_exit_code_follows_health(config_file, db, settings):
    runner = CliRunner()
    result = runner.invoke(cli, ["--config", str(config_file), "status", "--format", "json"])
    assert result.exit_code == 1
    assert json.loads(result.output)["problems"][0] == "BTC: no window done yet"
