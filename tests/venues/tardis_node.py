"""Run tardis-node's own mappers (tests/reference/map_derivative_tickers.js) on replay lines.

The npm package `tardis-dev` is pinned in tests/reference/package.json and installed by
`make test` (`npm ci` into tests/reference/node_modules) wherever node and npm exist. Tests that
need it skip with the reason when node or the package is missing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from pipelines.venues.normalize import normalize_lines

REFERENCE = Path(__file__).parents[1] / "reference"
SCRIPT = REFERENCE / "map_derivative_tickers.js"
PACKAGE = REFERENCE / "node_modules" / "tardis-dev" / "package.json"


def missing_reason() -> str | None:
    """Why the reference cannot run here, or None when it can."""
    if shutil.which("node") is None:
        return "node is not on PATH: install Node.js to compare with tardis-node"
    if not PACKAGE.exists():
        return f"tardis-dev is not installed in {REFERENCE}: run `make test` or `npm ci` there"
    return None


def node_output(exchange: str, lines: Sequence[str]) -> list[list]:
    """tardis-node's `["row", line, ...]` and `["error", line, message]` entries for `lines`."""
    reason = missing_reason()
    if reason:
        pytest.skip(reason)
    done = subprocess.run(
        ["node", str(SCRIPT), exchange],
        input="".join(line + "\n" for line in lines).encode(),
        capture_output=True,
        timeout=60,
        check=True,
    )
    return [_values_as_floats(json.loads(row)) for row in done.stdout.decode().splitlines()]


def _values_as_floats(entry: list) -> list:
    """JavaScript numbers are doubles, but JSON `12345678901234567000` reads back as a Python int:
    value columns (from funding_rate on) are made floats again so they compare exactly."""
    if entry[0] == "row":
        entry[7:] = [float(v) if type(v) is int else v for v in entry[7:]]
    return entry


def node_records(exchange: str, lines: Sequence[str]) -> list[tuple]:
    """tardis-node's rows as arbdb record tuples (line numbers dropped); fails on an error entry."""
    out = node_output(exchange, lines)
    errors = [entry for entry in out if entry[0] == "error"]
    assert not errors, f"tardis-node failed on lines: {errors[:5]}"
    return [tuple(entry[2:]) for entry in out]


def arbdb_records(exchange: str, lines: Sequence[str], malformed: list | None = None) -> list[tuple]:
    """arbdb's records for `lines`. Malformed lines are appended to `malformed` when given, else
    they fail the test."""
    rejected: list[tuple[int, str]] = []
    records = list(normalize_lines(exchange, lines, on_error=lambda n, reason: rejected.append((n, reason))))
    if malformed is None:
        assert not rejected, f"arbdb rejected lines: {rejected[:5]}"
    else:
        malformed += rejected
    return records
