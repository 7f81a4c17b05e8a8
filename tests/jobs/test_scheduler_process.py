"""The real thing: `arbdb run-scheduler` in a subprocess against the loopback Tardis server."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from jobs.scheduler import acquire_lock
from pipelines.config.settings import SECRET_ENV

pytestmark = pytest.mark.timeout(300)

ARBDB = shutil.which("arbdb", path=str(Path(sys.executable).parent)) or shutil.which("arbdb")


def scheduler_config(config_file: Path, tardis_server, catch_up: int) -> Path:
    """The small test config, one pair, its Tardis endpoint on the loopback server."""
    data = yaml.safe_load(config_file.read_text())
    data["pairs"] = data["pairs"][:1]
    data["tardis"].update(endpoint=tardis_server.url, datasets_endpoint=tardis_server.datasets_url)
    data["schedule"] = {"catch_up_max_windows": catch_up}
    path = config_file.with_name("scheduler.yaml")
    path.write_text(yaml.safe_dump(data))
    return path


def start(config: Path, tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    env = {k: v for k, v in os.environ.items() if k not in SECRET_ENV}  # offline: rules analyzer
    log = tmp_path / "scheduler.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [ARBDB, "--config", str(config), "run-scheduler"], cwd=tmp_path, env=env, stdout=out, stderr=out
        )
    return proc, log


def runs(db: Path) -> list[tuple[str, str]]:
    if not db.exists():
        return []
    with sqlite3.connect(db, timeout=30) as conn:
        try:
            return conn.execute(
                "SELECT run_id, status FROM runs WHERE job = 'funding_cycle' ORDER BY window_end"
            ).fetchall()
        except sqlite3.OperationalError:  # the scheduler is still creating the schema
            return []


def wait_for(
    proc: subprocess.Popen, log: Path, db: Path, done, timeout: float = 180
) -> list[tuple[str, str]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = runs(db)
        if done(rows):
            return rows
        assert proc.poll() is None, f"scheduler exited early:\n{log.read_text()}"
        time.sleep(0.02)
    proc.kill()
    pytest.fail(f"timed out; runs={runs(db)}\n{log.read_text()}")


def stop(proc: subprocess.Popen, log: Path) -> str:
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"no exit after SIGTERM:\n{log.read_text()}")
    text = log.read_text()
    assert code == 0, text
    assert "SIGTERM received" in text and "scheduler stopped cleanly" in text, text
    return text


def test_scheduler_catches_up_refuses_a_twin_and_stops_on_sigterm(
    tmp_path, config_file, settings, tardis_server
):
    config = scheduler_config(config_file, tardis_server, catch_up=1)
    proc, log = start(config, tmp_path)
    try:
        rows = wait_for(proc, log, settings.database, lambda rows: any(s == "done" for _, s in rows))
        (run_id, _), *_ = rows
        assert run_id.startswith("funding_cycle:BTC:")

        twin = subprocess.run(
            [ARBDB, "--config", str(config), "run-scheduler"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert twin.returncode == 1
        assert twin.stderr == f"arbdb: error: another scheduler holds {settings.database}.lock\n"
    finally:
        text = stop(proc, log)
    assert "funding_cycle at" in text and "1 window(s) due" in text
    assert runs(settings.database) == [(run_id, "done")]
    acquire_lock(settings.database).release()  # the lock went with the process


def test_sigterm_mid_window_finishes_that_window_and_starts_no_other(
    tmp_path, config_file, settings, tardis_server
):
    config = scheduler_config(config_file, tardis_server, catch_up=2)
    proc, log = start(config, tmp_path)
    try:
        wait_for(proc, log, settings.database, lambda rows: any(s == "running" for _, s in rows))
    finally:
        text = stop(proc, log)
    rows = runs(settings.database)
    assert len(rows) == 1 and rows[0][1] == "done", (rows, text)  # nothing half-written, none running
    assert "stop requested: 1 window(s) left for the next run" in text
