"""How `arbdb windows` shows stored windows: the table, its summary lines, CSV and JSON."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from pipelines.transform.windows_stage import read_windows
from pipelines.transform.windows_view import MIN_WIDTH, records, render_windows, show_windows, warning_summary
from tests.fixtures.llm_windows import sample_windows

FIRST_END = datetime(2024, 3, 1, 8, tzinfo=UTC)
SPAN = (FIRST_END - timedelta(hours=8), FIRST_END + timedelta(days=2))


@pytest.fixture
def stored(db):
    """Six BTC windows in the store, windows 1 and 5 flagged; the third incomplete with a warning."""
    rows = sample_windows(("BTC",), FIRST_END, 6, flagged_every=2)
    rows[2].update(
        complete=0, flagged=0, reasons="[]", warnings=json.dumps(["gate settles every 4 h, not 8 h"])
    )
    rows[4].update(warnings=json.dumps(["gate settles every 4 h, not 8 h", "bitfinex: 30 minutes missing"]))
    db["windows"].upsert_all(rows, pk=("pair", "window_end"))
    return read_windows(db, "BTC", *SPAN)


def test_json_has_every_stored_column_with_lists_and_booleans(stored):
    out = json.loads(render_windows(stored, "json"))
    assert len(out) == 6 and set(out[0]) == set(stored.columns)
    assert out[2]["complete"] is False and out[0]["flagged"] is True
    assert out[2]["warnings"] == ["gate settles every 4 h, not 8 h"]
    assert isinstance(out[0]["reasons"], list) and out[0]["reasons"]


def test_csv_has_a_header_and_one_line_per_window(stored):
    rows = list(csv.DictReader(io.StringIO(render_windows(stored, "csv"))))
    assert len(rows) == 6 and list(rows[0]) == list(stored.columns)
    assert rows[0]["window_end"] == "2024-03-01T08:00:00Z"


def test_an_unknown_format_is_refused(stored):
    with pytest.raises(ValueError, match="unknown format 'xml'"):
        render_windows(stored, "xml")


def test_records_parse_json_lists(stored):
    assert records(stored)[4]["warnings"] == [
        "gate settles every 4 h, not 8 h",
        "bitfinex: 30 minutes missing",
    ]


def test_warnings_are_counted_once_each_interval_mismatches_first(stored):
    assert warning_summary(stored) == [
        "warning: gate settles every 4 h, not 8 h (2 windows)",
        "warning: bitfinex: 30 minutes missing (1 window)",
    ]


def test_the_table_shows_units_signs_sides_flags_and_a_summary(stored):
    text = show_windows(stored, "table", "BTC windows", width=80)
    assert max(len(line) for line in text.splitlines()) <= MIN_WIDTH
    assert "fund %" in text and "APR %" in text and "FLAG" in text and "incomplete" in text
    assert "Gate/Bfx" in text or "Bfx/Gate" in text
    assert "2024-03-01 08:00" in text
    assert "6 windows, 2 flagged, 1 incomplete" in text
    assert text.endswith("warning: bitfinex: 30 minutes missing (1 window)")


def test_no_windows_is_one_line(db):
    assert (
        show_windows(read_windows(db, "BTC", *SPAN), "table", "BTC windows")
        == "BTC windows: no windows stored"
    )
