"""The report's data-quality warnings: missing windows, incomplete windows and why, failed runs."""

from __future__ import annotations

import json

import pandas as pd

from pipelines.report.quality import MAX_WARNINGS, day_warnings, warning_texts, window_lines

END = "2024-03-01T08:00:00Z"


def _windows(pair: str, n: int, **row) -> list[dict]:
    return [
        {"pair": pair, "window_end": f"2024-03-01T{8 * (i + 1):02d}:00:00Z", "complete": 1, **row}
        for i in range(n)
    ]


def test_a_short_day_says_how_many_windows_are_missing(settings):
    windows = pd.DataFrame(_windows("BTC", 3) + _windows("ETH", 1))
    assert day_warnings(settings.pairs, 0.9, windows, pd.DataFrame()) == [
        "ETH: 1 of 3 windows stored for the day"
    ]
    assert day_warnings(settings.pairs, 0.9, pd.DataFrame(), pd.DataFrame()) == [
        "BTC: 0 of 3 windows stored for the day",
        "ETH: 0 of 3 windows stored for the day",
    ]


def test_failed_runs_are_named_with_their_error(settings, db):
    windows = pd.DataFrame(_windows("BTC", 3) + _windows("ETH", 3))
    db["runs"].insert_all(
        [
            {"run_id": "a", "job": "backfill", "started_at": END, "status": "done"},
            {
                "run_id": "b",
                "job": "backfill",
                "started_at": END,
                "status": "failed",
                "error": "Tardis unreachable",
            },
            {"run_id": "c", "job": "backfill", "started_at": END, "status": "failed", "error": "interrupted"},
            {"run_id": "d", "job": "backfill", "started_at": END, "status": "failed"},  # no error text
            {
                "run_id": "e",
                "job": "backfill",
                "started_at": END,
                "status": "interrupted",  # recorded so by the next run (flows.runs.mark_interrupted)
                "error": "interrupted: found dead at 2024-03-07T20:46:11Z by r2: pid 29589 gone",
            },
        ]
    )
    runs = pd.read_sql_query("SELECT * FROM runs ORDER BY run_id", db.conn)  # as the report reads them
    assert day_warnings(settings.pairs, 0.9, windows, runs) == [
        "run b failed: Tardis unreachable",
        "run c failed: interrupted",
        "run d failed: no error text",
        "run e interrupted: interrupted: found dead at 2024-03-07T20:46:11Z by r2: pid 29589 gone",
    ]


def test_warnings_past_the_limit_are_counted_not_listed(settings):
    noisy = _windows("BTC", 3, warnings=json.dumps([f"warning {i}" for i in range(10)]))
    found = day_warnings(settings.pairs, 0.9, pd.DataFrame(noisy + _windows("ETH", 3)), pd.DataFrame())
    assert len(found) == MAX_WARNINGS + 1 and found[-1] == f"... and {30 - MAX_WARNINGS} more"


def test_an_incomplete_window_names_its_stored_causes_or_its_quality_columns():
    stored = {"pair": "BTC", "window_end": END, "complete": 0, "warnings": '["gate settlement missing"]'}
    assert window_lines(stored, 0.9) == [f"BTC window ending {END}: incomplete: gate settlement missing"]
    older = {"pair": "BTC", "window_end": END, "complete": 0, "warnings": None, "expected_minutes": 480}
    older.update(a_settled=0, a_minutes=480, b_settled=1, b_minutes=300)
    assert window_lines(older, 0.9) == [
        f"BTC window ending {END}: incomplete: Gate settlement missing; Bitfinex 300 of 480 minutes"
    ]
    unknown = {"pair": "BTC", "window_end": END, "complete": 0, "a_minutes": float("nan")}
    assert window_lines(unknown, 0.9) == [f"BTC window ending {END}: incomplete: cause not recorded"]


def test_a_complete_window_lists_each_stored_warning():
    row = {"pair": "ETH", "window_end": END, "complete": 1, "warnings": '["a", "b"]'}
    assert window_lines(row, 0.9) == [f"ETH window ending {END}: a", f"ETH window ending {END}: b"]


def test_stored_warnings_are_read_in_every_form():
    assert warning_texts('["a", "b"]') == ["a", "b"]
    assert warning_texts('{"gate": "stale"}') == ["gate: stale"]
    assert warning_texts("plain") == ["plain"] and warning_texts('"quoted"') == ["quoted"]
    assert warning_texts(None) == [] and warning_texts("") == [] and warning_texts(float("nan")) == []
