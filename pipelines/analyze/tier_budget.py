"""The daily LLM budget across tiers: a tier with a `budget_share` spends at most that share of
`llm.daily_budget_usd`; tiers without one share what the shares leave. Every call also keeps the
day's total under the budget (calls from before tiers count as tier 1's)."""

from __future__ import annotations

from datetime import datetime

import sqlite_utils

from pipelines.analyze.ledger import spent_on_day
from pipelines.config.settings import LLM


def tier_allowance(llm: LLM, number: int) -> tuple[float, list[int]]:
    """(USD per day for tier `number`, the tiers whose spend counts against it)."""
    tiers = llm.tier_list()
    share = tiers[number - 1].budget_share
    if share is not None:
        return share * llm.daily_budget_usd, [number]
    reserved = sum(t.budget_share or 0 for t in tiers)
    unshared = [i for i, t in enumerate(tiers, 1) if t.budget_share is None]
    return max(0.0, 1 - reserved) * llm.daily_budget_usd, unshared


def budget_stop(
    db: sqlite_utils.Database, llm: LLM, number: int, when: datetime, estimate: float
) -> str | None:
    """Why the next call of tier `number` (about `estimate` USD) may not be made; None when it may."""
    budget = llm.daily_budget_usd
    spent = spent_on_day(db, when)
    if spent + estimate > budget:
        return (
            f"daily LLM budget ${budget:.2f} reached (${spent:.4f} spent today, "
            f"next call ~${estimate:.4f}); remaining windows skipped{_standing(number)}"
        )
    allowance, counted = tier_allowance(llm, number)
    if allowance >= budget:  # no share anywhere: the total above is the only limit
        return None
    spent = spent_on_day(db, when, counted)
    if spent + estimate > allowance:
        tier = llm.tier_list()[number - 1]
        return (
            f"tier {number} ({tier.model}) budget ${allowance:.2f} of the daily ${budget:.2f} reached "
            f"(${spent:.4f} spent today, next call ~${estimate:.4f}); remaining windows skipped"
            f"{_standing(number)}"
        )
    return None


def _standing(number: int) -> str:
    return f" at tier {number}, keeping tier {number - 1}'s verdict" if number > 1 else ""
