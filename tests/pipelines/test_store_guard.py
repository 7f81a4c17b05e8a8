"""Guards around opening the store: each unusable path is one StoreError naming it and the fix."""

from __future__ import annotations

import sqlite3

import pytest

from pipelines.core.errors import StoreError
from pipelines.store.guard import (
    CREATE,
    REBUILD,
    check_integrity,
    check_read_path,
    check_write_path,
    connect_readonly,
    translate,
)


def test_sqlite_messages_become_what_is_wrong_and_what_to_do(tmp_path):
    path = tmp_path / "x.db"
    assert str(translate(sqlite3.DatabaseError("file is not a database"), path)) == (
        f"{path}: is not an SQLite database; point `database` in config.yaml at the arbdb database"
    )
    locked = translate(sqlite3.OperationalError("database is locked"), path)
    assert "locked by another process" in str(locked) and "retry once" in str(locked)
    assert str(translate(sqlite3.OperationalError("something new"), path)) == (
        f"{path}: SQLite error: something new; rerun with -v for details"
    )


def test_a_folder_is_never_a_database(tmp_path):
    with pytest.raises(StoreError, match="is a folder, not a database file"):
        check_write_path(tmp_path)
    with pytest.raises(StoreError, match="is a folder, not a database file"):
        check_read_path(tmp_path)


def test_a_write_path_gets_its_folder_but_a_file_in_the_way_is_refused(tmp_path):
    check_write_path(tmp_path / "new" / "deeper" / "arbdb.db")
    assert (tmp_path / "new" / "deeper").is_dir()
    (tmp_path / "plain").write_text("not a folder")
    with pytest.raises(StoreError, match="plain is a file, not a folder"):
        check_write_path(tmp_path / "plain" / "arbdb.db")


def test_a_read_path_must_exist_and_creates_nothing(tmp_path):
    missing = tmp_path / "sub" / "arbdb.db"
    with pytest.raises(StoreError) as err:
        check_read_path(missing)
    assert str(err.value) == f"{missing}: no database exists here yet; {CREATE}"
    assert not missing.parent.exists()


def test_a_read_only_connection_reads_and_cannot_write(tmp_path):
    path = tmp_path / "arbdb.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (x)")
        conn.execute("INSERT INTO t VALUES (1)")
    conn.close()
    ro = connect_readonly(path)
    try:
        assert ro.execute("SELECT x FROM t").fetchall() == [(1,)]
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            ro.execute("INSERT INTO t VALUES (2)")
        check_integrity(ro, path)  # a sound file passes
    finally:
        ro.close()


def test_a_damaged_file_is_refused_with_the_rebuild_advice(tmp_path):
    path = tmp_path / "arbdb.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (x)")
    conn.executemany("INSERT INTO t VALUES (?)", [("x" * 500,) for _ in range(200)])
    conn.commit()
    conn.close()
    count = path.stat().st_size // 4096
    with path.open("r+b") as f:  # garbage over pages in the middle, as a failing disk would write
        for page in range(count // 2, count // 2 + 4):
            f.seek(page * 4096)
            f.write(bytes((page * 7 + i) % 251 for i in range(4096)))
    conn = sqlite3.connect(path)
    try:
        with pytest.raises(StoreError, match=f"the database is damaged .*; {REBUILD}"):
            check_integrity(conn, path)
    finally:
        conn.close()
