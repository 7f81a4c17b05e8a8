"""Options shared by every command, through click's CliRunner on real config files and SQLite files.

One date-range rule for every command taking dates, `--config`/`-v` before or after the command,
and every bad option as one `arbdb: error:` line with exit 2 and nothing written.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from jobs.cli import cli
from pipelines.store import open_db

TODAY = datetime.now(UTC).date()
YESTERDAY = TODAY - timedelta(days=1)
FAR = "2999-01-01"
# Each command taking --from/--to, its other required options, and the latest --to it accepts.
RANGE_COMMANDS = {
    "backfill": ([], TODAY),  # complete days only
    "windows": (["--pair", "BTC"], TODAY + timedelta(days=1)),  # today's windows so far
    "analyze": ([], TODAY + timedelta(days=1)),
}
BAD_RANGES = [
    (("2024-03-05", "2024-03-01"), "--from 2024-03-05 must be before --to 2024-03-01 (--to is exclusive)"),
    (("2024-03-05", "2024-03-05"), "--from 2024-03-05 must be before --to 2024-03-05 (--to is exclusive)"),
    (("2024-02-30", "2024-03-05"), "--from '2024-02-30' is not a date like 2024-03-01"),
    (("2024-03-01", "next week"), "--to 'next week' is not a date like 2024-03-01"),
    (
        ("2019-06-01", "2019-06-05"),
        "--from 2019-06-01 is before the history both venues of a pair have on Tardis (from 2020-07-01)",
    ),
    (
        ("2024-03-01", FAR),
        "--to 2999-01-01 is in the future; the latest --to allowed is {latest} (--to is exclusive)",
    ),
]


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], obj={}, prog_name="arbdb")


def assert_one_line_error(result, expected: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.output == f"arbdb: error: {expected}\n"


@pytest.fixture
def root_level():
    """Restore the root logger's level after a test that turns on debug logging."""
    level = logging.getLogger().level
    yield
    logging.getLogger().setLevel(level)


# -- one date-range rule ----------------------------------------------------------------------


@pytest.mark.parametrize("command", RANGE_COMMANDS)
@pytest.mark.parametrize(("dates", "expected"), BAD_RANGES)
def test_every_range_command_checks_dates_the_same_way(config_file, tmp_path, command, dates, expected):
    extra, latest = RANGE_COMMANDS[command]
    result = invoke("--config", config_file, command, *extra, "--from", dates[0], "--to", dates[1])
    assert_one_line_error(result, expected.format(latest=latest))
    assert not (tmp_path / "arbdb.db").exists()  # refused before anything is opened or written


@pytest.mark.parametrize("command", RANGE_COMMANDS)
def test_the_latest_allowed_end_is_accepted_and_one_day_more_is_not(config_file, tmp_path, command):
    extra, latest = RANGE_COMMANDS[command]
    open_db(tmp_path / "arbdb.db").close()  # read commands refuse a database that does not exist yet
    base = ["--config", config_file, command, *extra, "--from", "2024-03-01"]
    if command != "backfill":  # backfill up to today would fetch from Tardis: the limit is tested below
        assert invoke(*base, "--to", latest).exit_code == 0
    too_far = latest + timedelta(days=1)
    assert_one_line_error(
        invoke(*base, "--to", too_far),
        f"--to {too_far} is in the future; the latest --to allowed is {latest} (--to is exclusive)",
    )


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (TODAY, f"--date {TODAY} is not a complete UTC day yet; the latest is {YESTERDAY}"),
        (FAR, f"--date {FAR} is not a complete UTC day yet; the latest is {YESTERDAY}"),
        ("2024-13-01", "--date '2024-13-01' is not a date like 2024-03-01"),
        (
            "2020-06-30",
            "--date 2020-06-30 is before the history both venues of a pair have on Tardis (from 2020-07-01)",
        ),
    ],
)
def test_report_date_follows_the_same_rule(config_file, tmp_path, day, expected):
    assert_one_line_error(invoke("--config", config_file, "report", "--date", day, "--dry-run"), expected)
    assert not (tmp_path / "outbox").exists()


def test_report_for_yesterday_is_accepted(config_file, tmp_path):
    open_db(tmp_path / "arbdb.db").close()  # a dry run reads the database, which must exist
    result = invoke("--config", config_file, "report", "--date", YESTERDAY, "--dry-run")
    assert result.exit_code == 0, result.output


def test_sample_server_and_demo_check_their_dates_too(config_file, tmp_path):
    reversed_range = invoke("sample-server", "--from", "2024-03-05", "--to", "2024-03-01")
    assert_one_line_error(
        reversed_range, "--from 2024-03-05 must be before --to 2024-03-01 (--to is exclusive)"
    )
    start = TODAY - timedelta(days=3)
    workdir = tmp_path / "demo"
    future = invoke("--config", config_file, "demo", "--workdir", workdir, "--from", start, "--days", 14)
    assert_one_line_error(
        future,
        f"--from + --days {start + timedelta(days=14)} is in the future; the latest --from + --days allowed"
        f" is {TODAY} (--from + --days is exclusive)",
    )
    assert not workdir.exists()


