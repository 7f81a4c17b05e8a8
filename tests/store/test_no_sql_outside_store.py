"""No SQL outside `pipelines/store/`: every table is read and written by its store module (issue #18).

Scans every module of `pipelines/` (but `pipelines/store/`), `jobs/`, `loopback/` and `bench/` with
`ast`: no SQL statement in a string literal, no query method of sqlite3/sqlite-utils/pandas, no
table access (`db[...]`, `...["<table>"].count`, `.conn`), and sqlite3/sqlite-utils only as the
`sqlite_utils.Database` type and `sqlite3.Error` (the CLI's last-resort translation). Databases are
opened through `pipelines.store` only. No module is exempt.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from pipelines.store.schema import SCHEMA
from pipelines.store.views import VIEWS

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("pipelines", "jobs", "loopback", "bench")
STORE = ROOT / "pipelines" / "store"
TABLES = set(SCHEMA) | set(VIEWS)
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


def _is_table(node: ast.AST) -> bool:
    """`db[...]`, or anything indexed by a table's name (`other["windows"]`); not `counts["by_tier"]`."""
    if not isinstance(node, ast.Subscript):
        return False
    key = node.slice
    named = isinstance(key, ast.Constant) and key.value in TABLES
    return named or (isinstance(node.value, ast.Name) and node.value.id == "db")


def _node_problems(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Call):
        return _call_problems(node)
    if isinstance(node, ast.Attribute):
        owner = node.value.id if isinstance(node.value, ast.Name) else None
        if owner in ALLOWED and node.attr not in ALLOWED[owner]:
            return [f"uses {owner}.{node.attr}"]
        if node.attr == "conn":
            return ["uses a raw connection (.conn)"]
        if _is_table(node.value) and node.attr in {"count", "rows", "get", "columns_dict", "exists"}:
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


def scanned_modules() -> list[Path]:
    """Every module of the scanned packages outside `pipelines/store/`."""
    paths = [path for package in SCANNED for path in sorted((ROOT / package).rglob("*.py"))]
    return [path for path in paths if STORE not in path.parents]


def test_every_package_is_scanned():
    names = {path.relative_to(ROOT).parts[0] for path in scanned_modules()}
    assert names == set(SCANNED)
    assert len(scanned_modules()) > 100


@pytest.mark.parametrize("path", scanned_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_module_has_no_sql(path):
    assert sql_problems(path.read_text()) == []


@pytest.mark.parametrize(
    "snippet",
    [
        'rows = db.execute("SELECT job FROM runs").fetchall()',
        'sql = "select pair, window_end from windows where flagged = 1"',
        'text = f"DELETE FROM runs WHERE run_id = {run_id!r}"',
        "total = db['windows'].count",
        "total = self.db['windows'].count",
        "db['llm_calls'].insert({'ts': now})",
        "db.conn.executemany(sql, rows)",
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
        "def g(two: dict) -> int:\n"
        "    return two['by_tier'].get(2, {}).get('windows', 0)\n"
    )
    assert sql_problems(source) == []


def test_the_scan_finds_the_store_own_sql():
    # The store is where the SQL went: the same scan on its modules finds it.
    for name in (
        "market",
        "windows",
        "verdicts",
        "ledger",
        "runs",
        "reports",
        "backtests",
        "summary",
        "views",
    ):
        assert sql_problems((STORE / f"{name}.py").read_text()), name
