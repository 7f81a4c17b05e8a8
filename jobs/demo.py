"""`arbdb demo`: the whole pipeline on bundled sample data, loopback only, in one command.

Starts the Tardis-compatible sample server in its own process, backfills the demo range through the
replay path into `data/demo/arbdb.db`, computes windows, analyzes flagged ones (offline rules
analyzer unless HOLYSHEEP_API_KEY is set), writes the cost report to the outbox, and prints a
summary. It also writes `config.yaml` beside the demo database, so `arbdb --config
data/demo/config.yaml status` (or `windows`, `analyze`, `report`) reads the demo's tables. Rerunning
it changes nothing and fetches nothing.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd
import sqlite_utils
import yaml
from rich.console import Console
from rich.table import Table

from jobs.demo_research import print_research
from jobs.progress import backfill_bar
from jobs.screen import screen_text
from pipelines.config.pairs import Market, Pair
from pipelines.config.settings import Settings
from pipelines.flows.backfill import backfill
from pipelines.report.data import run_report
from pipelines.store import open_db, row_counts, summary

DEMO_FROM = date(2024, 3, 1)
DEMO_DAYS = 14
# Beyond Gate-Bitfinex: one cross-venue pair whose legs settle on different intervals in the sample
# (Bybit's ETH every 4 h beside Binance's 8 h: two Bybit settlements summed per window), and ETH
# watched on every venue with March 2024 history, so `screen` has venue pairs to rank.
# (Hyperliquid's history starts 2024-10-29, after the demo range.)
DEMO_CROSS = {"name": "ETH-BIN-BYB", "coin": "ETH", "venues": ["binance-futures", "bybit"]}
DEMO_MARKET = {
    "coin": "ETH",
    "venues": ["gate-io-futures", "bitfinex-derivatives", "binance-futures", "bybit", "okex-swap"],
}
# Secrets come from the environment only; a config file holding them is refused at load.
SECRET_FIELDS = {"tardis": {"api_key"}, "llm": {"api_key"}, "mail": {"password"}}
CONFIG_HEADER = """\
# Written by `arbdb demo` for its database; rewritten by every demo run. Use it with any command:
#   .venv/bin/arbdb --config {path} status
#   .venv/bin/arbdb --config {path} windows --pair {pair} --from {start} --to {end}
# The tardis endpoints are the real ones: the demo's sample server stopped with the demo. Every
# key is documented in the repository's config.yaml.
"""


def demo_settings(base: Settings, workdir: Path, endpoint: str, datasets_endpoint: str) -> Settings:
    """`base` pointed at the sample server and a private database/outbox; no Tardis key, no SMTP."""
    tardis = base.tardis.model_copy(
        update={
            "endpoint": endpoint,
            "datasets_endpoint": datasets_endpoint,
            "source": "replay",
            "api_key": "",
            "cache_dir": workdir / "cache" / "replay",
            "download_dir": workdir / "cache" / "datasets",
        }
    )
    mail = base.mail.model_copy(update={"smtp_host": None, "outbox_dir": workdir / "outbox"})
    return base.model_copy(update={"database": workdir / "arbdb.db", "tardis": tardis, "mail": mail})


def write_demo_config(settings: Settings, path: Path, start: date, end: date) -> None:
    """Write the demo's settings (absolute paths, no secrets) as a config file at `path`."""
    data = settings.model_dump(mode="json", exclude=SECRET_FIELDS)
    for section, key in (("tardis", "cache_dir"), ("tardis", "download_dir"), ("mail", "outbox_dir")):
        data[section][key] = str(Path(data[section][key]).resolve())
    data["database"] = str(Path(data["database"]).resolve())
    header = CONFIG_HEADER.format(path=path, pair=settings.pairs[0].name, start=start, end=end)
    path.write_text(header + yaml.safe_dump(data, sort_keys=False))


