"""LLM batching figures: batched prompts vs one call per flagged window, side by side.

Both designs run the real analyze stage (`analyze_windows`) over the same realistic windows (4 pairs,
every other window flagged, so prompts carry unflagged context too) against the loopback gateway in
its default mode, each in a fresh SQLite file. Figures come from the `llm_calls` ledger, i.e. from
the usage the gateway reports, priced with the default model's prices from config.yaml.

Two views: a backfill (every flagged window of the range in one pass: batches fill up) and the
scheduler (one pass per funding cycle: a batch holds at most that cycle's flagged pairs). Then
tiers on the same windows: one tier (the configured model) vs two tiers (that model as triage, and
`STRONG_MODEL` on the windows whose triage verdict is OPEN_ARB or HIGH), calls and cost per flagged
window; the loopback gateway's default verdicts escalate about two windows in five.

    python -m bench.llm_bench [--windows 48]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from pipelines.analyze.stage import analyze_windows, make_client
from pipelines.config.settings import Settings, load_settings, settings_from_mapping
from pipelines.store import open_db, row_counts, upsert
from pipelines.store.ledger import ok_by_tier, ok_totals
from tests.fixtures.llm_server import LLMServer
from tests.fixtures.llm_windows import sample_windows

PAIRS = ("BTC", "ETH", "SOL", "DOGE")
FIRST_END = datetime(2024, 3, 1, 8, tzinfo=UTC)
NOW = datetime(2024, 6, 1, tzinfo=UTC)
STRONG_MODEL = "gpt-4.1"
STRONG_PRICE = {"input_per_mtok": 2.0, "output_per_mtok": 8.0}  # config.yaml's, when it has none
ESCALATE_ON = ["OPEN_ARB", "HIGH"]


def bench_llm(n_windows: int = 48, config: Path | str | None = "config.yaml") -> dict:
    """Calls, prompt tokens and cost per flagged window, batched vs one call per window, and ratios."""
    cycles = -(-2 * n_windows // len(PAIRS))  # every other window flagged
    rows = [r for r in sample_windows(PAIRS, FIRST_END, cycles, flagged_every=2)]
    flagged = [r for r in rows if r["flagged"]][:n_windows]
    keep = {(r["pair"], r["window_end"]) for r in flagged}
    rows = [r for r in rows if not r["flagged"] or (r["pair"], r["window_end"]) in keep]
    quiet = logging.getLogger("pipelines")
    level, quiet.level = quiet.level, logging.ERROR  # alert lines of the sample verdicts are noise here
    with LLMServer(api_key="bench-key") as server, tempfile.TemporaryDirectory() as tmp:
        base = _settings(config, server, Path(tmp))
        batch = base.llm.batch_size
        runs = {
            "batched": _run(base, rows, Path(tmp) / "batched.db", batch, per_cycle=False),
            "per_window": _run(base, rows, Path(tmp) / "per_window.db", 1, per_cycle=False),
            "scheduled_batched": _run(base, rows, Path(tmp) / "sched.db", batch, per_cycle=True),
            "two_tiers": _run(_two_tiers(base), rows, Path(tmp) / "tiers.db", batch, per_cycle=False),
            "strong_only": _run(_two_tiers(base, 0), rows, Path(tmp) / "strong.db", batch, per_cycle=False),
        }
    quiet.setLevel(level)
    b, w, s = runs["batched"], runs["per_window"], runs["scheduled_batched"]
    cycles_seen = len({r["window_end"] for r in flagged})
    return {
        "model": base.llm.model,
        "batch_size": batch,
        "flagged_windows": len(flagged),
        "funding_cycles": cycles_seen,
        "calls_batched": b["calls"],
        "calls_per_window_design": w["calls"],
        "calls_per_cycle_batched": b["calls"] / cycles_seen,
        "calls_per_cycle_per_window": w["calls"] / cycles_seen,
        "calls_per_cycle_scheduled": s["calls"] / cycles_seen,
        "prompt_tokens_per_window_batched": b["prompt_tokens"] / len(flagged),
        "prompt_tokens_per_window_single": w["prompt_tokens"] / len(flagged),
        "prompt_tokens_per_window_scheduled": s["prompt_tokens"] / len(flagged),
        "cost_usd_per_window_batched": b["cost_usd"] / len(flagged),
        "cost_usd_per_window_single": w["cost_usd"] / len(flagged),
        "cost_usd_per_window_scheduled": s["cost_usd"] / len(flagged),
        "calls_ratio": w["calls"] / b["calls"],
        "prompt_tokens_ratio": w["prompt_tokens"] / b["prompt_tokens"],
        "cost_ratio": w["cost_usd"] / b["cost_usd"],
        "calls_ratio_scheduled": w["calls"] / s["calls"],
        **_tier_figures(b, runs["two_tiers"], runs["strong_only"], len(flagged)),
    }


def _two_tiers(settings: Settings, n: int = 2) -> Settings:
    """Triage + STRONG_MODEL on ESCALATE_ON; with n=0, STRONG_MODEL alone on every window."""
    llm = settings.llm
    prices = {STRONG_MODEL: STRONG_PRICE} | {m: p.model_dump() for m, p in llm.prices.items()}
    tiers = (
        [{"model": llm.model}, {"model": STRONG_MODEL, "when": ESCALATE_ON}]
        if n
        else [{"model": STRONG_MODEL}]
    )
    data = llm.model_dump() | {"prices": prices, "tiers": tiers}
    return settings.model_copy(update={"llm": type(llm).model_validate(data)})


def _tier_figures(one: dict, two: dict, strong: dict, flagged: int) -> dict:
    """Calls and cost per flagged window with one tier vs two tiers (and the strong model alone),
    on the same windows."""
    return {
        "tiers_strong_model": STRONG_MODEL,
        "tiers_escalated_windows": two["by_tier"].get(2, {}).get("windows", 0),
        "calls_per_window_one_tier": one["calls"] / flagged,
        "calls_per_window_two_tiers": two["calls"] / flagged,
        "cost_usd_per_window_one_tier": one["cost_usd"] / flagged,
        "cost_usd_per_window_two_tiers": two["cost_usd"] / flagged,
        "cost_usd_per_window_tier_2": two["by_tier"].get(2, {}).get("cost_usd", 0.0) / flagged,
        "cost_usd_per_window_strong_only": strong["cost_usd"] / flagged,
        "cost_ratio_two_tiers": two["cost_usd"] / one["cost_usd"],
        "cost_ratio_tiers_vs_strong_only": two["cost_usd"] / strong["cost_usd"],
    }


def _settings(config: Path | str | None, server: LLMServer, tmp: Path) -> Settings:
    env = {"HOLYSHEEP_API_KEY": server.api_key}
    if config and Path(config).exists():
        settings = load_settings(config, env=env)
    else:
        pairs = [{"name": p, "gate_symbol": f"{p}_USDT", "bitfinex_symbol": f"{p}F0:USTF0"} for p in PAIRS]
        settings = settings_from_mapping({"pairs": pairs}, env=env)
    llm = settings.llm.model_copy(update={"base_url": server.base_url, "daily_budget_usd": 1e9})
    mail = settings.mail.model_copy(update={"alerts": False, "outbox_dir": tmp / "outbox"})
    return settings.model_copy(update={"llm": llm, "mail": mail})


def _run(settings: Settings, rows: list[dict], path: Path, batch_size: int, per_cycle: bool) -> dict:
    cfg = settings.model_copy(update={"llm": settings.llm.model_copy(update={"batch_size": batch_size})})
    db = open_db(path)
    upsert(db, "windows", rows)
    frame = pd.DataFrame(rows)
    frames = [g for _, g in frame.groupby("window_end", sort=True)] if per_cycle else [frame]
    client = make_client(cfg)
    for i, part in enumerate(frames):
        analyze_windows(db, cfg, part, f"bench-{i}", NOW + timedelta(seconds=i), client=client)
    calls, prompt, cost = ok_totals(db)
    verdicts = row_counts(db)["verdicts"]
    by_tier = {tier: {"cost_usd": spent, "windows": windows} for tier, spent, windows in ok_by_tier(db)}
    db.close()
    return {
        "calls": calls,
        "prompt_tokens": prompt,
        "cost_usd": cost,
        "verdicts": verdicts,
        "by_tier": by_tier,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--windows", type=int, default=48)
    args = parser.parse_args()
    for key, value in bench_llm(args.windows).items():
        print(f"{key:36} {value:,.6g}" if isinstance(value, float) else f"{key:36} {value}")


if __name__ == "__main__":
    main()
