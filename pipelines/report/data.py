"""The nightly LLM cost report: figures from the store, text + HTML + chart, delivered by mail.

Periods: the report day D (UTC midnight to midnight) and the 7 days ending with it. LLM calls count
by their timestamp (when the money was spent); windows and verdicts count by the window's end, a
window ending at midnight belonging to the day before (the 16:00-24:00 window is D's last). A window
may hold several verdicts (prompt versions): the latest one counts.

Reads are the store's (`pipelines.store`: every column of the rows in range, so columns the
transform stage adds later are used when present), then pandas does the aggregation. Nothing here
reads the clock: `now` is passed in. Rendering (templates, chart, MIME message) lives in
`pipelines.report.render`.
"""

from __future__ import annotations

import json
import logging
from datetime import date, datetime, timedelta

import pandas as pd
import sqlite_utils

from pipelines.config.settings import Settings
from pipelines.core.timeutil import day_start, series_from_iso, to_iso
from pipelines.core.verdicts import ACTIONS, RISKS
from pipelines.report.ledger import delivery, existing_report, record_report, withdraw_queued
from pipelines.report.mailer import deliver, drain_outbox
from pipelines.report.model import PeriodFigures, ReportData, ReportResult
from pipelines.report.quality import day_warnings
from pipelines.report.render import compose_message, render_chart, render_report
from pipelines.report.tier_costs import tier_costs
from pipelines.report.worth import verdict_worth
from pipelines.store.ledger import calls_between
from pipelines.store.runs import runs_started_between
from pipelines.store.verdicts import latest_verdicts
from pipelines.store.windows import windows_between
from pipelines.transform.legs import leg_labels

log = logging.getLogger(__name__)

ERROR_STATUSES = ("error", "invalid")


# -- reads ---------------------------------------------------------------------------------------


def _in(frame: pd.DataFrame, column: str, start: datetime, end: datetime, window_end: bool = False):
    """Rows whose ISO `column` lies in [start, end), or in (start, end] for window ends."""
    if frame.empty:
        return frame
    lo, hi, values = to_iso(start), to_iso(end), frame[column]
    return frame[(values > lo) & (values <= hi) if window_end else (values >= lo) & (values < hi)]


# -- figures -------------------------------------------------------------------------------------


def _usage(calls: pd.DataFrame) -> dict:
    real = calls["status"] != "skipped"
    latency = calls["latency_ms"][real].dropna()
    return {
        "calls": int(real.sum()),
        "prompt_tokens": int(calls["prompt_tokens"].fillna(0).sum()),
        "completion_tokens": int(calls["completion_tokens"].fillna(0).sum()),
        "cost_usd": float(calls["cost_usd"].fillna(0).sum()),
        "p50_ms": float(latency.quantile(0.5)) if len(latency) else None,
        "p95_ms": float(latency.quantile(0.95)) if len(latency) else None,
        "errors": int(calls["status"].isin(ERROR_STATUSES).sum()),
        "skipped": int((~real).sum()),
    }


def _period(label, start, end, calls, windows, verdicts, runs) -> PeriodFigures:
    calls = _in(calls, "ts", start, end)
    windows = _in(windows, "window_end", start, end, window_end=True)
    verdicts = _in(verdicts, "window_end", start, end, window_end=True)
    empty = pd.DataFrame(columns=["status", "latency_ms", "prompt_tokens", "completion_tokens", "cost_usd"])
    usage = calls if not calls.empty else empty
    counts = verdicts["action"].value_counts() if not verdicts.empty else pd.Series(dtype=int)
    risks = verdicts["risk"].value_counts() if not verdicts.empty else pd.Series(dtype=int)
    return PeriodFigures(
        label=label,
        start=start,
        end=end,
        models=[{"model": m, **_usage(g)} for m, g in usage.groupby("model")] if not calls.empty else [],
        total={"model": "all models", **_usage(usage)},
        cache_hits=sum(_cached(c) for c in _run_counts(_in(runs, "started_at", start, end))),
        windows=len(windows),
        flagged=int(windows["flagged"].fillna(0).astype(bool).sum()) if not windows.empty else 0,
        by_action={a: int(counts.get(a, 0)) for a in reversed(ACTIONS)},  # most urgent first
        by_risk={r: int(risks.get(r, 0)) for r in reversed(RISKS)},
    )


def _run_counts(runs: pd.DataFrame) -> list[dict]:
    """The `counts` JSON objects of `runs` (unreadable ones skipped)."""
    if runs.empty or "counts" not in runs:
        return []
    parsed = []
    for text in runs["counts"].dropna():
        try:
            value = json.loads(text)
        except ValueError:
            continue
        if isinstance(value, dict):
            parsed.append(value)
    return parsed


def _cached(counts: dict) -> int:
    value = counts.get("cached")
    return int(value) if isinstance(value, int | float) else 0


