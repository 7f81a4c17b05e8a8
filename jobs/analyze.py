"""The `arbdb analyze` job: one `runs` row (job "analyze") around `pipelines.analyze.stage.analyze_range`,
and how its result is shown in the terminal."""

from __future__ import annotations

import uuid
from datetime import date, datetime

import sqlite_utils
from rich.console import Console
from rich.table import Table

from pipelines.analyze.result import AnalyzeResult
from pipelines.analyze.stage import analyze_range
from pipelines.config.settings import Pair, Settings
from pipelines.core.timeutil import day_start, to_iso
from pipelines.flows.run import analyzed
from pipelines.flows.runs import recorded_run, run_row


def analyze_job(
    db: sqlite_utils.Database,
    settings: Settings,
    start: date,
    end: date,
    pairs: tuple[Pair, ...],
    now: datetime,
    dry_run: bool = False,
) -> AnalyzeResult:
    """Analyse flagged windows ending in (start, end] under a `runs` row; a dry run writes nothing.

    When windows were left without a verdict (gateway down, invalid verdicts) the verdicts that did
    succeed are kept, the run is recorded `failed`, and LLMError says how many and why."""
    if dry_run:
        return analyze_range(db, settings, start, end, pairs, "dry-run", now, dry_run=True)
    run_id = f"analyze-{to_iso(now)}-{uuid.uuid4().hex[:6]}"
    row = run_row(run_id, "analyze", pairs, day_start(start), day_start(end))
    with recorded_run(db, row) as counts:
        result = analyzed(db, settings, start, end, pairs, run_id, now)
        counts.update(result.counts())
    return result


def print_result(console: Console, result: AnalyzeResult) -> None:
    """Dry run: every batched prompt with its estimate. Always: the counts and the analyzer used."""
    for i, batch in enumerate(result.batches, 1):
        console.print(
            f"--- batch {i}: {len(batch.ids)} window(s), {batch.model}, ~{batch.prompt_tokens} prompt + "
            f"~{batch.completion_tokens} completion tokens, ~${batch.cost_usd:.5f}",
            markup=False,
        )
        for message in batch.messages:
            console.print(f"[{message['role']}]", markup=False)
            console.print(message["content"], markup=False)
    table = Table(
        title=f"analyze{' (dry run)' if result.dry_run else ''}: analyzer {result.analyzer} "
        f"({result.model}), prompt {result.prompt_version}"
    )
    table.add_column("count")
    table.add_column("value", justify="right")
    for key, value in result.counts().items():
        if key == "tiers":  # one line per tier below
            continue
        table.add_row(key, f"{value:.6f}" if key == "cost_usd" else str(value))
    if result.dry_run:
        table.add_row("batches", str(len(result.batches)))
        table.add_row("estimated prompt tokens", str(sum(b.prompt_tokens for b in result.batches)))
        table.add_row("estimated cost_usd", f"{sum(b.cost_usd for b in result.batches):.6f}")
    console.print(table)
    if len(result.tiers) > 1:
        console.print("\n".join(tier_lines(result)), markup=False)
    if result.budget_note:
        console.print(result.budget_note, markup=False)


def tier_lines(result: AnalyzeResult) -> list[str]:
    """One line per tier: a dry run's expected windows, tokens and cost (and how the windows were
    estimated), or what each tier did."""
    lines = ["tiers (expected):" if result.dry_run else "tiers:"]
    for t in result.tiers:
        head = f"  tier {t.tier} {t.model} ({f'when {t.when}' if t.when else 'every flagged window'}):"
        if result.dry_run:
            tokens = t.prompt_tokens + t.completion_tokens
            lines.append(
                f"{head} ~{t.expected_windows:.1f} window(s) [{t.basis}], {t.cached} cached, "
                f"~{tokens} tokens, ~${t.cost_usd:.6f}"
            )
        else:
            lines.append(
                f"{head} {t.windows} window(s), {t.analysed} analysed, {t.cached} cached, {t.failed} failed, "
                f"{t.skipped_budget} skipped (budget), {t.calls} calls, ${t.cost_usd:.6f}"
            )
    return lines