def run_demo(
    base: Settings,
    workdir: Path,
    pairs: str,
    start: date,
    days: int,
    interval_seconds: float,
    now: datetime,
    console: Console,
) -> None:
    """Serve sample data on loopback, backfill it, and print what landed in each table."""
    from loopback.tardis_server import start_in_process

    end = start + timedelta(days=days)
    workdir.mkdir(parents=True, exist_ok=True)
    console.print(
        f"[bold]arbdb demo[/]: sample Tardis server on loopback, {start}..{end} (exclusive), "
        f"one message per {interval_seconds:g} s per symbol"
    )
    served = demo_symbols(*demo_pairs(base, pairs))
    with start_in_process(
        from_day=start,
        to_day=end,
        interval_seconds=interval_seconds,
        data_dir=workdir / "sample-data",
        symbols=served,
    ) as server:
        settings = demo_settings(base, workdir, server.url, server.datasets_url)
        selected, markets = demo_pairs(settings, pairs)
        # The report covers these pairs only, and the demo's config watches nothing else.
        settings = settings.model_copy(update={"pairs": selected, "markets": markets})
        kept = demo_settings(base, workdir, base.tardis.endpoint, base.tardis.datasets_endpoint)
        config_path = workdir / "config.yaml"
        write_demo_config(
            kept.model_copy(update={"pairs": selected, "markets": markets}), config_path, start, end
        )
        db = open_db(settings.database)
        with backfill_bar() as update:
            result = backfill(
                db,
                settings,
                start,
                end,
                pairs=selected,
                source="replay",
                llm=True,
                now=now,
                on_progress=update,
                legs=settings.watched_legs(),
            )
    counts = result.counts
    console.print(
        f"backfill: {counts['days_loaded']} exchange-days loaded ({counts['days_skipped']} already done), "
        f"{counts['messages']:,} messages, {counts['malformed']} malformed skipped; "
        f"analyzer: {counts.get('analyzer', '?')} ({counts.get('model', '?')})"
    )
    report = run_report(
        db,
        settings,
        end - timedelta(days=1),
        now=datetime.combine(end, datetime.min.time(), tzinfo=now.tzinfo),
    )
    print_summary(db, settings, selected, console)
    console.print(screen_text(db, settings, start, end, None, "table"), markup=False, highlight=False)
    print_research(db, settings, start, end, console, workdir / "config.yaml")
    console.print(
        f"cost report for {report.report_date}: {report.status}"
        f" -> {settings.mail.outbox_dir} ({report.subject})"
    )
    console.print(f"database: {settings.database}  (sqlite3 {settings.database} '.tables')")
    arbdb = f".venv/bin/arbdb --config {config_path}"
    console.print(
        f"config: {config_path}; look at the demo's tables with:\n  {arbdb} status\n"
        f"  {arbdb} windows --pair {selected[0].name} --from {start} --to {end}\n"
        f"  {arbdb} screen --from {start} --to {end}"
    )


def demo_pairs(settings: Settings, names: str) -> tuple[tuple[Pair, ...], tuple[Market, ...]]:
    """The pairs named in `names` plus the demo's cross-venue pair, and the demo's ETH market."""
    selected = settings.select_pairs(names)
    cross = Pair.model_validate(DEMO_CROSS)
    if cross.name not in {p.name for p in selected}:
        selected = (*selected, cross)
    return selected, (Market.model_validate(DEMO_MARKET),)


def demo_symbols(pairs: tuple[Pair, ...], markets: tuple[Market, ...]) -> dict[str, list[str]]:
    """What the demo's sample server serves: the legs it watches, nothing more (generating every
    venue's days would only slow the demo down)."""
    served: dict[str, list[str]] = {}
    for leg in [leg for p in pairs for leg in p.legs] + [leg for m in markets for leg in m.legs()]:
        served.setdefault(leg.exchange, [])
        if leg.symbol not in served[leg.exchange]:
            served[leg.exchange].append(leg.symbol)
    return served


def _table(title: str, frame: pd.DataFrame) -> Table:
    table = Table(title=title, title_justify="left")
    for column in frame.columns:
        table.add_column(str(column), justify="right" if frame[column].dtype.kind in "if" else "left")
    for row in frame.itertuples(index=False):
        table.add_row(*("" if pd.isna(v) else str(v) for v in row))
    return table


FLAGGED_SHOWN = 8


def _reasons_text(reasons: str | None) -> str:
    return "; ".join(json.loads(reasons or "[]"))


def summary_tables(db: sqlite_utils.Database) -> list[tuple[str, pd.DataFrame]]:
    """(title, frame) of every table the summary prints, in order."""
    counts = row_counts(db)
    flagged = summary.flagged_windows(db, FLAGGED_SHOWN)
    flagged["reasons"] = flagged["reasons"].map(_reasons_text)
    total = summary.flagged_count(db)
    flagged_title = f"flagged windows ({total} in all; latest {FLAGGED_SHOWN}) with verdicts"
    return [
        ("rows per table", pd.DataFrame({"table": list(counts), "rows": list(counts.values())})),
        ("range covered (UTC)", summary.range_covered(db)),
        ("recent settlements (rate % per period, APR %)", summary.recent_settlements(db)),
        (
            "latest windows (diff = leg a - leg b funding; Gate - Bitfinex by default)",
            summary.latest_windows(db),
        ),
        (flagged_title, flagged),
        ("verdicts", summary.verdict_tally(db)),
    ]


def print_summary(db: sqlite_utils.Database, settings: Settings, pairs, console: Console) -> None:
    """Rows per table, range covered, recent settlements, latest and flagged windows, verdicts."""
    for title, frame in summary_tables(db):
        console.print(_table(title, frame))
