"""`arbdb backfill --scheduler` / `tardis.executor: dask` failures: one line naming the scheduler
address and what to do, a non-zero exit, never a hang; nothing is written."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.jobs.test_cli_backfill import write_config
from tests.jobs.test_cli_backfill_failures import ARGS, error_line, invoke
from tests.pipelines.extract.test_replay_failures import closed_port

distributed = pytest.importorskip("distributed")


def extracted_rows(db_path: Path) -> int:
    with sqlite3.connect(db_path) as conn:
        return conn.execute("SELECT COUNT(*) FROM extracted").fetchone()[0]


def test_an_unreachable_scheduler_is_one_line_naming_it(config_file, tardis_server, tmp_path):
    config = write_config(config_file, tardis_server, dask_timeout_seconds=1)
    address = f"tcp://127.0.0.1:{closed_port()}"
    result = invoke(config, "backfill", *ARGS, "--scheduler", address)
    assert result.exit_code == 1
    line = error_line(result)
    assert f"cannot reach the Dask scheduler at {address} within 1 s" in line
    assert "start `dask scheduler` there" in line
    assert extracted_rows(tmp_path / "arbdb.db") == 0
    assert not tardis_server.requests


def test_a_scheduler_without_workers_is_one_line_saying_to_start_one(config_file, tardis_server, tmp_path):
    config = write_config(config_file, tardis_server, dask_timeout_seconds=1)
    with distributed.LocalCluster(n_workers=0, host="127.0.0.1", dashboard_address="127.0.0.1:0") as c:
        result = invoke(config, "backfill", *ARGS, "--scheduler", c.scheduler_address)
    assert result.exit_code == 1
    line = error_line(result)
    assert f"the Dask scheduler at {c.scheduler_address} has no workers (waited 1 s)" in line
    assert f"start `dask worker {c.scheduler_address}`" in line
    assert extracted_rows(tmp_path / "arbdb.db") == 0


@pytest.mark.parametrize("address", ["http://127.0.0.1:8786", "tcp://127.0.0.1", "127.0.0.1:8786"])
def test_a_bad_scheduler_address_is_a_usage_error(config_file, tardis_server, address):
    result = invoke(write_config(config_file, tardis_server), "backfill", *ARGS, "--scheduler", address)
    assert result.exit_code == 2
    assert "--scheduler:" in error_line(result) and "tcp://HOST:8786" in error_line(result)


def test_dask_executor_without_distributed_installed_says_how_to_install_it(config_file, tardis_server):
    """A Python where `distributed` cannot be imported (as without the extra), the real script."""
    config = write_config(config_file, tardis_server, executor="dask", dask_scheduler="tcp://127.0.0.1:8786")
    code = "import sys; sys.modules['distributed'] = None; from jobs.cli import main; main()"
    proc = subprocess.run(
        [sys.executable, "-c", code, "--config", str(config), "backfill", *ARGS],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert [line for line in proc.stderr.splitlines() if line.startswith("arbdb:")] == [
        "arbdb: error: tardis.executor is dask but the `distributed` package is not installed: "
        "pip install 'arbdb[dask]' (or set tardis.executor: local)"
    ]
