"""`arbdb backfill` failures through the CLI: one `arbdb: error:` line, non-zero exit, nothing lost."""

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from click.testing import CliRunner

from jobs.cli import cli
from pipelines.core.columns import BITFINEX
from tests.jobs.test_cli_backfill import snapshot, write_config
from tests.pipelines.extract.test_replay_failures import closed_port

ARGS = ["--from", "2024-03-04", "--to", "2024-03-06", "--pairs", "BTC", "--no-llm"]


def invoke(config: Path, *args: str):
    return CliRunner().invoke(cli, ["--config", str(config), *args])


def error_line(result) -> str:
    """The one `arbdb: error:` line, checking nothing else went wrong on the way out."""
    assert "Traceback" not in result.output and "Aborted!" not in result.output, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("arbdb: error:")]
    assert len(errors) == 1, result.output
    return errors[0]


def cli_env(tmp_path: Path) -> dict:
    return {**os.environ, "PYTHONPATH": str(Path.cwd())}


@pytest.mark.parametrize("source", ["replay", "datasets"])
def test_unreachable_tardis_is_one_line_within_seconds(config_file, tardis_server, tmp_path, source):
    """A real process: stderr is exactly the error line."""
    url = f"http://127.0.0.1:{closed_port()}/v1"
    config = write_config(config_file, tardis_server, day_timeout_seconds=600)
    text = config.read_text().replace(tardis_server.url, url)
    config.write_text(text)
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "jobs.cli", "--config", str(config), "backfill", "--source", source, *ARGS],
        env=cli_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert time.monotonic() - started < 20
    key, where = ("datasets_endpoint", f"{url}/datasets") if source == "datasets" else ("endpoint", url)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert lines[-1] == (
        f"arbdb: error: Tardis at {where} unreachable (connection refused) for {BITFINEX} 2024-03-04;"
        f" check tardis.{key}"
    )
    assert all(line.startswith("backfill 0/4 exchange-days") for line in lines[:-1]), lines  # progress
    assert not snapshot(tmp_path / "arbdb.db")["extracted"]


@pytest.mark.parametrize(
    ("fault", "source"), [("500", "replay"), ("truncated", "replay"), ("500", "datasets")]
)
def test_one_exchange_failing_keeps_the_other_and_a_rerun_fetches_only_the_missing_days(
    config_file, tardis_server, tmp_path, fault, source
):
    config = write_config(config_file, tardis_server, day_timeout_seconds=6, workers=2)
    tardis_server.inject(fault, count=-1, exchange=BITFINEX)
    result = invoke(config, "backfill", "--source", source, *ARGS)
    assert result.exit_code == 1
    line = error_line(result)
    assert line.startswith(f"arbdb: error: 2 exchange-day(s) failed: {BITFINEX} 2024-03-04, 2024-03-05 (")
    assert "The 2 loaded exchange-day(s) are kept; rerun the backfill" in line
    if fault == "truncated":
        assert "cut short 3 times" in line
    stored = snapshot(tmp_path / "arbdb.db")
    assert sorted((ex, day) for ex, _, day, *_ in stored["extracted"]) == [
        ("gate-io-futures", "2024-03-04"),
        ("gate-io-futures", "2024-03-05"),
    ]
    runs = sqlite3.connect(tmp_path / "arbdb.db").execute("SELECT status, error FROM runs").fetchall()
    assert [status for status, _ in runs] == ["failed"] and runs[0][1] in line

    tardis_server.clear_faults()
    tardis_server.requests.clear()
    again = invoke(config, "backfill", "--source", source, *ARGS)
    assert again.exit_code == 0, again.output
    assert "2 exchange-days fetched, 2 skipped (already loaded)" in again.output
    assert {path.split("/")[3] for path, _, _ in tardis_server.requests} == {BITFINEX}


