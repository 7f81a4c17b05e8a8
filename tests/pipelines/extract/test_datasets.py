"""Datasets CSV rows are validated: bad rows are counted and skipped, never stored."""

import gzip
import logging
from datetime import UTC, date, datetime, timedelta

import pytest

from pipelines.core.columns import DERIVATIVE_TICKER, GATE
from pipelines.core.errors import ExtractError
from pipelines.extract.datasets import CorruptDownload, RowChecker, read_dataset
from pipelines.extract.replay import extract_range

DAY = datetime(2024, 3, 5, tzinfo=UTC)
T0 = int(DAY.timestamp()) * 1_000_000 + 5_000_000  # 00:00:05 of DAY, µs
HEADER = ",".join(DERIVATIVE_TICKER)


def row(ts=T0, symbol="BTC_USDT", mark="65045.2", index="65040.1", last="65050", rate="0.0001", local=None):
    local = ts + 3000 if local is None else local
    return f"{GATE},{symbol},{ts},{local},,{rate},{rate},86445191,{last},{index},{mark}"


def read(tmp_path, lines: list[str], end: str = "\n"):
    path = tmp_path / "2024-03-05_BTC_USDT.csv.gz"
    path.write_bytes(gzip.compress(("\n".join([HEADER, *lines]) + end).encode()))
    got = []
    rows, bad = read_dataset(path, RowChecker(GATE, {"BTC_USDT"}, date(2024, 3, 5)), got.append)
    return rows, bad, got


def test_valid_rows_are_typed_records(tmp_path):
    rows, bad, got = read(tmp_path, [row(), row(T0 + 1_000_000, mark="65046")])
    assert (rows, bad) == (2, 0)
    assert got[0] == (
        GATE,
        "BTC_USDT",
        T0,
        T0 + 3000,
        None,
        1e-4,
        1e-4,
        86445191.0,
        65050.0,
        65040.1,
        65045.2,
    )


@pytest.mark.parametrize(
    ("bad_row", "why"),
    [
        (row()[: len(row()) // 2], "cells instead of 11"),  # cut in half (the old IndexError)
        (row() + ",1", "12 cells"),
        (row(symbol="ETH_USDT"), "not of this file"),
        (row().replace(GATE, "binance-futures"), "not of this file"),
        (row(mark="65x45.2"), "mark_price '65x45.2' is not a number"),
        (row(rate="nan"), "funding_rate 'nan' is not finite"),
        (row(index="inf"), "index_price 'inf' is not finite"),
        (row(last="-1"), "last_price -1 is not a price"),
        (row(ts="", local=T0), "empty timestamp"),
        (row(local=T0 + 86_400_000_000), "local_timestamp"),
        (row(ts=T0 - 86_400_000_000, local=T0), "outside the file's day"),
        (row(ts=T0 + 93_600_000_000, local=T0), "timestamp"),  # 2 h after the day
        (row(mark="650"), "mark_price 650 implausible against 65040.1"),  # cut inside the last cell
        (row(mark="650", index=""), "mark_price 650 implausible against 65050"),
    ],
)
def test_bad_rows_are_counted_skipped_and_logged(tmp_path, caplog, bad_row, why):
    with caplog.at_level(logging.WARNING):
        rows, bad, got = read(tmp_path, [row(), bad_row, row(T0 + 2_000_000)])
    assert (rows, bad, len(got)) == (3, 1, 2)
    assert "line 3 skipped: " in caplog.text and why in caplog.text


def test_the_last_row_of_a_file_cut_short_is_not_stored(tmp_path):
    """'65045.2' cut to '650' is a plausible-looking number: only the missing newline betrays it."""
    rows, bad, got = read(tmp_path, [row(), row(T0 + 1_000_000, mark="650", index="", last="")], end="")
    assert (rows, bad) == (2, 1)
    assert [r[10] for r in got] == [65045.2]


def test_a_gzip_file_cut_short_names_the_file(tmp_path):
    path = tmp_path / "2024-03-05_BTC_USDT.csv.gz"
    body = gzip.compress(
        ("\n".join([HEADER] + [row(T0 + i * 1_000_000) for i in range(500)]) + "\n").encode()
    )
    path.write_bytes(body[: len(body) // 2])
    with pytest.raises(CorruptDownload, match=r"2024-03-05_BTC_USDT\.csv\.gz is cut short"):
        read_dataset(path, RowChecker(GATE, {"BTC_USDT"}, date(2024, 3, 5)), lambda r: None)


def test_a_foreign_header_is_an_error(tmp_path):
    path = tmp_path / "2024-03-05_BTC_USDT.csv.gz"
    path.write_bytes(gzip.compress(b"a,b,c\n1,2,3\n"))
    with pytest.raises(ExtractError, match="unexpected CSV header"):
        read_dataset(path, RowChecker(GATE, {"BTC_USDT"}, date(2024, 3, 5)), lambda r: None)


@pytest.mark.parametrize("fault", ["malformed", "csv_tail"])
def test_served_files_with_bad_rows_count_them(tardis_settings, tardis_server, fault):
    whole = extract_range(
        tardis_settings.tardis, GATE, ["BTC_USDT"], DAY, DAY + timedelta(days=1), "datasets"
    )
    tardis_server.inject(fault, count=1)
    got = extract_range(tardis_settings.tardis, GATE, ["BTC_USDT"], DAY, DAY + timedelta(days=1), "datasets")
    assert got.malformed == 1 and got.messages == whole.messages
    truth = {(sym, minute): rec for sym, minute, rec in whole.rows}
    for sym, minute, rec in got.rows:  # every stored value is one the whole file has
        assert rec[10] == truth[(sym, minute)][10] or rec[2] < truth[(sym, minute)][2]
