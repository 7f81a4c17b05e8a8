"""The report's figures (`ReportData`, `PeriodFigures`) and what a run did (`ReportResult`).

Apart from `pipelines.report.data` so that rendering and the ledger can use them without importing
the module that builds them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

import pandas as pd


@dataclass
class PeriodFigures:
    """LLM usage and window triage over one period [start, end)."""

    label: str
    start: datetime
    end: datetime
    models: list[dict]  # per model: calls, tokens in/out, cost_usd, p50/p95 latency ms, errors, skipped
    total: dict  # the same over all models
    cache_hits: int
    windows: int
    flagged: int
    by_action: dict[str, int]
    by_risk: dict[str, int]


@dataclass
class ReportData:
    report_date: date
    generated_at: datetime
    day: PeriodFigures
    week: PeriodFigures
    cache_hits_recorded: bool
    budget_usd: float
    budget_used: float | None  # day cost / daily budget, None without a budget
    top: list[dict]
    warnings: list[str]
    daily_cost: pd.DataFrame  # index: day; columns: model; USD
    funding_diff: pd.DataFrame = field(default_factory=pd.DataFrame)  # index: window end; columns: pair
    verdict_worth: list[dict] = field(default_factory=list)  # per model: cost per verdict vs realised carry
    tier_costs: dict[str, list[dict]] = field(default_factory=dict)  # period label -> per tier (tier_costs)

    @property
    def active(self) -> bool:
        return bool(self.week.total["calls"] or self.week.total["skipped"] or self.week.windows)


@dataclass
class ReportResult:
    status: str  # sent | outboxed | skipped | dry-run
    report_date: date
    subject: str | None = None
    text: str | None = None
    report_id: int | None = None
    drained: tuple[int, int] = (0, 0)
    delivery: str | None = None  # the `reports` row's status afterwards (sent, outboxed, dead)
    error: str | None = None  # why it was not sent, when it was not