# -- --config and -v before or after the command ----------------------------------------------

COMMANDS = {
    "status": ["status", "--format", "json"],
    "windows": ["windows", "--pair", "BTC", "--from", "2024-03-01", "--to", "2024-03-02", "--format", "json"],
    "report": ["report", "--date", "2024-03-01", "--dry-run"],
    "analyze": ["analyze", "--from", "2024-03-01", "--to", "2024-03-02", "--dry-run"],
}


@pytest.mark.parametrize("command", COMMANDS)
def test_config_after_the_command_works_and_wins(config_file, db, tmp_path, command):
    args = COMMANDS[command]
    before = invoke("--config", config_file, *args)
    assert "arbdb: error" not in before.output and before.exit_code in (0, 1), before.output
    after = invoke(*args, "--config", config_file)
    assert after.exit_code == before.exit_code and "arbdb: error" not in after.output, after.output
    missing = tmp_path / "missing.yaml"
    overridden = invoke("--config", missing, *args, "--config", config_file)
    assert overridden.exit_code == before.exit_code, overridden.output
    wrong_after = invoke("--config", config_file, *args, "--config", missing)
    assert wrong_after.exit_code == 2 and f"config file {missing} does not exist" in wrong_after.output


def test_status_json_is_the_same_with_config_before_or_after(config_file, db):
    before = json.loads(invoke("--config", config_file, "status", "--format", "json").output)
    after = json.loads(invoke("status", "--config", config_file, "--format", "json").output)
    assert before.keys() == after.keys() and before["rows"] == after["rows"]


@pytest.mark.parametrize("placement", ["before", "after"])
def test_verbose_before_or_after_the_command_turns_on_debug_logging(config_file, db, root_level, placement):
    logging.getLogger().setLevel(logging.INFO)
    args = ["status", "--config", config_file]
    result = invoke("-v", *args) if placement == "before" else invoke(*args, "-v")
    assert "arbdb: error" not in result.output, result.output
    assert logging.getLogger().getEffectiveLevel() == logging.DEBUG


def test_help_of_a_command_lists_the_shared_options():
    result = invoke("windows", "-h")
    assert result.exit_code == 0 and "--config" in result.output and "--verbose" in result.output


# -- every other bad option: one line, exit 2 ---------------------------------------------------

RANGE = ["--from", "2024-03-01", "--to", "2024-03-02"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["windows", "--pair", "BTC", *RANGE, "--format", "xml"],
            "Invalid value for '--format': 'xml' is not one of 'table', 'csv', 'json'"
            " (see 'arbdb windows -h')",
        ),
        (
            ["status", "--format", "yaml"],
            "Invalid value for '--format': 'yaml' is not one of 'table', 'json' (see 'arbdb status -h')",
        ),
        (
            ["backfill", *RANGE, "--source", "ftp"],
            "Invalid value for '--source': 'ftp' is not one of 'replay', 'datasets'"
            " (see 'arbdb backfill -h')",
        ),
        (["backfill", *RANGE, "--pairs", "BTC,XRP"], "unknown pair 'XRP'; configured pairs: BTC, ETH"),
        (["backfill", *RANGE, "--pairs", ","], "no pair named in ','; configured pairs: BTC, ETH"),
        (["windows", "--pair", "XRP", *RANGE], "unknown pair 'XRP'; configured pairs: BTC, ETH"),
        (["windows", *RANGE], "Missing option '--pair' (see 'arbdb windows -h')"),
        (["status", "--colour"], "No such option '--colour' (see 'arbdb status -h')"),
        (["stauts"], "No such command 'stauts'. Did you mean 'status'? (see 'arbdb -h')"),
        (
            ["sample-server", "--port", "70000"],
            "Invalid value for '--port': 70000 is not in the range 0<=x<=65535"
            " (see 'arbdb sample-server -h')",
        ),
    ],
)
def test_bad_options_are_one_line(config_file, tmp_path, args, expected):
    assert_one_line_error(invoke("--config", config_file, *args), expected)
    assert not (tmp_path / "arbdb.db").exists()


def test_an_unknown_analyze_pair_is_one_line(config_file):
    result = invoke("--config", config_file, "analyze", *RANGE, "--pair", "DOGE")
    assert_one_line_error(result, "unknown pair 'DOGE'; configured pairs: BTC, ETH")


def test_demo_refuses_an_unknown_pair_before_starting_anything(config_file, tmp_path):
    workdir = tmp_path / "demo"
    result = invoke("--config", config_file, "demo", "--workdir", workdir, "--pairs", "BTC,XRP")
    assert_one_line_error(result, "unknown pair 'XRP'; configured pairs: BTC, ETH")
    assert not workdir.exists()


def test_run_scheduler_reads_the_config_given_after_the_command(config_file, tmp_path):
    missing = tmp_path / "missing.yaml"
    result = invoke("--config", config_file, "run-scheduler", "--config", missing)
    assert result.exit_code == 2 and f"config file {missing} does not exist" in result.output


def test_a_bad_option_before_the_command_is_one_line_too():
    assert_one_line_error(invoke("--colour", "status"), "No such option '--colour' (see 'arbdb -h')")
