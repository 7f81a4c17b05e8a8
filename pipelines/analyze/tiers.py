"""Tiers: the first model sees every flagged window; each later one only the windows whose verdict
from the tier before matches its `when` (an action, a risk, or `confidence < X`).

A tier's verdict is cached in `verdict_tiers` per window, features hash and prompt version, so a
rerun makes no call at any tier. A later tier that gives no verdict (gateway failure, invalid
reply, its budget) leaves the earlier tier's verdict standing in `verdicts`; the reason is in
`llm_failures` with its tier, and the next run asks that tier again.
"""

from __future__ import annotations

from pipelines.analyze.batches import GatewayRun
from pipelines.analyze.result import TierResult
from pipelines.config.settings import Tier
from pipelines.core.verdicts import Verdict

_VERDICT_COLUMNS = "pair, window_end, feature_hash, model, risk, action, confidence, rationale, alert"


def matches(tier: Tier, verdict: Verdict) -> bool:
    """Whether `verdict` (from the tier before) goes on to `tier`: any of its conditions holds."""
    for condition in tier.when:
        if condition.startswith("confidence <"):
            if verdict.confidence < float(condition.rpartition("<")[2]):
                return True
        elif condition in (verdict.action, verdict.risk):
            return True
    return False


def cached_verdicts(
    db, prompt_version: str, number: int, rows: list[dict], offline: bool
) -> dict[str, tuple[Verdict, str]]:
    """Tier `number`'s stored verdicts on the current features of `rows`: id -> (verdict, model).
    Online, a rules verdict is no hit: the gateway's replaces it."""
    if not rows:
        return {}
    ends = [r["window_end"] for r in rows]
    found = db.execute(
        f"SELECT {_VERDICT_COLUMNS} FROM verdict_tiers WHERE prompt_version = ? AND tier = ?"
        " AND window_end >= ? AND window_end <= ?",
        [prompt_version, number, min(ends), max(ends)],
    ).fetchall()
    stored = {(p, e, h): (m, Verdict(f"{p}@{e}", *rest)) for p, e, h, m, *rest in found}
    out = {}
    for row in rows:
        hit = stored.get((row["pair"], row["window_end"], row["_hash"]))
        if hit and (offline or hit[0] != "rules"):
            out[row["id"]] = (hit[1], hit[0])
    return out


def tier_results(tiers: tuple[Tier, ...]) -> list[TierResult]:
    return [TierResult(i, t.model, " or ".join(t.when)) for i, t in enumerate(tiers, 1)]


def run_tiers(gateway: GatewayRun, tiers: tuple[Tier, ...], rows: list[dict]) -> None:
    """Every tier in turn over the windows that reach it (see the module docstring)."""
    result = gateway.result
    result.tiers = tier_results(tiers)
    waiting: dict[str, tuple[Verdict, str]] = {}  # new verdicts whose alert waits for the next tier
    for number, (tier, counts) in enumerate(zip(tiers, result.tiers, strict=True), 1):
        following = tiers[number] if number < len(tiers) else None
        escalates = (lambda v, t=following: matches(t, v)) if following else None
        cached = cached_verdicts(gateway.db, result.prompt_version, number, rows, offline=False)
        counts.windows, counts.cached = len(rows), len(cached)
        if number == 1:
            result.cached = len(cached)
        pending = [r for r in rows if r["id"] not in cached]
        gateway.use_tier(number, tier, escalates, counts)
        if pending:
            gateway.run(pending)
        _alert_standing(gateway, waiting)
        if following is None:
            return
        judged = {**cached, **gateway.stored}
        waiting = {i: judged[i] for i in gateway.stored if matches(following, judged[i][0])}
        rows = [
            r | {"_chain": [*r.get("_chain", ()), judged[r["id"]][1]]}
            for r in rows
            if r["id"] in judged and matches(following, judged[r["id"]][0])
        ]


def _alert_standing(gateway: GatewayRun, waiting: dict[str, tuple[Verdict, str]]) -> None:
    # An escalated verdict the next tier did not replace is final after all: alert on it now.
    for ident, (verdict, model) in waiting.items():
        if ident not in gateway.stored and gateway.alerts is not None:
            gateway.result.alerts += gateway.alerts([verdict], model)
