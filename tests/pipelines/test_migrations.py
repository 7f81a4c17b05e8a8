"""Schema versions on real SQLite files, with a small schema of their own: create, check, refuse."""

from __future__ import annotations

import sqlite3

import pytest
import sqlite_utils

from pipelines.core.errors import StoreError
from pipelines.store.migrations import (
    SCHEMA_VERSION,
    add_columns,
    check_readable,
    migrate,
    missing_parts,
    user_version,
)

SCHEMA = {
    "prices": ({"symbol": str, "ts": str, "price": float}, ("symbol", "ts"), {"symbol", "ts"}),
    "notes": ({"id": int, "text": str}, ("id",), {"id"}),
}
INDEXES = {"prices": [("ts",)]}


@pytest.fixture
def path(tmp_path):
    return tmp_path / "small.db"


def test_a_new_database_is_created_whole_at_the_current_version(path):
    db = sqlite_utils.Database(path)
    migrate(db, path, SCHEMA, INDEXES)
    assert user_version(db, path) == SCHEMA_VERSION and missing_parts(db, SCHEMA) == []
    assert db["prices"].pks == ["symbol", "ts"] and db["notes"].pks == ["id"]
    assert ["ts"] in [i.columns for i in db["prices"].indexes]
    migrate(db, path, SCHEMA, INDEXES)  # again: nothing to do
    assert user_version(db, path) == SCHEMA_VERSION


def test_a_dropped_index_is_recreated_quietly(path):
    db = sqlite_utils.Database(path)
    migrate(db, path, SCHEMA, INDEXES)
    [ts_index] = [i.name for i in db["prices"].indexes if i.columns == ["ts"]]
    db.execute(f"DROP INDEX {ts_index}")
    migrate(db, path, SCHEMA, INDEXES)
    assert ["ts"] in [i.columns for i in db["prices"].indexes]


def test_a_dropped_column_or_table_is_refused_naming_it(path):
    db = sqlite_utils.Database(path)
    migrate(db, path, SCHEMA, INDEXES)
    db["notes"].drop()
    with pytest.raises(StoreError, match=r"table notes missing from the database \(dropped\?\); restore it"):
        migrate(db, path, SCHEMA, INDEXES)
    with pytest.raises(StoreError, match="table notes missing"):
        check_readable(db, path, SCHEMA)


def test_many_missing_parts_are_listed_four_then_counted(path):
    db = sqlite_utils.Database(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    db["other"].insert({"x": 1})
    wide = {"wide": ({f"c{i}": int for i in range(6)}, ("c0",), set())}
    db["wide"].insert({"c0": 1})
    with pytest.raises(
        StoreError, match=r"column wide\.c1, column wide\.c2, column wide\.c3, column wide\.c4 and 1 more"
    ):
        check_readable(db, path, wide)


def test_an_older_database_lacking_parts_is_told_to_migrate_by_a_write_command(path):
    db = sqlite_utils.Database(path)
    db["prices"].insert({"symbol": "BTC", "ts": "2024-03-01T00:00:00Z"})  # version 0, no price column
    with pytest.raises(
        StoreError, match=r"schema version 0\), lacks column prices\.price, table notes; run a write"
    ):
        check_readable(db, path, {"prices": SCHEMA["prices"], "notes": SCHEMA["notes"]})


def test_a_newer_database_is_refused(path):
    sqlite3.connect(path).execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}").connection.close()
    db = sqlite_utils.Database(path)
    with pytest.raises(StoreError, match="is newer than this arbdb understands"):
        migrate(db, path, SCHEMA, INDEXES)


def test_adding_columns_keeps_rows_and_skips_those_present(path):
    db = sqlite_utils.Database(path)
    db["notes"].insert({"id": 1, "text": "kept"}, pk="id")
    add_columns(db, "notes", {"text": str, "author": str})
    add_columns(db, "notes", {"author": str})
    assert list(db["notes"].rows) == [{"id": 1, "text": "kept", "author": None}]