def _top(windows: pd.DataFrame, verdicts: pd.DataFrame, n: int) -> list[dict]:
    if windows.empty or "net_carry_apr" not in windows:
        return []
    best = windows.dropna(subset=["net_carry_apr"]).sort_values("net_carry_apr", ascending=False).head(n)
    if not verdicts.empty:
        wanted = ["pair", "window_end", "action", "risk", "confidence", "alert"]
        best = best.merge(verdicts[wanted], on=["pair", "window_end"], how="left")
    best = best.assign(legs=[" - ".join(leg_labels(r)) for r in best.to_dict("records")])
    keep = ["pair", "legs", "window_end", "net_carry_apr", "carry_apr", "funding_diff", "flagged"]
    keep += ["action", "risk", "confidence", "alert"]
    best = best.reindex(columns=keep).astype(object)
    return best.where(best.notna(), None).to_dict("records")


def _daily_cost(calls: pd.DataFrame, days: list[date]) -> pd.DataFrame:
    index = pd.Index([d.isoformat() for d in days], name="day")
    if calls.empty:
        return pd.DataFrame(index=index)
    table = calls.assign(day=calls["ts"].str[:10]).pivot_table(
        index="day", columns="model", values="cost_usd", aggfunc="sum", fill_value=0.0
    )
    return table.reindex(index, fill_value=0.0)


def _funding_diff(windows: pd.DataFrame) -> pd.DataFrame:
    if windows.empty or "funding_diff" not in windows:
        return pd.DataFrame()
    rows = windows.dropna(subset=["funding_diff"])
    rows = rows.assign(end=series_from_iso(rows["window_end"]))
    return rows.pivot_table(index="end", columns="pair", values="funding_diff", aggfunc="last")


def build_report(
    db: sqlite_utils.Database, settings: Settings, report_date: date, now: datetime
) -> ReportData:
    """Figures for `report_date` and the 7 days ending with it, read from the store.

    Cache hits are windows whose verdict came from the feature-hash cache, with no gateway call: the
    sum of the `cached` key of the `runs.counts` JSON of runs started in the period. When no run
    records that key the figure is 0 and the report says it was not recorded.
    """
    end = day_start(report_date) + timedelta(days=1)
    day_from, week_from = end - timedelta(days=1), end - timedelta(days=7)
    lo, hi = to_iso(week_from), to_iso(end)
    calls = calls_between(db, lo, hi)
    windows = windows_between(db, lo, hi)
    verdicts = latest_verdicts(db, lo, hi)  # a window's latest verdict counts (prompt versions)
    runs = runs_started_between(db, lo, hi)
    day = _period("day", day_from, end, calls, windows, verdicts, runs)
    week = _period("7 days", week_from, end, calls, windows, verdicts, runs)
    budget = settings.llm.daily_budget_usd
    return ReportData(
        report_date=report_date,
        generated_at=now,
        day=day,
        week=week,
        cache_hits_recorded=any("cached" in c for c in _run_counts(runs)),
        budget_usd=budget,
        budget_used=day.total["cost_usd"] / budget if budget else None,
        top=_top(windows, verdicts, settings.report.top_n),
        warnings=day_warnings(
            settings.pairs,
            settings.transform.min_coverage,
            _in(windows, "window_end", day.start, day.end, window_end=True),
            _in(runs, "started_at", day.start, day.end),
        ),
        daily_cost=_daily_cost(calls, [report_date - timedelta(days=i) for i in range(6, -1, -1)]),
        funding_diff=_funding_diff(windows),
        verdict_worth=verdict_worth(db, settings, week_from, end, calls),
        tier_costs=tier_costs(calls, [(p.label, p.start, p.end) for p in (day, week)]),
    )


# -- the run -------------------------------------------------------------------------------------


def run_report(
    db: sqlite_utils.Database,
    settings: Settings,
    report_date: date,
    now: datetime,
    send: bool = True,
    dry_run: bool = False,
    force: bool = False,
) -> ReportResult:
    """Drain the outbox, then build, record and deliver the report for `report_date`.

    A report already sent, waiting in the outbox or dead-lettered for that date is not made again
    unless `force`. One report date is delivered once: a forced rebuild first withdraws the copy
    still queued, and a premature copy (made before the day was over) is withdrawn and never
    counts. `send=False` queues it in the outbox only; `dry_run` renders it and writes nothing.
    """
    if dry_run:
        subject, text, _ = render_report(build_report(db, settings, report_date, now))
        return ReportResult("dry-run", report_date, subject, text)
    withdraw_queued(db, report_date, everything=force)
    drained = drain_outbox(settings.mail, db)
    existing = None if force else existing_report(db, report_date)
    if existing:
        log.info("report for %s already %s (id %s); skipped", report_date, existing["status"], existing["id"])
        return ReportResult(
            "skipped",
            report_date,
            existing["subject"],
            None,
            existing["id"],
            drained,
            **delivery(db, existing["id"]),
        )
    data = build_report(db, settings, report_date, now)
    subject, text, html = render_report(data)
    message = compose_message(settings.mail, subject, text, html, render_chart(data), now=now)
    report_id = record_report(db, settings.mail, data, subject, message, now)
    status = deliver(settings.mail, db, message, kind="report", report_id=report_id, send=send, now=now)
    log.info("report %s for %s: %s", report_id, report_date, status)
    return ReportResult(status, report_date, subject, text, report_id, drained, **delivery(db, report_id))
