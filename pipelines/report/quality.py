"""The report's data-quality warnings of one day: missing windows, incomplete windows with their
real causes, the warnings stored with each window, and failed runs."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pandas as pd

from pipelines.config.settings import Pair
from pipelines.core.columns import SIDES
from pipelines.transform.legs import leg_labels

MAX_WARNINGS = 20


def day_warnings(
    pairs: Sequence[Pair], min_coverage: float, windows: pd.DataFrame, runs: pd.DataFrame
) -> list[str]:
    """Warnings for the day's `windows` (rows ending in the day) and `runs` (started in it); a window
    is short of minutes below `min_coverage`."""
    found: list[str] = []
    for pair in pairs:
        have = int((windows["pair"] == pair.name).sum()) if not windows.empty else 0
        expected = int(24 // pair.window_hours)
        if have < expected:
            found.append(f"{pair.name}: {have} of {expected} windows stored for the day")
    for row in windows.to_dict("records"):
        found += window_lines(row, min_coverage)
    if not runs.empty:
        failed = runs[runs["status"].isin(("failed", "interrupted"))]
        found += [
            f"run {r['run_id']} {r['status']}: {_text(r.get('error')) or 'no error text'}"
            for r in failed.to_dict("records")
        ]
    if len(found) > MAX_WARNINGS:
        found = found[:MAX_WARNINGS] + [f"... and {len(found) - MAX_WARNINGS} more"]
    return found


def window_lines(row: dict, min_coverage: float) -> list[str]:
    """One line for an incomplete window naming its causes, else one line per stored warning.

    The causes are the window's stored warnings; a row stored without any (an older version) gets
    them from its quality columns (`*_settled`, `*_minutes` of `expected_minutes`)."""
    where = f"{row['pair']} window ending {row['window_end']}"
    texts = warning_texts(row.get("warnings"))
    if row.get("complete") != 0:
        return [f"{where}: {text}" for text in texts]
    causes = texts or _quality_causes(row, min_coverage) or ["cause not recorded"]
    return [f"{where}: incomplete: {'; '.join(causes)}"]


def _quality_causes(row: dict, min_coverage: float) -> list[str]:
    causes = []
    expected = _number(row.get("expected_minutes"))
    for side, label in zip(SIDES, leg_labels(row), strict=True):
        if _number(row.get(f"{side}_settled")) == 0:
            causes.append(f"{label} settlement missing")
        minutes = _number(row.get(f"{side}_minutes"))
        if expected and minutes is not None and minutes / expected < min_coverage:
            causes.append(f"{label} {minutes:.0f} of {expected:.0f} minutes")
    return causes


def warning_texts(value) -> list[str]:
    """The stored `warnings` value (a JSON list, object or plain text) as lines."""
    if not value or not isinstance(value, str):
        return []
    try:
        parsed = json.loads(value)
    except ValueError:
        return [value]
    if isinstance(parsed, dict):
        return [f"{k}: {v}" for k, v in parsed.items()]
    return [str(item) for item in parsed] if isinstance(parsed, list) else [str(parsed)]


def _number(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if number != number else number  # NaN from a pandas row means "not stored"


def _text(value: object) -> str:
    """A text cell as read through pandas: a missing one is NaN (truthy), not None."""
    return value if isinstance(value, str) else ""
