"""Storing verdicts: every tier's in `verdict_tiers`, the last tier's in `verdicts` with the chain of
models that judged the window, and alerts for the verdicts that are final."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from pipelines.core.timeutil import to_iso
from pipelines.core.verdicts import Verdict
from pipelines.store import transaction, upsert

if TYPE_CHECKING:
    from pipelines.analyze.result import Alerts, AnalyzeResult


def store_verdicts(
    db,
    alerts: Alerts | None,
    result: AnalyzeResult,
    run_id: str,
    now: datetime,
    rows: list[dict],
    verdicts: list[Verdict],
    model: str,
    tier: int = 1,
    escalates: Callable[[Verdict], bool] | None = None,
) -> list[Verdict]:
    """Upsert `verdicts` of `tier` (one transaction), count tier 1's, and raise `alerts` for those not
    going on to a later tier (`escalates`): that tier's verdict is the one to alert on. Returns the
    verdicts stored (those on the features the windows still have)."""
    if not verdicts:
        return []
    by_id = {r["id"]: r for r in rows}
    stamp = {"prompt_version": result.prompt_version, "model": model, "run_id": run_id}
    records = [_verdict_record(v, by_id[v.id]) | stamp | {"created_at": to_iso(now)} for v in verdicts]
    with transaction(db):
        # Another run may have recomputed a window since it was read: store only verdicts on the
        # features the windows have now (that run analyses the new ones).
        current = _current_hashes(db, records)
        fresh = [current.get((r["pair"], r["window_end"])) in (None, r["feature_hash"]) for r in records]
        records = [r for r, ok in zip(records, fresh, strict=True) if ok]
        verdicts = [v for v, ok in zip(verdicts, fresh, strict=True) if ok]
        upsert(db, "verdict_tiers", [r | {"tier": tier} for r in records])
        _forget_later_tiers(db, records, tier)
        chains = {r["id"]: [*r.get("_chain", ()), model] for r in rows}
        upsert(db, "verdicts", [_final(r, tier, chains[_id(r)]) for r in records])
    if tier == 1:
        result.analysed += len(records)
    final = [v for v in verdicts if escalates is None or not escalates(v)]
    if alerts is not None:
        result.alerts += alerts(final, model)
    return verdicts


def _id(record: dict) -> str:
    return f"{record['pair']}@{record['window_end']}"


def _final(record: dict, tier: int, chain: list[str]) -> dict:
    return record | {"tier": tier, "models": json.dumps(chain)}


def _forget_later_tiers(db, records: list[dict], tier: int) -> None:
    # A new verdict of tier k replaces what later tiers said on other features: they judged a
    # window that no longer exists, and would otherwise look like this window's escalation.
    db.conn.executemany(
        "DELETE FROM verdict_tiers WHERE pair = ? AND window_end = ? AND prompt_version = ? AND tier > ?"
        " AND feature_hash != ?",
        [(r["pair"], r["window_end"], r["prompt_version"], tier, r["feature_hash"]) for r in records],
    )


def _verdict_record(verdict: Verdict, row: dict) -> dict:
    """The `verdicts` columns of `verdict` on window `row` (the run's own columns are added after)."""
    return {
        "pair": row["pair"],
        "window_end": row["window_end"],
        "risk": verdict.risk,
        "action": verdict.action,
        "confidence": verdict.confidence,
        "rationale": verdict.rationale,
        "alert": verdict.alert,
        "feature_hash": row["_hash"],
    }


def _current_hashes(db, records: list[dict]) -> dict[tuple[str, str], str]:
    keys = {(r["pair"], r["window_end"]) for r in records}
    rows = db.execute(
        "SELECT pair, window_end, features_hash FROM windows WHERE window_end >= ? AND window_end <= ?",
        [min(k[1] for k in keys), max(k[1] for k in keys)],
    ).fetchall()
    return {(pair, end): fhash for pair, end, fhash in rows if (pair, end) in keys}
