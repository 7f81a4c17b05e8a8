"""LLM batching figures: batched prompts vs one call per flagged window, side by side.

Both designs run the real analyze stage (`analyze_windows`) over the same realistic windows (4 pairs,
every other window flagged, so prompts carry unflagged context too) against the loopback gateway in
its default mode, each in a fresh SQLite file. Figures come from the `llm_calls` ledger, i.e. from
the usage the gateway reports, priced with the default model's prices from config.yaml.

Two views: a backfill (every flagged window of the range in one pass: batches fill up) and the
scheduler (one pass per funding cycle: a batch holds at most that cycle's flagged pairs).

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
from pipelines.settings import Settings, load_settings, settings_from_mapping
from pipelines.store import open_db
from tests.fixtures.llm_server import LLMServer
from tests.fixtures.llm_windows import sample_windows

PAIRS = ("BTC", "ETH", "SOL", "DOGE")
FIRST_END = datetime(2024, 3, 1, 8, tzinfo=UTC)
NOW = datetime(2024, 6, 1, tzinfo=UTC)


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
    db["windows"].upsert_all(rows, pk=("pair", "window_end"), alter=True)
    frame = pd.DataFrame(rows)
    frames = [g for _, g in frame.groupby("window_end", sort=True)] if per_cycle else [frame]
    client = make_client(cfg)
    for i, part in enumerate(frames):
        analyze_windows(db, cfg, part, f"bench-{i}", NOW + timedelta(seconds=i), client=client)
    calls, prompt, cost = db.execute(
        "SELECT COUNT(*), SUM(prompt_tokens), SUM(cost_usd) FROM llm_calls WHERE status = 'ok'"
    ).fetchone()
    verdicts = db["verdicts"].count
    db.close()
    return {"calls": calls, "prompt_tokens": prompt, "cost_usd": cost, "verdicts": verdicts}


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
