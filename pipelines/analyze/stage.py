"""Analyze stage: flagged windows -> validated verdicts, via the LLM gateway in batches or offline rules.

Only flagged windows are analysed, and only once per feature hash and prompt version: a tier's
verdict in `verdict_tiers` with the window's current `features_hash` and the current prompt version
is a cache hit, so a rerun or a backfill over analysed windows makes no call. With a key
configured, verdicts of the offline rules analyzer do not count as hits: they are upgraded to
gateway verdicts. With `llm.tiers`, later tiers see only the windows their `when` picks
(`pipelines.analyze.tiers`); everything below holds per tier.

With a key, windows go to the gateway `llm.batch_size` at a time; bad verdicts are retried once as
a smaller batch, then recorded in `llm_failures` and never stored. A gateway failure after its own
retries falls back to `llm.fallback_model` when set (not when the gateway is unreachable: the
fallback sits behind it). An unreachable gateway, or two batches in a row failing at it, ends the
pass: the remaining windows are recorded as failed without a call, and `AnalyzeResult.error_line`
says how many windows were left and why (the CLI exits 1 with it). Before every call the daily
budget is checked;
once the next call would pass it, the remaining windows are recorded as skipped (ledger status
`skipped`, failure reason `budget: ...`). Rules verdicts make no gateway call and no ledger row.
"""

from __future__ import annotations

import logging
from datetime import date, datetime

import pandas as pd
import sqlite_utils

from pipelines.analyze.batches import GatewayRun, batches, store_verdicts, window_context
from pipelines.analyze.client import GatewayClient
from pipelines.analyze.estimate import estimate_tiers
from pipelines.analyze.ledger import COMPLETION_TOKENS_PER_WINDOW, call_cost
from pipelines.analyze.prompt import (
    build_messages,
    feature_columns,
    prompt_tokens,
    prompt_version,
    window_id,
)
from pipelines.analyze.result import Alerts, AnalyzeResult, PromptBatch
from pipelines.analyze.rules import rules_params, rules_verdict
from pipelines.analyze.tiers import cached_verdicts, run_tiers
from pipelines.config.settings import LLM, Pair, Settings
from pipelines.core.features_hash import features_hash
from pipelines.core.timeutil import day_start, to_iso

log = logging.getLogger(__name__)


def make_client(settings: Settings, **overrides) -> GatewayClient:
    """The gateway client configured by `settings.llm` (overrides: backoff_base, session, ...)."""
    llm = settings.llm
    return GatewayClient(llm.base_url, llm.api_key, llm.timeout_seconds, llm.max_attempts, **overrides)


def current_prompt_version(settings: Settings) -> str:
    return prompt_version(settings.llm.prompt_version, settings.llm.language)


def flagged_windows(
    db: sqlite_utils.Database, start: datetime | date, end: datetime | date, pairs=None
) -> pd.DataFrame:
    """Flagged windows whose settlement time lies in (start, end], oldest first."""
    sql = "SELECT * FROM windows WHERE flagged = 1 AND window_end > ? AND window_end <= ?"
    params: list = [_iso(start), _iso(end)]
    names = _pair_names(pairs)
    if names:
        sql += f" AND pair IN ({', '.join('?' * len(names))})"
        params += names
    return pd.read_sql_query(sql + " ORDER BY window_end, pair", db.conn, params=params)


def pending_windows(
    db: sqlite_utils.Database, settings: Settings, start: datetime | date, end: datetime | date, pair=None
) -> pd.DataFrame:
    """Flagged windows in (start, end] without a verdict for the current prompt version and features."""
    frame = flagged_windows(db, start, end, pair)
    pending, _ = _split_cached(db, settings, _records(frame))
    keep = {(r["pair"], r["window_end"]) for r in pending}
    return frame[[(p, e) in keep for p, e in zip(frame["pair"], frame["window_end"], strict=True)]]


