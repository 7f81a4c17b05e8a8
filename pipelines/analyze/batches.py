"""One gateway pass over pending windows: batches, one retry of bad verdicts, fallback model,
daily budget, and a ledger row for every call (see `pipelines.analyze.stage` for the policy)."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from pipelines.analyze.client import ChatResult, GatewayClient, RequestRejected
from pipelines.analyze.ledger import (
    COMPLETION_TOKENS_PER_WINDOW,
    call_base,
    call_cost,
    record_attempts,
    record_failures,
    record_result,
    record_unbilled,
)
from pipelines.analyze.prompt import CONTEXT_WINDOWS, build_messages, prompt_tokens
from pipelines.analyze.tier_budget import budget_stop
from pipelines.analyze.verdict_store import store_verdicts
from pipelines.config.settings import Settings, Tier
from pipelines.core.errors import AuthError, LLMError
from pipelines.core.verdicts import Verdict, parse_reply

if TYPE_CHECKING:
    from pipelines.analyze.result import Alerts, AnalyzeResult, TierResult

__all__ = ["GatewayRun", "batches", "store_verdicts", "window_context"]

log = logging.getLogger(__name__)

DOWN_AFTER_BATCHES = 2  # batches failing at the gateway in a row before the pass stops asking


class _BudgetReached(Exception):
    def __init__(self, note: str, rows: list[dict]):
        super().__init__(note)
        self.note, self.rows = note, rows


class GatewayRun:
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
        alerts: Alerts | None = None,
    ):
        self.db, self.settings, self.llm, self.client = db, settings, settings.llm, client
        self.alerts = alerts
        self.run_id, self.now, self.result, self.columns = run_id, now, result, columns
        self._started = time.monotonic()
        self.down: str | None = None  # set once the gateway is deemed down for this pass
        self._failed_in_a_row = 0
        self.use_tier(1, settings.llm.tier_list()[0], None)

    def use_tier(self, number: int, tier: Tier, escalates, tier_result: TierResult | None = None) -> None:
        """Send the next windows to `tier` (its model, then its fallback); `escalates(verdict)` says
        whether a verdict goes on to the next tier (its alert waits for that tier's verdict)."""
        self.number, self.tier, self.escalates = number, tier, escalates
        self.models = tier.models
        self.model = tier.model
        self.tier_result = tier_result
        self.stored: dict[str, tuple[Verdict, str]] = {}  # id -> (verdict, model) stored for this tier

    def run(self, pending: list[dict]) -> None:
        groups = batches(pending, self.llm.batch_size)
        for i, batch in enumerate(groups):
            if self.down:
                # Asking again now would only wait for the same failure; the next run retries.
                rows = [r for group in groups[i:] for r in group]
                self._fail(rows, {r["id"]: f"gateway: not tried, {self.down}" for r in rows}, self.model)
                return
            try:
                self._batch(batch)
            except _BudgetReached as stop:
                self._skip([stop.rows, *groups[i + 1 :]], stop.note)
                return

    def _batch(self, rows: list[dict]) -> None:
        invalid = self._ask(rows)
        if invalid:
            log.info("retrying %d window(s) with bad verdicts: %s", len(invalid), ", ".join(invalid))
            still = self._ask([r for r in rows if r["id"] in invalid])
            self._fail(rows, {i: f"invalid after retry: {why}" for i, why in still.items()}, self.model)
            if self.number == 1:
                self.result.invalid += len(still)

    def _ask(self, rows: list[dict]) -> dict[str, str]:
        """One request (fallback model on gateway failure); stores good verdicts, returns the bad ones."""
        ids = [r["id"] for r in rows]
        messages = build_messages(rows, self.columns, window_context(self.db, rows), self.llm.language)
        errors, failure = [], None
        for model in self.models:
            self._check_budget(model, messages, rows)
            base = call_base(self._ts(), self.run_id, model, ids, self.number)
            try:
                reply = self.client.chat(model, messages, self.llm.temperature, self.llm.json_mode)
            except (AuthError, LLMError, RequestRejected) as err:
                self._call_failed(err, base, model, len(ids))
                errors.append(f"{model}: {err}")
                failure = err
                if getattr(err, "unreachable", False):
                    break  # the fallback model is behind the same unreachable gateway
                continue
            return self._take(reply, base, rows, model)
        self._fail(rows, {i: f"gateway: {'; '.join(errors)}" for i in ids}, self.models[-1])
        self._gateway_failed(failure)
        return {}

    def _call_failed(self, err: Exception, base: dict, model: str, windows: int) -> None:
        """Ledger a failed call's attempts; bad credentials end the whole pass at once."""
        attempts = getattr(err, "attempts", ())
        record_attempts(self.db, base, attempts)
        self._account(len(attempts), 0, 0, 0.0)
        if isinstance(err, AuthError):
            raise err
        log.warning("LLM call to %s failed for %d window(s): %s", model, windows, err)

    def _take(self, reply: ChatResult, base: dict, rows: list[dict], model: str) -> dict[str, str]:
        """Ledger a completed call and store its good verdicts; returns the bad ones."""
        self._failed_in_a_row = 0
        record_attempts(self.db, base, reply.failed_attempts)
        parsed = parse_reply(reply.content, [r["id"] for r in rows])
        status = "ok" if parsed.clean else "invalid"
        cost = record_result(self.db, self.llm, base, reply, status, parsed.problems())
        self._account(len(reply.failed_attempts) + 1, reply.prompt_tokens, reply.completion_tokens, cost)
        valid = list(parsed.valid.values())
        stored = store_verdicts(
            self.db, self.alerts, self.result, self.run_id, self.now, rows, valid, model,
            self.number, self.escalates,
        )  # fmt: skip
        self.stored.update({v.id: (v, model) for v in stored})
        if self.tier_result:
            self.tier_result.analysed += len(stored)
        return parsed.bad

    def _gateway_failed(self, err: Exception) -> None:
        """Note why the gateway failed; after an unreachable gateway or DOWN_AFTER_BATCHES failed
        batches in a row, the rest of the pass is not sent."""
        base = self.llm.base_url
        attempts = getattr(err, "attempts", ())
        last = attempts[-1].error if attempts else str(err)
        if isinstance(err, RequestRejected):
            self.result.gateway_error = f"gateway {base} rejected the request ({last})"
            return
        self._failed_in_a_row += 1
        if getattr(err, "unreachable", False):
            self.result.gateway_error = f"gateway {base} unreachable ({last})"
        else:
            self.result.gateway_error = f"gateway {base} failing ({last} after {len(attempts)} attempt(s))"
        if getattr(err, "unreachable", False) or self._failed_in_a_row >= DOWN_AFTER_BATCHES:
            self.down = self.result.gateway_error

    def _check_budget(self, model: str, messages: list[dict], rows: list[dict]) -> None:
        estimate = call_cost(
            self.llm, model, prompt_tokens(messages), COMPLETION_TOKENS_PER_WINDOW * len(rows)
        )
        note = budget_stop(self.db, self.llm, self.number, self._ts(), estimate)
        if note:
            raise _BudgetReached(note, rows)

    def _skip(self, batches: list[list[dict]], note: str) -> None:
        log.warning("%s", note)
        self.result.budget_note = note
        for rows in batches:
            if not rows:
                continue
            base = call_base(self._ts(), self.run_id, self.model, [r["id"] for r in rows], self.number)
            record_unbilled(self.db, base, "skipped", note)
            record_failures(
                self.db,
                {(r["pair"], r["window_end"]): f"budget: {note}" for r in rows},
                self.result.prompt_version,
                self.run_id,
                self.model,
                self._ts(),
                self.number,
            )
            if self.number == 1:
                self.result.skipped_budget += len(rows)
            if self.tier_result:
                self.tier_result.skipped_budget += len(rows)

    def _fail(self, rows: list[dict], reasons: dict[str, str], model: str) -> None:
        if not reasons:
            return
        by_id = {r["id"]: r for r in rows}
        for ident, reason in reasons.items():
            log.warning("no verdict for %s: %s", ident, reason)
        failures = {(by_id[i]["pair"], by_id[i]["window_end"]): why for i, why in reasons.items()}
        version = self.result.prompt_version
        record_failures(self.db, failures, version, self.run_id, model, self._ts(), self.number)
        # A later tier's failure leaves the window the earlier tier's verdict: not a window unanalysed.
        if self.number == 1:
            self.result.failed += len(reasons)
        if self.tier_result:
            self.tier_result.failed += len(reasons)

    def _account(self, calls: int, prompt: int, completion: int, cost: float) -> None:
        for target in filter(None, (self.result, self.tier_result)):
            target.calls += calls
            target.prompt_tokens += prompt
            target.completion_tokens += completion
            target.cost_usd += cost

    def _ts(self) -> datetime:
        """`now` advanced by the time this pass has run: the ledger shows when each call happened."""
        return self.now + timedelta(seconds=time.monotonic() - self._started)


def window_context(db, rows: list[dict]) -> dict[str, list[dict]]:
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


def batches(rows: list[dict], size: int) -> list[list[dict]]:
    return [rows[i : i + size] for i in range(0, len(rows), size)]
