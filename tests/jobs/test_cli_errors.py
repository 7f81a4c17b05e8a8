"""Failures that tell the truth: a bad database or a library exception ends in one `arbdb: error:`
line and a non-zero exit, through CliRunner and the real `arbdb` script in a subprocess."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import aiohttp
import click
import pytest
import requests
from click.testing import CliRunner

from jobs.cli import cli
from jobs.cli_errors import failure
from tests.jobs.test_scheduler_process import ARBDB
from tests.pipelines.test_store import damage, populated

READ = {
    "status": ["status"],
    "windows": ["windows", "--pair", "BTC", "--from", "2024-03-01", "--to", "2024-03-02"],
    "report --dry-run": ["report", "--date", "2024-03-01", "--dry-run"],
}
WRITE = {
    "backfill": ["backfill", "--from", "2024-03-01", "--to", "2024-03-02", "--no-llm"],
    "analyze": ["analyze", "--from", "2024-03-01", "--to", "2024-03-02"],
    "report --send": ["report", "--date", "2024-03-01"],
}
COMMANDS = {**READ, **WRITE}


def not_a_database(path: Path) -> str:
    path.write_text("not a database\n" * 300)
    return "is not an SQLite database; point `database` in config.yaml at the arbdb database"


def damaged(path: Path) -> str:
    damage(populated(path))
    return "the database is damaged (quick_check: "


def a_folder(path: Path) -> str:
    path.mkdir()
    return "is a folder, not a database file; point `database` in config.yaml at a file"


def dropped_table(path: Path) -> str:
    populated(path)
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("DROP TABLE runs")
    return "table runs missing from the database (dropped?); restore it from a backup"


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder` with its content hash: to show a failure wrote nothing.

    SQLite's `-shm`/`-wal` side files are left out: a `mode=ro` reader of a WAL database creates
    them when the folder is writable and, being read-only, cannot remove them; they hold no data.
    """
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(folder.rglob("*"))
        if not p.name.endswith(("-shm", "-wal"))
    }


def invoke(config_file: Path, args: list[str], **kwargs):
    return CliRunner().invoke(cli, ["--config", str(config_file), *args], obj={}, **kwargs)


@pytest.mark.parametrize("make", [not_a_database, damaged, a_folder, dropped_table])
@pytest.mark.parametrize("command", COMMANDS)
def test_a_bad_database_is_one_line_and_left_alone(config_file, settings, tmp_path, make, command):
    expected = make(settings.database)
    before = snapshot(tmp_path)
    result = invoke(config_file, COMMANDS[command])
    assert result.exit_code == 1, result.output
    assert result.output.startswith(f"arbdb: error: {settings.database}: {expected}")
    assert result.output.count("\n") == 1 and "Traceback" not in result.output
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("command", READ)
def test_reading_a_missing_folder_says_which_command_creates_it(config_file, tmp_path, command):
    missing = tmp_path / "nowhere" / "arbdb.db"
    config_file.write_text(config_file.read_text().replace(str(tmp_path / "arbdb.db"), str(missing)))
    result = invoke(config_file, READ[command])
    assert result.exit_code == 1
    assert result.output == (
        f"arbdb: error: {missing}: no database exists here yet; "
        "`arbdb backfill --from DATE --to DATE` creates it (or fix `database` in config.yaml)\n"
    )
    assert not missing.parent.exists()


def test_the_real_script_fails_in_one_line_quickly(config_file, settings):
    not_a_database(settings.database)
    started = time.monotonic()
    proc = subprocess.run([ARBDB, "--config", str(config_file), "status"], capture_output=True, text=True)
    assert time.monotonic() - started < 10  # about 0.5 s; generous for a loaded 2-core machine
    assert (proc.returncode, proc.stdout) == (1, "")
    assert proc.stderr == f"arbdb: error: {settings.database}: {not_a_database(settings.database)}\n"


def test_verbose_adds_the_traceback_before_the_line(config_file, settings):
    not_a_database(settings.database)
    proc = subprocess.run(
        [ARBDB, "-v", "--config", str(config_file), "status"], capture_output=True, text=True
    )
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr and "sqlite3.DatabaseError: file is not a database" in proc.stderr
    assert proc.stderr.splitlines()[-1].startswith(f"arbdb: error: {settings.database}: is not an SQLite")


# -- read-only and unreadable databases: as a user without write access (root ignores file modes) --

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


@pytest.fixture
def shared() -> Iterator[Path]:
    """A folder another user can reach (pytest's tmp folders are private to their owner)."""
    if os.geteuid() == 0 and not shutil.which("setpriv"):
        pytest.skip("running as root without setpriv: cannot run arbdb as a user without write access")
    folder = Path(tempfile.mkdtemp(prefix="arbdb-shared-"))
    folder.chmod(0o755)
    yield folder
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o700)
    shutil.rmtree(folder)


def as_other_user(args: list[str], folder: Path) -> subprocess.CompletedProcess:
    """`arbdb` run by a user who does not own `folder` (nobody when the tests run as root)."""
    prefix = NOBODY if os.geteuid() == 0 else []
    env = {**os.environ, "MPLCONFIGDIR": str(folder / "mpl"), "HOME": str(folder)}
    (folder / "mpl").mkdir(exist_ok=True)
    (folder / "mpl").chmod(0o777)
    return subprocess.run(
        [*prefix, ARBDB, "--config", str(folder / "config.yaml"), *args],
        capture_output=True,
        text=True,
        env=env,
    )


