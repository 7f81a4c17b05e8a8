"""What a dry run expects each tier to do: windows, tokens and cost, calling nothing.

Tier 1 sees every flagged window without a cached tier-1 verdict: its batches are built exactly as
they would be sent. A later tier sees for sure the windows whose cached verdict from the tier
before matches its `when` (those batches are built too); of the windows the tier before has still
to judge, it expects the share that matched in the stored history of that tier (`verdict_tiers`,
all prompt versions), or "up to" all of them when there is no history. Tokens for the expected
share are the average per window of the batches built, priced at the tier's model.
"""

from __future__ import annotations

from pipelines.analyze.ledger import COMPLETION_TOKENS_PER_WINDOW, call_cost
from pipelines.analyze.result import PromptBatch, TierResult
from pipelines.analyze.tiers import cached_verdicts, matches, tier_results
from pipelines.config.settings import LLM, Tier
from pipelines.core.verdicts import Verdict
from pipelines.store.verdicts import tier_judgements


def estimate_tiers(db, llm: LLM, prompt_version: str, rows: list[dict], build) -> list[TierResult]:
    """Expected work per tier for the flagged `rows`; `build(rows, model)` -> that tier's batches."""
    tiers = llm.tier_list()
    results = tier_results(tiers)
    sure, maybe, most = rows, 0.0, 0  # reach the tier for certain / expected / at most besides
    built: list[PromptBatch] = []
    for number, (tier, counts) in enumerate(zip(tiers, results, strict=True), 1):
        cached = cached_verdicts(db, prompt_version, number, sure, offline=llm.offline)
        ask = [r for r in sure if r["id"] not in cached]
        counts.batches = build(ask, tier.model)
        built += counts.batches
        counts.windows, counts.cached = len(sure) + most, len(cached)
        counts.expected_windows = len(ask) + maybe
        _price(llm, counts, tier.model, maybe, built)
        if number == len(tiers):
            break
        following = tiers[number]
        share, counts_basis = history_share(db, number, following)
        results[number].basis = counts_basis
        unknown, most = len(ask) + maybe, len(ask) + most
        maybe = unknown if share is None else unknown * share
        sure = [r for r in sure if r["id"] in cached and matches(following, cached[r["id"]][0])]
    results[0].basis = "every flagged window without a cached verdict"
    return results


def history_share(db, number: int, following: Tier) -> tuple[float | None, str]:
    """(share of tier `number`'s stored verdicts that `following` would take, how it was found)."""
    stored = tier_judgements(db, number)
    if not stored:
        return None, f"up to every window tier {number} judges (no stored tier-{number} verdicts yet)"
    hits = sum(matches(following, Verdict("", risk, action, conf, "", "")) for risk, action, conf in stored)
    share = hits / len(stored)
    when = " or ".join(following.when)
    return share, f"{share:.0%} of {len(stored)} stored tier-{number} verdicts matched {when}"


def _price(llm: LLM, counts: TierResult, model: str, maybe: float, built: list[PromptBatch]) -> None:
    sent = counts.batches
    counts.prompt_tokens = sum(b.prompt_tokens for b in sent)
    counts.completion_tokens = sum(b.completion_tokens for b in sent)
    windows = sum(len(b.ids) for b in built)
    if maybe and windows:  # the expected share, at the average size of the prompts built so far
        counts.prompt_tokens += round(maybe * sum(b.prompt_tokens for b in built) / windows)
        counts.completion_tokens += round(maybe * COMPLETION_TOKENS_PER_WINDOW)
    counts.cost_usd = call_cost(llm, model, counts.prompt_tokens, counts.completion_tokens)
