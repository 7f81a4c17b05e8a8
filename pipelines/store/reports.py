"""The `reports` table: one row per report made (pending, sent, outboxed, dead or withdrawn).

`pipelines.report.ledger` holds the delivery rules; these are its reads and writes.
"""

from __future__ import annotations

import sqlite_utils


def status(db: sqlite_utils.Database, report_id: int) -> tuple[str, str | None] | None:
    """(status, error) of a report row, or None when there is no such row."""
    row = db.execute("SELECT status, error FROM reports WHERE id = ?", [report_id]).fetchone()
    return tuple(row) if row else None


def queued(db: sqlite_utils.Database, report_date: str, made_before: str | None = None) -> list[tuple]:
    """(id, eml_path) of the date's pending or outboxed rows (made before `made_before` when given)."""
    sql = "SELECT id, eml_path FROM reports WHERE report_date = ? AND status IN ('pending', 'outboxed')"
    params = [report_date]
    if made_before is not None:
        sql += " AND created_at < ?"
        params.append(made_before)
    return db.execute(sql, params).fetchall()


def delivered(db: sqlite_utils.Database, report_date: str, made_from: str) -> list[tuple]:
    """(id, subject, status, eml_path) of the date's sent, outboxed or dead rows made at or after
    `made_from`, newest first."""
    return db.execute(
        "SELECT id, subject, status, eml_path FROM reports WHERE report_date = ? AND created_at >= ?"
        " AND status IN ('sent', 'outboxed', 'dead') ORDER BY id DESC",
        [report_date, made_from],
    ).fetchall()


def insert(db: sqlite_utils.Database, row: dict) -> int:
    """Insert a `reports` row; its id."""
    return db["reports"].insert(row).last_pk


def update(db: sqlite_utils.Database, report_id: int, changes: dict) -> None:
    """Change columns of one `reports` row."""
    db["reports"].update(report_id, changes)


def has_newer_copy(db: sqlite_utils.Database, report_id: int) -> bool:
    """Whether another row for the same date, newer than `report_id`, was made after the day was
    over and is pending, outboxed, sent or dead (False when the table does not exist yet)."""
    if not db["reports"].exists():
        return False
    newer = db.execute(
        "SELECT 1 FROM reports AS old JOIN reports AS new ON new.report_date = old.report_date"
        " AND new.id > old.id AND new.status IN ('pending', 'outboxed', 'sent', 'dead')"
        " AND new.created_at >= date(new.report_date, '+1 day') || 'T00:00:00Z' WHERE old.id = ?",
        [report_id],
    ).fetchone()
    return newer is not None


def attempts(db: sqlite_utils.Database, report_id: int) -> tuple[int | None] | None:
    """(attempts,) of a report row, or None when there is no such row."""
    row = db.execute("SELECT attempts FROM reports WHERE id = ?", [report_id]).fetchone()
    return tuple(row) if row else None