@pytest.fixture
def read_only_store(shared, config_file, tmp_path) -> Path:
    """A store with rows, its file and (by default) its folder not writable by the command's user."""
    store = shared / "store"
    store.mkdir()
    populated(store / "arbdb.db")
    text = config_file.read_text().replace(str(tmp_path / "arbdb.db"), str(store / "arbdb.db"))
    text = text.replace(str(tmp_path), str(shared))  # the outbox and caches: private to root otherwise
    (shared / "config.yaml").write_text(text)
    for path, mode in [(store / "arbdb.db", 0o444), (store, 0o555), (shared / "config.yaml", 0o644)]:
        path.chmod(mode)
    return store


@pytest.mark.parametrize("folder_writable", [False, True], ids=["read-only folder", "writable folder"])
@pytest.mark.parametrize("command", READ)
def test_read_commands_work_on_a_read_only_database(read_only_store, shared, command, folder_writable):
    if folder_writable:
        read_only_store.chmod(0o777)
    before = snapshot(read_only_store / "arbdb.db")
    proc = as_other_user(READ[command], shared)
    assert "arbdb: error" not in proc.stderr and "Traceback" not in proc.stderr
    assert proc.returncode == (1 if command == "status" else 0)  # status: no window done is not healthy
    expected = {"status": "tickers", "windows": "BTC funding windows", "report --dry-run": "cost report"}
    assert expected[command] in proc.stdout
    assert snapshot(read_only_store / "arbdb.db") == before


@pytest.mark.parametrize("folder_writable", [False, True], ids=["read-only folder", "writable folder"])
@pytest.mark.parametrize("command", WRITE)
def test_write_commands_name_the_read_only_database(read_only_store, shared, command, folder_writable):
    db = read_only_store / "arbdb.db"
    if folder_writable:
        read_only_store.chmod(0o777)
    before = snapshot(read_only_store)
    proc = as_other_user(WRITE[command], shared)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    last = proc.stderr.splitlines()[-1]  # report: matplotlib may log building its font cache first
    blocked = str(db) if folder_writable else f"{db} and {read_only_store}"
    assert last.startswith(f"arbdb: error: {db}: the database is read-only ({blocked} not writable); write")
    assert snapshot(read_only_store) == before
    assert proc.stderr.count("arbdb: error") == 1


@pytest.mark.parametrize("command", ["status", "backfill"])
def test_an_unreadable_database_is_one_line(read_only_store, shared, command):
    (read_only_store / "arbdb.db").chmod(0o000)
    proc = as_other_user(COMMANDS[command], shared)
    assert proc.returncode == 1
    assert proc.stderr == (
        f"arbdb: error: {read_only_store / 'arbdb.db'}: cannot read the database (permission denied); "
        "give this user read access\n"
    )


# -- the catch-all: whatever a library raises reaches the user as one line --


class InterruptedStdin(io.BytesIO):
    """stdin that gets Ctrl-C while a command reads it."""

    def read(self, size=-1):
        if size == 0:  # click probes the stream with read(0)
            return b""
        raise KeyboardInterrupt

    peek = read1 = readline = read


def test_ctrl_c_is_interrupted_exit_130_not_aborted(config_file):
    result = invoke(config_file, ["normalize", "--exchange", "gate-io-futures"], input=InterruptedStdin())
    assert (result.exit_code, result.output) == (130, "arbdb: error: interrupted\n")


def test_ctrl_c_in_the_real_script(tmp_path):
    proc = subprocess.Popen(
        [ARBDB, "normalize", "--exchange", "gate-io-futures", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wchan = Path(f"/proc/{proc.pid}/wchan")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (wchan.exists() and "pipe" in wchan.read_text()):
        time.sleep(0.05)  # until it blocks reading stdin: Ctrl-C during Python's start-up is not ours
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert (proc.returncode, err) == (130, "arbdb: error: interrupted\n")


def test_an_unexpected_exception_in_the_real_script_is_one_line(tmp_path):
    # stdin closed (`<&-`): Python sets sys.stdin to None, and reading it raised a traceback
    command = f"exec {ARBDB} normalize --exchange gate-io-futures <&-"
    proc = subprocess.run(command, shell=True, capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr.startswith("arbdb: error: unexpected AttributeError: ")
    assert proc.stderr.endswith("; rerun with -v for the traceback\n") and proc.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("err", "expected", "code"),
    [
        (sqlite3.OperationalError("database is locked"), "db.sqlite: the database is locked by another", 1),
        (sqlite3.OperationalError("database or disk is full"), "db.sqlite: the disk is full; free", 1),
        (sqlite3.DatabaseError("database disk image is malformed"), "db.sqlite: the database is damaged", 1),
        (
            requests.ConnectionError("Connection refused"),
            "network request failed: Connection refused; check",
            1,
        ),
        (aiohttp.ServerDisconnectedError(), "network request failed: Server disconnected; check", 1),
        (
            ConnectionRefusedError(111, "Connection refused"),
            "network request failed: [Errno 111] Connection",
            1,
        ),
        (
            PermissionError(13, "Permission denied", "/data/x"),
            "/data/x: Permission denied; check the path",
            1,
        ),
        (EOFError("Compressed file ended"), "unexpected EOFError: Compressed file ended; rerun with -v", 1),
        (click.Abort(), "aborted (nothing more was done); rerun with -v", 1),
        (KeyboardInterrupt(), "interrupted", 130),
    ],
)
def test_library_exceptions_become_one_line(err, expected, code):
    message, exit_code = failure(err, Path("db.sqlite"))
    assert message.startswith(expected) and exit_code == code
