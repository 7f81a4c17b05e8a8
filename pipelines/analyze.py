"""Analyze stage: flagged windows -> validated verdicts, via the LLM gateway in batches or offline rules.

Only flagged windows are analysed, and only once per feature hash and prompt version: a verdict in
`verdicts` with the window's current `features_hash` and the current prompt version is a cache hit,
so a rerun or a backfill over analysed windows makes no call. With a key configured, verdicts of
the offline rules analyzer do not count as hits: they are upgraded to gateway verdicts.

With a key, windows go to the gateway `llm.batch_size` at a time; bad verdicts are retried once as
a smaller batch, then recorded in `llm_failures` and never stored. A gateway failure after its own
retries falls back to `llm.fallback_model` when set. Before every call the daily budget is checked;
once the next call would pass it, the remaining windows are recorded as skipped (ledger status
`skipped`, failure reason `budget: ...`). Rules verdicts make no gateway call and no ledger row.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import pandas as pd
import sqlite_utils

from pipelines.errors import AuthError, LLMError
from pipelines.llm_alerts import raise_alerts
from pipelines.llm_client import GatewayClient, RequestRejected
from pipelines.llm_ledger import (
    COMPLETION_TOKENS_PER_WINDOW,
    call_base,
    call_cost,
    record_attempts,
    record_failures,
    record_result,
    spent_on_day,
)
from pipelines.llm_prompt import (
    CONTEXT_WINDOWS,
    build_messages,
    feature_columns,
    features_hash,
    prompt_tokens,
    prompt_version,
    window_id,
)
from pipelines.llm_rules import rules_verdict
from pipelines.llm_verdicts import Verdict, parse_reply
from pipelines.settings import Pair, Settings
from pipelines.store import transaction, upsert
from pipelines.timeutil import day_start, to_iso

log = logging.getLogger(__name__)


@dataclass
class PromptBatch:
    """A request as it would be sent (dry run), with its estimated tokens and cost."""

    ids: list[str]
    model: str
    messages: list[dict]
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float


@dataclass
class AnalyzeResult:
    """What one analyze pass did. `analyzer` is "llm" or "rules"; `model` the primary model or "rules"."""

    analyzer: str
    model: str
    prompt_version: str
    flagged: int = 0
    analysed: int = 0
    cached: int = 0
    failed: int = 0
    skipped_budget: int = 0
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    alerts: int = 0
    budget_note: str | None = None
    dry_run: bool = False
    batches: list[PromptBatch] = field(default_factory=list)

    def counts(self) -> dict:
        """The counters, for `runs.counts` and the CLI table."""
        keys = (
            "flagged",
            "analysed",
            "cached",
            "failed",
            "skipped_budget",
            "calls",
            "prompt_tokens",
            "completion_tokens",
            "alerts",
        )
        return {
            "analyzer": self.analyzer,
            "model": self.model,
            **{k: getattr(self, k) for k in keys},
            "cost_usd": round(self.cost_usd, 6),
        }

    def summary(self) -> str:
        """One line saying which analyzer ran and what it did."""
        text = (
            f"analyzer {self.analyzer} ({self.model}): {self.analysed} analysed, {self.cached} cached, "
            f"{self.failed} failed, {self.skipped_budget} skipped (budget), {self.calls} calls, "
            f"${self.cost_usd:.4f}"
        )
        return f"{text}; {self.budget_note}" if self.budget_note else text


class _BudgetReached(Exception):
    def __init__(self, note: str, rows: list[dict]):
        super().__init__(note)
        self.note, self.rows = note, rows


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
) -> AnalyzeResult:
    """Analyse the flagged windows of `pairs` (names, Pair objects, or None for all) in (start, end]."""
    frame = flagged_windows(db, start, end, pairs)
    return analyze_windows(db, settings, frame, run_id, now, client=client, dry_run=dry_run)


def analyze_windows(
    db: sqlite_utils.Database,
    settings: Settings,
    windows_df: pd.DataFrame,
    run_id: str,
    now: datetime,
    client: GatewayClient | None = None,
    dry_run: bool = False,
) -> AnalyzeResult:
    """Verdicts for the flagged rows of `windows_df` that have none yet; see the module docstring."""
    llm = settings.llm
    rows = [r for r in _records(windows_df) if _truthy(r.get("flagged"))]
    result = AnalyzeResult(
        "rules" if llm.offline else "llm",
        "rules" if llm.offline else llm.model,
        current_prompt_version(settings),
        flagged=len(rows),
        dry_run=dry_run,
    )
    pending, result.cached = _split_cached(db, settings, rows)
    columns = feature_columns(windows_df)
    if dry_run:
        result.batches = [
            _estimate(settings, b, columns, _context(db, b)) for b in _batches(pending, llm.batch_size)
        ]
        return result
    if llm.offline:
        verdicts = [rules_verdict(r["id"], r, settings) for r in pending]
        _store(db, settings, result, run_id, now, pending, verdicts, "rules")
    elif pending:
        _GatewayRun(db, settings, client or make_client(settings), run_id, now, result, columns).run(pending)
    log.info("analyze %s: %s", run_id, result.summary())
    return result


class _GatewayRun:
    """One pass over pending windows with the gateway: batching, retries, fallback, budget, ledger."""

    def __init__(
        self,
        db,
        settings: Settings,
        client: GatewayClient,
        run_id: str,
        now: datetime,
        result: AnalyzeResult,
        columns: list[str],
    ):
        self.db, self.settings, self.llm, self.client = db, settings, settings.llm, client
        self.run_id, self.now, self.result, self.columns = run_id, now, result, columns
        self.models = [m for m in (self.llm.model, self.llm.fallback_model) if m]
        self.models = list(dict.fromkeys(self.models))
        self._started = time.monotonic()

    def run(self, pending: list[dict]) -> None:
        batches = _batches(pending, self.llm.batch_size)
        for i, batch in enumerate(batches):
            try:
                self._batch(batch)
            except _BudgetReached as stop:
                self._skip([stop.rows, *batches[i + 1 :]], stop.note)
                return

    def _batch(self, rows: list[dict]) -> None:
        invalid = self._ask(rows)
        if invalid:
            log.info("retrying %d window(s) with bad verdicts: %s", len(invalid), ", ".join(invalid))
            still = self._ask([r for r in rows if r["id"] in invalid])
            self._fail(rows, {i: f"invalid after retry: {why}" for i, why in still.items()}, self.llm.model)

    def _ask(self, rows: list[dict]) -> dict[str, str]:
        """One request (fallback model on gateway failure); stores good verdicts, returns the bad ones."""
        ids = [r["id"] for r in rows]
        messages = build_messages(rows, self.columns, _context(self.db, rows), self.llm.language)
        errors = []
        for model in self.models:
            self._check_budget(model, messages, rows)
            base = call_base(self._ts(), self.run_id, model, ids)
            try:
                reply = self.client.chat(model, messages, self.llm.temperature, self.llm.json_mode)
            except (AuthError, LLMError, RequestRejected) as err:
                attempts = getattr(err, "attempts", ())
                record_attempts(self.db, base, attempts)
                self.result.calls += len(attempts)
                if isinstance(err, AuthError):
                    raise
                log.warning("LLM call to %s failed for %d window(s): %s", model, len(ids), err)
                errors.append(f"{model}: {err}")
                continue
            record_attempts(self.db, base, reply.failed_attempts)
            parsed = parse_reply(reply.content, ids)
            status = "ok" if parsed.clean else "invalid"
            cost = record_result(self.db, self.llm, base, reply, status, parsed.problems())
            self._account(len(reply.failed_attempts) + 1, reply.prompt_tokens, reply.completion_tokens, cost)
            _store(
                self.db,
                self.settings,
                self.result,
                self.run_id,
                self.now,
                rows,
                list(parsed.valid.values()),
                model,
            )
            return parsed.bad
        self._fail(rows, {i: f"gateway: {'; '.join(errors)}" for i in ids}, self.models[-1])
        return {}

    def _check_budget(self, model: str, messages: list[dict], rows: list[dict]) -> None:
        estimate = call_cost(
            self.llm, model, prompt_tokens(messages), COMPLETION_TOKENS_PER_WINDOW * len(rows)
        )
        spent = spent_on_day(self.db, self._ts())
        if spent + estimate > self.llm.daily_budget_usd:
            raise _BudgetReached(
                f"daily LLM budget ${self.llm.daily_budget_usd:.2f} reached (${spent:.4f} spent today, "
                f"next call ~${estimate:.4f}); remaining windows skipped",
                rows,
            )

    def _skip(self, batches: list[list[dict]], note: str) -> None:
        log.warning("%s", note)
        self.result.budget_note = note
        for rows in batches:
            if not rows:
                continue
            base = call_base(self._ts(), self.run_id, self.llm.model, [r["id"] for r in rows])
            self.db["llm_calls"].insert(
                {
                    **base,
                    "prompt_tokens": 0,
                    "completion_tokens": 0,
                    "cost_usd": 0.0,
                    "latency_ms": 0.0,
                    "status": "skipped",
                    "error": note,
                    "usage_estimated": 0,
                }
            )
            record_failures(
                self.db,
                {(r["pair"], r["window_end"]): f"budget: {note}" for r in rows},
                self.result.prompt_version,
                self.run_id,
                self.llm.model,
                self._ts(),
            )
            self.result.skipped_budget += len(rows)

    def _fail(self, rows: list[dict], reasons: dict[str, str], model: str) -> None:
        if not reasons:
            return
        by_id = {r["id"]: r for r in rows}
        for ident, reason in reasons.items():
            log.warning("no verdict for %s: %s", ident, reason)
        failures = {(by_id[i]["pair"], by_id[i]["window_end"]): why for i, why in reasons.items()}
        record_failures(self.db, failures, self.result.prompt_version, self.run_id, model, self._ts())
        self.result.failed += len(reasons)

    def _account(self, calls: int, prompt: int, completion: int, cost: float) -> None:
        self.result.calls += calls
        self.result.prompt_tokens += prompt
        self.result.completion_tokens += completion
        self.result.cost_usd += cost

    def _ts(self) -> datetime:
        """`now` advanced by the time this pass has run: the ledger shows when each call happened."""
        return self.now + timedelta(seconds=time.monotonic() - self._started)


def _store(
    db,
    settings: Settings,
    result: AnalyzeResult,
    run_id: str,
    now: datetime,
    rows: list[dict],
    verdicts: list[Verdict],
    model: str,
) -> None:
    """Upsert `verdicts` (one transaction), count them, and raise alerts for the new ones."""
    if not verdicts:
        return
    by_id = {r["id"]: r for r in rows}
    records = [
        {
            "pair": by_id[v.id]["pair"],
            "window_end": by_id[v.id]["window_end"],
            "prompt_version": result.prompt_version,
            "risk": v.risk,
            "action": v.action,
            "confidence": v.confidence,
            "rationale": v.rationale,
            "alert": v.alert,
            "model": model,
            "feature_hash": by_id[v.id]["_hash"],
            "run_id": run_id,
            "created_at": to_iso(now),
        }
        for v in verdicts
    ]
    with transaction(db):
        upsert(db, "verdicts", records)
    result.analysed += len(records)
    result.alerts += raise_alerts(settings, db, verdicts, model, now)


def _split_cached(db, settings: Settings, rows: list[dict]) -> tuple[list[dict], int]:
    """(rows still to analyse, number of cache hits)."""
    if not rows:
        return [], 0
    version = current_prompt_version(settings)
    sql = "SELECT pair, window_end, feature_hash, model FROM verdicts WHERE prompt_version = ?"
    sql += " AND window_end >= ? AND window_end <= ?"
    ends = [r["window_end"] for r in rows]
    hits = {
        (pair, end, fhash)
        for pair, end, fhash, model in db.execute(sql, [version, min(ends), max(ends)]).fetchall()
        if settings.llm.offline or model != "rules"
    }
    pending = [r for r in rows if (r["pair"], r["window_end"], r["_hash"]) not in hits]
    return pending, len(rows) - len(pending)


def _records(frame: pd.DataFrame) -> list[dict]:
    """Window rows as dicts with their prompt `id` and feature hash `_hash`, oldest first."""
    if frame is None or frame.empty:
        return []
    rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
    for row in rows:
        row["id"] = window_id(row["pair"], row["window_end"])
        row["_hash"] = row.get("features_hash") or features_hash(row)
    return sorted(rows, key=lambda r: (r["window_end"], r["pair"]))


def _context(db, rows: list[dict]) -> dict[str, list[dict]]:
    """Each window's previous windows of the same pair (oldest first), from the `windows` table."""
    out = {}
    for row in rows:
        prev = db.execute(
            "SELECT * FROM windows WHERE pair = ? AND window_end < ? ORDER BY window_end DESC LIMIT ?",
            [row["pair"], row["window_end"], CONTEXT_WINDOWS],
        )
        names = [d[0] for d in prev.description]
        out[row["id"]] = [dict(zip(names, values, strict=True)) for values in prev.fetchall()][::-1]
    return out


def _estimate(settings: Settings, rows: list[dict], columns: list[str], context: dict) -> PromptBatch:
    llm = settings.llm
    messages = build_messages(rows, columns, context, llm.language)
    prompt, completion = prompt_tokens(messages), COMPLETION_TOKENS_PER_WINDOW * len(rows)
    cost = call_cost(llm, llm.model, prompt, completion)
    return PromptBatch([r["id"] for r in rows], llm.model, messages, prompt, completion, cost)


def _batches(rows: list[dict], size: int) -> list[list[dict]]:
    return [rows[i : i + size] for i in range(0, len(rows), size)]


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
