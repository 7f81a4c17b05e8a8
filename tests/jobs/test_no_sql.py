"""No SQL in `jobs/`: queries live in the pipeline module that owns their table (issue #9).

Scans every `jobs/*.py` with `ast`: no SQL statement in a string literal, no query method of
sqlite3/sqlite-utils/pandas, no table access (`db[...]`, `.conn`), and sqlite3/sqlite-utils only
as the `sqlite_utils.Database` type and `sqlite3.Error` (the CLI's last-resort translation).
Databases are opened through `pipelines.store` only.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

JOBS = Path(__file__).resolve().parents[2] / "jobs"
# SQL keywords in capitals (how this code writes SQL), and statement shapes in any case that
# English text does not take (a docstring may well say "select the pairs from config").
SQL_CAPITALS = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|FROM|WHERE|JOIN|PRAGMA|CREATE TABLE|DROP TABLE)\b")
SQL_ANY_CASE = re.compile(
    r"\bselect\s.+\sfrom\s+\w+\s+(where|join|group|order|limit)\b|\binsert\s+(or\s+\w+\s+)?into\s"
    r"|\bupdate\s+\w+\s+set\s|\bdelete\s+from\s|\b(create|drop|alter)\s+(table|index|view)\b"
    r"|\bpragma\s+\w+|\bcount\(\*\)",
    re.IGNORECASE | re.DOTALL,
)
QUERY_METHODS = {
    "execute",
    "executemany",
    "executescript",
    "query",
    "rows_where",
    "count_where",
    "insert_all",
    "upsert_all",
    "delete_where",
    "read_sql",
    "read_sql_query",
    "enable_wal",
}
ALLOWED = {"sqlite3": {"Error"}, "sqlite_utils": {"Database"}}


def _is_sql(text: str) -> bool:
    return bool(SQL_CAPITALS.search(text) or SQL_ANY_CASE.search(text))


def _strings(tree: ast.AST) -> list[tuple[int, str]]:
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]


def _call_problems(node: ast.Call) -> list[str]:
    func = node.func
    if not isinstance(func, ast.Attribute):
        return []
    if func.attr in QUERY_METHODS:
        return [f"calls .{func.attr}()"]
    if isinstance(func.value, ast.Name) and func.value.id in ALLOWED:
        return [f"calls {func.value.id}.{func.attr}() (open databases through pipelines.store)"]
    return []


def _node_problems(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Call):
        return _call_problems(node)
    if isinstance(node, ast.Attribute):
        owner = node.value.id if isinstance(node.value, ast.Name) else None
        if owner in ALLOWED and node.attr not in ALLOWED[owner]:
            return [f"uses {owner}.{node.attr}"]
        if node.attr == "conn":
            return ["uses a raw connection (.conn)"]
        if isinstance(node.value, ast.Subscript) and node.attr in {"count", "rows", "get", "columns_dict"}:
            return [f"reads a table directly (...[...].{node.attr})"]
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == "db":
        return ["indexes a table (db[...])"]
    if isinstance(node, ast.ImportFrom) and node.module in ALLOWED:
        return [f"imports from {node.module}"]
    return []


def sql_problems(source: str) -> list[str]:
    """Every place in `source` that writes SQL or touches a database beyond its type."""
    tree = ast.parse(source)
    problems = [
        f"line {line}: SQL in a string: {text[:60]!r}" for line, text in _strings(tree) if _is_sql(text)
    ]
    for node in ast.walk(tree):
        problems += [f"line {node.lineno}: {what}" for what in _node_problems(node)]
    return problems


@pytest.mark.parametrize("path", sorted(JOBS.glob("*.py")), ids=lambda p: p.name)
def test_jobs_module_has_no_sql(path):
    assert sql_problems(path.read_text()) == []


@pytest.mark.parametrize(
    "snippet",
    [
        'rows = db.execute("SELECT job FROM runs").fetchall()',
        'sql = "select pair, window_end from windows where flagged = 1"',
        'text = f"DELETE FROM runs WHERE run_id = {run_id!r}"',
        "total = db['windows'].count",
        "frame = pd.read_sql_query(sql, db.conn)",
        "for row in db.query(sql): pass",
        "db = sqlite_utils.Database('x.db')",
        "conn = sqlite3.connect('x.db')",
        "from sqlite_utils import Database",
    ],
)
def test_the_scan_finds_sql(snippet):
    assert sql_problems(snippet), snippet


def test_the_scan_allows_the_database_type_and_the_error_class():
    source = (
        "import sqlite3\nimport sqlite_utils\n"
        "def f(db: sqlite_utils.Database, err: Exception) -> bool:\n"
        "    '''Select the pairs to show from config.'''\n"
        "    return isinstance(err, sqlite3.Error)\n"
    )
    assert sql_problems(source) == []
