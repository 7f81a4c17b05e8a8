"""One scheduler per database: a second one refuses to start with one clear line."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from jobs.cli import cli
from jobs.scheduler import acquire_lock
from pipelines.core.errors import AlreadyRunning


def test_second_lock_is_refused_until_the_first_is_released(settings):
    first = acquire_lock(settings.database)
    try:
        with pytest.raises(AlreadyRunning, match=rf"^another scheduler holds {settings.database}\.lock$"):
            acquire_lock(settings.database)
    finally:
        first.release()
    acquire_lock(settings.database).release()


def test_cli_refuses_a_second_scheduler(settings, config_file):
    held = acquire_lock(settings.database)
    try:
        result = CliRunner().invoke(cli, ["--config", str(config_file), "run-scheduler"])
    finally:
        held.release()
    assert result.exit_code == 1
    assert result.stderr == f"arbdb: error: another scheduler holds {settings.database}.lock\n"


def test_another_process_holding_the_lock_refuses_us(settings, config_file):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from jobs.scheduler import acquire_lock; held = acquire_lock(sys.argv[1]);"
            " print('held', flush=True); sys.stdin.read()",
            str(settings.database),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(AlreadyRunning):
            acquire_lock(settings.database)
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    acquire_lock(settings.database).release()  # released when the holder exits
