"""`arbdb export` and `pipelines.research.export`: streamed CSV and Parquet equal the stored rows."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from jobs.cli import cli
from pipelines.core.columns import GATE
from pipelines.research.export import export
from pipelines.store import SCHEMA, upsert
from tests.fixtures.windows_data import funding_rows, minute_rows

DAY = datetime(2024, 3, 1, tzinfo=UTC)


@pytest.fixture
def stored(db):
    upsert(db, "tickers", minute_rows(GATE, "BTC_USDT", DAY, days=2, seed=3))
    upsert(db, "funding", funding_rows(GATE, "BTC_USDT", DAY, days=2, seed=4))
    return db


def rows_of(db, table, lo, hi):
    """The stored rows, straight from SQLite, as text (how CSV holds them)."""
    columns = list(SCHEMA[table][0])
    time = {"tickers": "ts", "funding": "funding_time"}[table]
    got = db.execute(
        f"SELECT {', '.join(columns)} FROM {table} WHERE {time} >= ? AND {time} < ? ORDER BY {time}", (lo, hi)
    ).fetchall()
    return columns, got


def test_csv_in_small_chunks_equals_the_stored_rows(stored):
    out = io.StringIO()
    n = export(stored, "tickers", DAY, datetime(2024, 3, 2, tzinfo=UTC), "csv", out, rows=333)
    columns, want = rows_of(stored, "tickers", "2024-03-01T00:00:00Z", "2024-03-02T00:00:00Z")
    lines = list(csv.reader(io.StringIO(out.getvalue())))
    assert n == len(want) == 1440 and lines[0] == columns and len(lines) == 1441
    assert [r[2] for r in lines[1:]] == [r[2] for r in want]  # ts, one header only
    assert [float(r[3]) for r in lines[1:]] == [r[3] for r in want]  # marks round-trip exactly


def test_parquet_row_groups_equal_the_stored_rows(stored, tmp_path):
    path = tmp_path / "funding.parquet"
    n = export(stored, "funding", None, None, "parquet", path, rows=4)
    columns, want = rows_of(stored, "funding", "0", "9")
    table = pq.read_table(path)
    assert n == len(want) and pq.ParquetFile(path).num_row_groups == -(-len(want) // 4)
    assert table.column_names == columns
    assert [tuple(r.values()) for r in table.to_pylist()] == want
    assert not (tmp_path / "funding.parquet.part").exists()


def test_cli_export(stored, config_file, tmp_path):
    stored.close()
    base = ["export", "--config", str(config_file), "--table", "funding"]
    out = CliRunner().invoke(cli, [*base, "--format", "csv", "--from", "2024-03-01", "--to", "2024-03-02"])
    assert out.exit_code == 0 and len(out.output.splitlines()) == 1 + 3  # 03-01 00, 08, 16 ([from, to))
    path = tmp_path / "x" / "t.parquet"
    made = CliRunner().invoke(cli, [*base, "--format", "parquet", "--out", str(path)])
    assert made.exit_code == 0 and pq.read_table(path).num_rows == 3 * 3 + 2 * 3
    bad = CliRunner().invoke(cli, [*base, "--format", "parquet"])
    assert bad.exit_code == 2 and bad.output.strip() == (
        "arbdb: error: --format parquet needs --out PATH (Parquet is binary, not for a terminal)"
    )


def test_no_matching_row_is_a_header_only_csv(db):
    out = io.StringIO()
    assert export(db, "windows", DAY, None, "csv", out) == 0
    assert out.getvalue() == ",".join(SCHEMA["windows"][0]) + "\n"
