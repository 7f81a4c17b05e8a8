"""What an analyze pass did (`AnalyzeResult`) and the requests of a dry run (`PromptBatch`).

Apart from `pipelines.analyze.stage` so that `batches` can fill a result without importing the stage.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipelines.core.verdicts import Verdict

# Surfaces the final verdicts of a stored batch made by a model; returns how many were alerts. The
# flow passes `pipelines.report.alerts.alerter(...)` (alerting is delivery, above this stage); None
# raises none.
Alerts = Callable[["Sequence[Verdict]", str], int]


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
class TierResult:
    """What one tier did (or, in a dry run, is expected to do). `windows`: windows that reached it."""

    tier: int
    model: str
    when: str = ""
    windows: int = 0
    analysed: int = 0
    cached: int = 0
    failed: int = 0
    skipped_budget: int = 0
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    expected_windows: float | None = None  # dry run: windows expected to reach the tier
    basis: str = ""  # dry run: how `expected_windows` was estimated
    batches: list[PromptBatch] = field(default_factory=list)

    def counts(self) -> dict:
        """The tier's counters, for `runs.counts` and the CLI table."""
        keys = ("tier", "model", "windows", "analysed", "cached", "failed", "skipped_budget", "calls")
        return {**{k: getattr(self, k) for k in keys}, "cost_usd": round(self.cost_usd, 6)}


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
    invalid: int = 0  # of `failed`: bad verdicts even after the retry
    gateway_error: str | None = None  # why the gateway failed, when it did
    budget_note: str | None = None
    dry_run: bool = False
    batches: list[PromptBatch] = field(default_factory=list)
    tiers: list[TierResult] = field(default_factory=list)  # one per configured tier

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
        counts = {
            "analyzer": self.analyzer,
            "model": self.model,
            **{k: getattr(self, k) for k in keys},
            "cost_usd": round(self.cost_usd, 6),
        }
        if len(self.tiers) > 1:  # a single tier's figures are the pass's own
            counts["tiers"] = [t.counts() for t in self.tiers]
        error = self.error_line()
        return {**counts, "llm_error": error} if error else counts

    def error_line(self) -> str | None:
        """Why flagged windows were left without a verdict, in one line; None when none was.

        Budget skips are not errors: the daily budget stopping the stage is policy (`budget_note`)."""
        if not self.failed:
            return None
        causes = [self.gateway_error] if self.gateway_error else []
        if self.invalid:
            causes.append(f"{self.invalid} invalid verdict(s) after a retry")
        return (
            f"{self.failed} of {self.flagged} flagged windows not analysed: {'; '.join(causes)}; "
            "they are retried on the next run"
        )

    def summary(self) -> str:
        """One line saying which analyzer ran and what it did."""
        text = (
            f"analyzer {self.analyzer} ({self.model}): {self.analysed} analysed, {self.cached} cached, "
            f"{self.failed} failed, {self.skipped_budget} skipped (budget), {self.calls} calls, "
            f"${self.cost_usd:.4f}"
        )
        return f"{text}; {self.budget_note}" if self.budget_note else text