def analyze_range(
    db: sqlite_utils.Database,
    settings: Settings,
    start: datetime | date,
    end: datetime | date,
    pairs,
    run_id: str,
    now: datetime,
    dry_run: bool = False,
    client: GatewayClient | None = None,
    alerts: Alerts | None = None,
) -> AnalyzeResult:
    """Analyse the flagged windows of `pairs` (names, Pair objects, or None for all) in (start, end];
    the final verdicts of each stored batch go to `alerts` (see `Alerts`)."""
    frame = flagged_windows(db, start, end, pairs)
    return analyze_windows(db, settings, frame, run_id, now, client=client, dry_run=dry_run, alerts=alerts)


def analyze_windows(
    db: sqlite_utils.Database,
    settings: Settings,
    windows_df: pd.DataFrame,
    run_id: str,
    now: datetime,
    client: GatewayClient | None = None,
    dry_run: bool = False,
    alerts: Alerts | None = None,
) -> AnalyzeResult:
    """Verdicts for the flagged rows of `windows_df` that have none yet; see the module docstring."""
    llm = settings.llm
    rows = [r for r in _records(windows_df) if _truthy(r.get("flagged"))]
    result = AnalyzeResult(
        "rules" if llm.offline else "llm",
        "rules" if llm.offline else llm.tier_list()[0].model,
        current_prompt_version(settings),
        flagged=len(rows),
        dry_run=dry_run,
    )
    pending, result.cached = _split_cached(db, settings, rows)
    columns = feature_columns(windows_df)
    if dry_run:
        _dry_run(db, llm, result, rows, columns)
        return result
    if llm.offline:
        rules = rules_params(settings)
        verdicts = [rules_verdict(r["id"], r, rules) for r in pending]
        store_verdicts(db, alerts, result, run_id, now, pending, verdicts, "rules")
    elif rows:  # a later tier may have work even when tier 1's verdicts are all cached
        gateway = GatewayRun(
            db, settings, client or make_client(settings), run_id, now, result, columns, alerts
        )
        run_tiers(gateway, llm.tier_list(), rows)
    log.info("analyze %s: %s", run_id, result.summary())
    return result


def _dry_run(db, llm: LLM, result: AnalyzeResult, rows: list[dict], columns: list[str]) -> None:
    def build(pending: list[dict], model: str) -> list[PromptBatch]:
        return [
            _estimate(llm, b, columns, window_context(db, b), model) for b in batches(pending, llm.batch_size)
        ]

    result.tiers = estimate_tiers(db, llm, result.prompt_version, rows, build)
    result.batches = [b for tier in result.tiers for b in tier.batches]


def _split_cached(db, settings: Settings, rows: list[dict]) -> tuple[list[dict], int]:
    """(rows still to analyse at tier 1, number of tier-1 cache hits)."""
    version = current_prompt_version(settings)
    hits = cached_verdicts(db, version, 1, rows, settings.llm.offline)
    pending = [r for r in rows if r["id"] not in hits]
    return pending, len(rows) - len(pending)


def _records(frame: pd.DataFrame) -> list[dict]:
    """Window rows as dicts with their prompt `id` and feature hash `_hash`, oldest first."""
    if frame is None or frame.empty:
        return []
    rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
    for row in rows:
        if not isinstance(row["window_end"], str):  # a frame straight from the transform
            row["window_end"] = to_iso(pd.Timestamp(row["window_end"]))
        row["id"] = window_id(row["pair"], row["window_end"])
        row["_hash"] = row.get("features_hash") or features_hash(row)
    return sorted(rows, key=lambda r: (r["window_end"], r["pair"]))


def _estimate(llm: LLM, rows: list[dict], columns: list[str], context: dict, model: str) -> PromptBatch:
    messages = build_messages(rows, columns, context, llm.language)
    prompt, completion = prompt_tokens(messages), COMPLETION_TOKENS_PER_WINDOW * len(rows)
    cost = call_cost(llm, model, prompt, completion)
    return PromptBatch([r["id"] for r in rows], model, messages, prompt, completion, cost)


def _truthy(value) -> bool:
    try:
        return bool(int(value))
    except (TypeError, ValueError):
        return False


def _pair_names(pairs) -> list[str]:
    if pairs is None:
        return []
    if isinstance(pairs, str | Pair):
        pairs = [pairs]
    return [p.name if isinstance(p, Pair) else str(p) for p in pairs]


def _iso(value: datetime | date) -> str:
    return to_iso(value if isinstance(value, datetime) else day_start(value))