def _children_once_loading(proc: subprocess.Popen, db_path: Path, timeout: float = 180) -> list:
    # Generous: the loopback server generates each day on first request, and CI machines are busy.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        children = psutil.Process(proc.pid).children(recursive=True)
        if len(children) >= 2 and db_path.exists():
            try:
                with sqlite3.connect(db_path) as conn:
                    if conn.execute("SELECT COUNT(*) FROM extracted").fetchone()[0] >= 1:
                        return children
            except sqlite3.OperationalError:
                pass
        time.sleep(0.05)
    raise AssertionError(f"the backfill never got going (exit code {proc.poll()})")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_a_killed_backfill_leaves_no_worker_and_status_shows_it_interrupted(
    config_file, tardis_server, tmp_path, sig
):
    config = write_config(config_file, tardis_server, workers=2)
    db_path = tmp_path / "arbdb.db"
    args = ["--from", "2024-03-01", "--to", "2024-03-08", "--no-llm"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "jobs.cli", "--config", str(config), "backfill", *args],
        env=cli_env(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        workers = _children_once_loading(proc, db_path)
        proc.send_signal(sig)
        proc.wait(timeout=10)
        _, alive = psutil.wait_procs(workers, timeout=10)
        assert not alive, f"workers outlived their parent: {alive}"
    finally:
        if proc.poll() is None:
            proc.kill()
    result = invoke(config, "status", "--format", "json")
    backfills = json.loads(result.output)["jobs"]["backfill"]
    assert [run["status"] for run in backfills] == ["interrupted"]
    assert backfills[0]["pid"] == proc.pid

    table = invoke(config, "status")
    assert " interrupted " in table.output and " running " not in table.output
    resumed = invoke(config, "backfill", *args)
    assert resumed.exit_code == 0, resumed.output
    statuses = sqlite3.connect(db_path).execute("SELECT status FROM runs ORDER BY started_at").fetchall()
    assert statuses == [("interrupted",), ("done",)]  # the next run recorded it so


def _first_day_loaded(proc: subprocess.Popen, db_path: Path, timeout: float = 60) -> None:
    """Wait until the backfill process has committed its first exchange-day (it is mid-run)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with sqlite3.connect(db_path) as conn:
                if conn.execute("SELECT COUNT(*) FROM extracted").fetchone()[0] >= 1:
                    return
        except sqlite3.OperationalError:  # not created yet
            pass
        time.sleep(0.02)
    raise AssertionError(f"the backfill never loaded a day (exit code {proc.poll()})")


def _backfill_rows(db_path: Path) -> list[tuple]:
    with sqlite3.connect(db_path) as conn:
        return conn.execute(
            "SELECT pid, status, started_at, finished_at, error FROM runs WHERE job = 'backfill'"
            " ORDER BY started_at, rowid"
        ).fetchall()


@pytest.mark.parametrize("next_job", ["backfill", "analyze"])
def test_a_sigkilled_backfill_is_recorded_interrupted_by_the_next_run_of_any_job(
    config_file, tardis_server, tmp_path, next_job
):
    """Issue 17: the killed run stayed `running` in the runs table after the next run succeeded,
    although `status` said interrupted. Killed once its first exchange-day is loaded (of 4)."""
    config = write_config(config_file, tardis_server)
    db_path = tmp_path / "arbdb.db"
    days = ARGS[:4]
    proc = subprocess.Popen(
        [sys.executable, "-m", "jobs.cli", "--config", str(config), "backfill", *days, "--pairs", "BTC"]
        + ["--no-llm"],
        env=cli_env(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _first_day_loaded(proc, db_path)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    [(pid, status, started, finished, error)] = _backfill_rows(db_path)
    assert (pid, status, finished, error) == (proc.pid, "running", None, None)  # as the kill left it

    args = {"backfill": [*days, "--pairs", "BTC", "--no-llm"], "analyze": days}[next_job]
    result = invoke(config, next_job, *args)
    assert result.exit_code == 0, result.output
    with sqlite3.connect(db_path) as conn:
        [(next_id,)] = conn.execute(
            "SELECT run_id FROM runs WHERE started_at >= ? AND pid = ?", [started, os.getpid()]
        ).fetchall()
    pid, status, started_again, finished, error = _backfill_rows(db_path)[0]
    assert (pid, status, started_again) == (proc.pid, "interrupted", started)
    assert started <= finished
    assert error == (
        f"interrupted: found dead at {finished} by {next_id}: process {proc.pid} is gone"
        f" on {socket.gethostname()}"
    )
    shown = json.loads(invoke(config, "status", "--format", "json").output)["jobs"]["backfill"]
    killed = next(run for run in shown if run["pid"] == proc.pid)
    assert (killed["status"], killed["error"], killed["duration_seconds"]) == ("interrupted", error, None)


def test_a_404_for_one_exchange_keeps_the_other(config_file, tardis_server, tmp_path):
    config = write_config(config_file, tardis_server)
    config.write_text(config.read_text().replace("ETHF0:USTF0", "XRPF0:USTF0"))  # not served: 404
    result = invoke(config, "backfill", *ARGS[:4], "--pairs", "BTC,ETH", "--no-llm")
    assert result.exit_code == 1, result.output
    line = error_line(result)
    assert f"failed: {BITFINEX} 2024-03-04, 2024-03-05 (Tardis answered HTTP 404" in line
    assert "check the pairs in config.yaml" in line and "The 2 loaded exchange-day(s) are kept" in line
    days = {(ex, sym, day) for ex, sym, day, *_ in snapshot(tmp_path / "arbdb.db")["extracted"]}
    assert days == {
        ("gate-io-futures", s, d) for s in ("BTC_USDT", "ETH_USDT") for d in ("2024-03-04", "2024-03-05")
    }
