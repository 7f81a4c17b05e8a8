"""`arbdb normalize`: replay lines (file, gzip, stdin) -> exact derivative_ticker CSV on stdout."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from jobs.cli import cli
from pipelines.core.columns import BINANCE, BITFINEX, EXCHANGES, GATE

DATA = Path(__file__).parent.parent / "data"
ROOT = Path(__file__).parent.parent.parent

HEADER = (
    "exchange,symbol,timestamp,local_timestamp,funding_timestamp,funding_rate,predicted_funding_rate,"
    "open_interest,last_price,index_price,mark_price\n"
)
ERRORS = {
    GATE: "line 6: truncated JSON\nline 9: bad timestamp prefix\n",
    BITFINEX: "line 10: truncated JSON\nline 15: wrong shape: neither an event object nor a channel array\n",
}
SUMMARY = {
    GATE: "normalize: 5 records from 10 lines, 2 malformed lines skipped\n",
    BITFINEX: "normalize: 4 records from 15 lines, 2 malformed lines skipped\n",
}


def run(*args: str, stdin: bytes | None = None):
    return CliRunner().invoke(cli, ["normalize", *args], input=stdin)


def expected_csv(exchange: str) -> str:
    """Hand-computed from the sample replay (see tests/data/*.csv)."""
    return (DATA / f"{exchange}.csv").read_text()


def test_expected_csv_files_start_with_the_documented_header():
    assert expected_csv(GATE).startswith(HEADER) and expected_csv(BITFINEX).startswith(HEADER)


@pytest.mark.parametrize("exchange", [GATE, BITFINEX])
def test_plain_file(exchange):
    result = run("--exchange", exchange, str(DATA / f"{exchange}.replay"))
    assert result.exit_code == 0, result.output
    assert result.stdout == expected_csv(exchange)
    assert result.stderr == ERRORS[exchange] + SUMMARY[exchange]


@pytest.mark.parametrize("exchange", [GATE, BITFINEX])
def test_gzip_file_detected_by_magic_bytes(exchange, tmp_path):
    path = tmp_path / "replay.data"  # no .gz suffix: the magic bytes decide
    path.write_bytes(gzip.compress((DATA / f"{exchange}.replay").read_bytes()))
    result = run("--exchange", exchange, str(path))
    assert result.exit_code == 0, result.output
    assert result.stdout == expected_csv(exchange)


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("args", [[], ["-"]])
def test_stdin_plain_and_gzip(compress, args):
    body = (DATA / f"{GATE}.replay").read_bytes()
    result = run("--exchange", GATE, *args, stdin=gzip.compress(body) if compress else body)
    assert result.exit_code == 0, result.output
    assert result.stdout == expected_csv(GATE)


def test_symbols_filter():
    result = run("--exchange", GATE, "--symbols", "ETH_USDT", str(DATA / f"{GATE}.replay"))
    assert result.exit_code == 0
    assert result.stdout == HEADER + "".join(
        line + "\n" for line in expected_csv(GATE).splitlines() if ",ETH_USDT," in line
    )


def test_many_malformed_lines_are_capped_then_totalled(tmp_path):
    good = (DATA / f"{GATE}.replay").read_text().splitlines()[1]
    path = tmp_path / "bad.replay"
    path.write_text("\n".join([good] + ["2024-03-01T08:00:00.1234567Z {oops"] * 25) + "\n")
    result = run("--exchange", GATE, str(path))
    assert result.exit_code == 0
    assert result.stdout == "".join(expected_csv(GATE).splitlines(keepends=True)[:2])
    details = [f"line {n}: bad JSON" for n in range(2, 22)]
    lines = result.stderr.splitlines()
    assert [line[: len(d)] for line, d in zip(lines, details, strict=False)] == details
    assert lines[20:] == [
        "... and 5 more malformed lines",
        "normalize: 1 records from 26 lines, 25 malformed lines skipped",
    ]


def test_empty_input_gives_the_header_only():
    result = run("--exchange", BITFINEX, stdin=b"")
    assert result.exit_code == 0
    assert result.stdout == HEADER


def test_unknown_exchange_is_one_clear_line():
    result = run("--exchange", "kraken-futures", str(DATA / f"{GATE}.replay"))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert (
        result.stderr == f"arbdb: error: unknown exchange 'kraken-futures' (known: {', '.join(EXCHANGES)})\n"
    )
    assert "gate-io-futures, bitfinex-derivatives" in result.stderr


@pytest.mark.parametrize(
    ("wrong", "right", "channel"),
    [
        (GATE, BITFINEX, "futures.tickers"),
        (BITFINEX, GATE, "status"),
        (BINANCE, GATE, "markPrice/ticker/openInterest"),
    ],  # fmt: skip
)
def test_wrong_exchange_says_no_line_was_of_its_channel(wrong, right, channel):
    """Bitfinex lines read as Gate (and back) are not "0 records": one error line naming the channel
    and the exchange to try, exit 2, and nothing on stdout (not even the header)."""
    path = DATA / f"{right}.replay"
    n = len(path.read_bytes().splitlines())
    result = run("--exchange", wrong, str(path))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"arbdb: error: no line of {path} ({n} lines) is a message of {wrong}'s {channel} channel: "
        f"is it another exchange's replay? try --exchange {' or '.join(e for e in EXCHANGES if e != wrong)}\n"
    )


def test_only_other_gate_channels_is_the_same_error_but_empty_input_is_not():
    book = '{"time":1,"channel":"futures.book_ticker","event":"update","result":{}}'
    other = f"2024-03-01T08:00:00.1234567Z {book}\n"
    result = run("--exchange", GATE, stdin=other.encode() * 3)
    assert result.exit_code == 2
    assert result.stderr.startswith("arbdb: error: no line of stdin (3 lines) is a message of")
    assert run("--exchange", GATE, stdin=b"").stdout == HEADER


def test_unreadable_file_is_one_clear_line(tmp_path):
    result = run("--exchange", GATE, str(tmp_path / "missing.replay"))
    assert result.exit_code == 1
    assert (
        result.stderr
        == f"arbdb: error: cannot read {tmp_path / 'missing.replay'}: No such file or directory\n"
    )
    assert run("--exchange", GATE, str(tmp_path)).exit_code == 1  # a directory


def test_truncated_gzip_stops_with_an_error_after_the_rows_it_could_read(tmp_path):
    body = gzip.compress((DATA / f"{GATE}.replay").read_bytes() * 50)
    path = tmp_path / "cut.gz"
    path.write_bytes(body[: len(body) // 2])
    result = run("--exchange", GATE, str(path))
    assert result.exit_code == 1
    assert result.stdout.startswith(HEADER + expected_csv(GATE).splitlines(keepends=True)[1])
    assert "arbdb: error:" in result.stderr and "read failed after line" in result.stderr


@pytest.mark.parametrize(("copies", "read_header"), [(3000, True), (1, False)], ids=["mid-run", "last-flush"])
def test_reader_closing_the_pipe_early_is_a_quiet_exit(tmp_path, copies, read_header):
    """`arbdb normalize ... | head`: no traceback, no error line, exit 0 once the reader has gone,
    whether rows were still coming (~1.5 MB of CSV) or only the last buffer was left to flush."""
    path = tmp_path / "long.replay"  # an empty line between copies resets state: every copy emits rows
    path.write_text("\n".join([(DATA / f"{GATE}.replay").read_text()] * copies))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # buffered, as from a shell
    proc = subprocess.Popen(
        [sys.executable, "-m", "jobs.cli", "normalize", "--exchange", GATE, str(path)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    if read_header:
        assert proc.stdout.readline().decode() == HEADER
    proc.stdout.close()  # like `head -1`
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0, stderr
    assert "Traceback" not in stderr and "Broken pipe" not in stderr and "BrokenPipeError" not in stderr
    assert "arbdb: error" not in stderr and "Exception ignored" not in stderr
