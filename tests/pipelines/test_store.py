"""pipelines.store opening real SQLite files: bad paths, damaged files, schema versions, migrations."""

from __future__ import annotations

import hashlib
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
import sqlite_utils

from pipelines.core.errors import StoreError
from pipelines.store import INDEXES, SCHEMA, migrations, open_db, open_readonly, upsert

OPENERS = [open_db, open_readonly]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ticker_rows(n: int) -> list[dict]:
    return [
        {
            "exchange": "gate-io-futures",
            "symbol": "BTC_USDT",
            "ts": f"2024-03-01T{i:08d}",
            "mark_price": 1.0 + i,
        }
        for i in range(n)
    ]


def populated(path: Path, rows: int = 6000) -> Path:
    """A real store with a few thousand ticker rows (hundreds of pages), closed and checkpointed."""
    db = open_db(path)
    upsert(db, "tickers", ticker_rows(rows))
    db.close()
    return path


def damage(path: Path, pages: int = 4) -> None:
    """Overwrite `pages` pages in the middle of the file with garbage, as a failing disk would."""
    size = 4096
    count = path.stat().st_size // size
    with path.open("r+b") as f:
        for page in range(count // 2, count // 2 + pages):
            f.seek(page * size)
            f.write(bytes((page * 7 + i) % 251 for i in range(size)))


def version0(path: Path, older: bool = False) -> Path:
    """A database as the code before schema versions made it: every table, user_version 0.

    `older`: as the first versions made it, before `llm_failures` and `llm_calls.usage_estimated`.
    """
    db = sqlite_utils.Database(path)
    db.enable_wal()
    for name, (columns, pk, not_null) in SCHEMA.items():
        if older and name == "llm_failures":
            continue
        if older and name == "llm_calls":
            columns = {c: t for c, t in columns.items() if c != "usage_estimated"}
        db[name].create(columns, pk=pk if len(pk) > 1 else pk[0], not_null=not_null)
        for cols in INDEXES.get(name, []):
            db[name].create_index(list(cols))
    db["tickers"].insert_all(ticker_rows(10))
    db["llm_calls"].insert(
        {"id": 1, "ts": "2024-03-01T00:00:00Z", "model": "m", "batch_size": 2, "status": "ok"}
    )
    db.close()
    return path


def user_version(path: Path) -> int:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute("PRAGMA user_version").fetchone()[0]


@pytest.mark.parametrize("opener", OPENERS)
def test_a_file_that_is_not_a_database_is_refused_and_left_alone(tmp_path, opener):
    path = tmp_path / "arbdb.db"
    path.write_text("not a database\n" * 300)
    before = digest(path)
    with pytest.raises(StoreError, match=rf"^{path}: is not an SQLite database; point `database`"):
        opener(path)
    assert digest(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["arbdb.db"]


@pytest.mark.parametrize("opener", OPENERS)
def test_damaged_pages_are_found_at_open(tmp_path, opener):
    path = populated(tmp_path / "arbdb.db")
    damage(path)
    before = digest(path)
    with pytest.raises(StoreError, match=rf"^{path}: the database is damaged .*; restore it from a backup"):
        opener(path)
    assert digest(path) == before


@pytest.mark.parametrize("opener", OPENERS)
def test_a_folder_is_not_a_database(tmp_path, opener):
    with pytest.raises(StoreError, match=rf"^{tmp_path}: is a folder, not a database file"):
        opener(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_reading_a_path_in_a_missing_folder_creates_nothing(tmp_path):
    path = tmp_path / "missing" / "arbdb.db"
    with pytest.raises(StoreError, match=rf"^{path}: no database exists here yet; `arbdb backfill"):
        open_readonly(path)
    assert list(tmp_path.iterdir()) == []


def test_writing_creates_the_missing_folder_and_a_current_database(tmp_path):
    path = tmp_path / "new" / "folder" / "arbdb.db"
    open_db(path).close()
    assert user_version(path) == migrations.SCHEMA_VERSION
    assert set(sqlite_utils.Database(path).table_names()) >= set(SCHEMA)


def test_a_folder_path_whose_parent_is_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match=r"is a file, not a folder"):
        open_db(tmp_path / "file" / "arbdb.db")


@pytest.mark.parametrize("opener", OPENERS)
def test_a_dropped_table_is_refused_not_recreated(tmp_path, opener):
    path = populated(tmp_path / "arbdb.db")
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("DROP TABLE windows")
    with pytest.raises(StoreError, match=rf"^{path}: table windows missing from the database \(dropped\?\)"):
        opener(path)
    assert "windows" not in sqlite_utils.Database(path).table_names()


@pytest.mark.parametrize("opener", OPENERS)
def test_a_dropped_column_is_refused_by_name(tmp_path, opener):
    path = populated(tmp_path / "arbdb.db")
    sqlite_utils.Database(path)["funding"].transform(drop={"apr"})
    with pytest.raises(StoreError, match=r"column funding\.apr missing from the database"):
        opener(path)
    assert "apr" not in sqlite_utils.Database(path)["funding"].columns_dict


@pytest.mark.parametrize("opener", OPENERS)
def test_a_database_newer_than_the_code_is_refused(tmp_path, opener):
    path = populated(tmp_path / "arbdb.db")
    newer = migrations.SCHEMA_VERSION + 1
    with closing(sqlite3.connect(path)) as conn:
        conn.execute(f"PRAGMA user_version = {newer}")
    before = digest(path)
    with pytest.raises(StoreError, match=rf"schema version {newer} is newer than this arbdb understands"):
        opener(path)
    assert digest(path) == before and user_version(path) == newer


def test_a_version_0_database_is_migrated_with_its_rows(tmp_path):
    path = version0(tmp_path / "arbdb.db", older=True)
    db = open_db(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == migrations.SCHEMA_VERSION == 7
    assert "usage_estimated" in db["llm_calls"].columns_dict and db["llm_failures"].exists()
    assert db["tickers"].count == 10 and db["llm_calls"].get(1)["model"] == "m"
    db.close()
    open_db(path).close()  # a second open finds it current and changes nothing
    assert user_version(path) == migrations.SCHEMA_VERSION


def test_a_complete_version_0_database_is_read_without_writing(tmp_path):
    path = version0(tmp_path / "arbdb.db")
    before = digest(path)
    db = open_readonly(path)
    assert db["tickers"].count == 10
    db.close()
    assert digest(path) == before and user_version(path) == 0


def test_reading_an_old_database_that_lacks_columns_says_to_migrate(tmp_path):
    path = version0(tmp_path / "arbdb.db", older=True)
    with pytest.raises(
        StoreError,
        match=r"older arbdb \(schema version 0\), lacks column llm_calls.usage_estimated, table llm_failures",
    ):
        open_readonly(path)


def test_migration_steps_run_in_order_and_fail_as_a_whole(tmp_path, monkeypatch):
    path = populated(tmp_path / "arbdb.db")
    upsert(open_db(path), "runs", [{"run_id": "r1", "job": "backfill", "started_at": "t", "status": "done"}])
    current = migrations.SCHEMA_VERSION

    def add_note(db, schema, indexes):
        migrations.add_columns(db, "runs", {"note": str})

    def broken(db, schema, indexes):
        migrations.add_columns(db, "runs", {"broken": int})
        db.execute("UPDATE runs SET status = 'x'")
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(migrations, "STEPS", (*migrations.STEPS, ("runs.note", add_note), ("broken", broken)))
    monkeypatch.setattr(migrations, "SCHEMA_VERSION", current + 2)
    with pytest.raises(StoreError, match=rf"^{path}: disk I/O error"):
        open_db(path)
    db = sqlite_utils.Database(path)
    assert user_version(path) == current and set(db["runs"].columns_dict) == set(SCHEMA["runs"][0])
    assert db["runs"].get("r1")["status"] == "done"

    monkeypatch.setattr(migrations, "STEPS", migrations.STEPS[: current + 1])
    monkeypatch.setattr(migrations, "SCHEMA_VERSION", current + 1)
    open_db(path).close()
    assert user_version(path) == current + 1 and "note" in sqlite_utils.Database(path)["runs"].columns_dict


def test_a_version_1_database_gets_the_runs_pid_and_host_with_its_rows(tmp_path):
    # Version 1 (the first versioned schema) had no runs.pid/runs.host; step 2 adds them.
    path = version0(tmp_path / "arbdb.db")
    db = sqlite_utils.Database(path)
    db["runs"].transform(drop={"pid", "host"})
    db["runs"].insert({"run_id": "r1", "job": "backfill", "started_at": "t", "status": "running"})
    db.execute("PRAGMA user_version = 1")
    db.close()
    with pytest.raises(StoreError, match=r"schema version 1\), lacks column runs.pid, column runs.host"):
        open_readonly(path)  # a read never migrates
    migrated = open_db(path)
    assert user_version(path) == migrations.SCHEMA_VERSION
    assert {"pid", "host"} <= set(migrated["runs"].columns_dict)
    assert migrated["runs"].get("r1")["status"] == "running" and migrated["tickers"].count == 10
    migrated.close()


def test_a_version_2_database_gets_run_pairs_filled_from_the_comma_lists(tmp_path):
    # Version 2 named a range run's pairs only as a comma list in runs.pair; step 3 makes them rows.
    path = version0(tmp_path / "arbdb.db")
    db = sqlite_utils.Database(path)
    db["run_pairs"].drop()
    runs = [
        {"run_id": "b1", "job": "backfill", "pair": "BTC,ETH", "started_at": "t", "status": "done"},
        {"run_id": "f1", "job": "funding_cycle", "pair": "SOL", "started_at": "t", "status": "failed"},
        {"run_id": "r1", "job": "cost_report", "pair": None, "started_at": "t", "status": "done"},
    ]
    db["runs"].insert_all(runs)
    db.execute("PRAGMA user_version = 2")
    db.close()
    with pytest.raises(StoreError, match=r"schema version 2\), lacks table run_pairs"):
        open_readonly(path)  # a read never migrates
    migrated = open_db(path)
    assert user_version(path) == migrations.SCHEMA_VERSION
    pairs = sorted((row["run_id"], row["pair"]) for row in migrated["run_pairs"].rows)
    assert pairs == [("b1", "BTC"), ("b1", "ETH"), ("f1", "SOL")]
    assert migrated["runs"].get("b1")["pair"] == "BTC,ETH"  # kept as display text
    assert migrated["runs"].count == 3 and migrated["tickers"].count == 10
    migrated.close()
