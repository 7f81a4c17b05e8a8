"""Transform stage: stored minutes + settlements -> `windows` rows (features, z-scores, flags).

`update_windows` is the only writer of `windows`. After minutes of [start, end) were loaded it
recomputes every window those minutes can reach: the windows ending in (start, end], and the stored
ones just before and after whose settlements or interval inference read them (`input_span`); then
z-scores, flags and hashes through the `lookback_windows` windows after them (a z-score looks back
exactly that far). So any split or order of loads ends with the same table. Rows are written only
from a consistent read (recomputed under the write lock if another connection committed while they
were computed); rows whose values did not change are not rewritten.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import sqlite_utils

from pipelines.config.pairs import Pair
from pipelines.config.transform import Transform, WindowConfig
from pipelines.core.features_hash import add_features_hash
from pipelines.core.timeutil import series_from_iso, series_to_iso
from pipelines.core.window import windows_between
from pipelines.core.window_columns import WINDOW_COLUMNS
from pipelines.load.minutes import read_funding
from pipelines.store import SCHEMA, open_db, transaction, upsert
from pipelines.store.db import data_version
from pipelines.store.market import mark_rows
from pipelines.store.verdicts import drop_stale
from pipelines.store.windows import pair_windows
from pipelines.transform.features import window_features
from pipelines.transform.params import pair_labels, transform_params
from pipelines.transform.quality import QualityParams
from pipelines.transform.scoring import add_zscores, flag_windows
from pipelines.venues.settle_base import MAX_GAP

log = logging.getLogger(__name__)
JSON_COLUMNS = ("warnings", "reasons")


def input_span(
    pair: Pair, quality: QualityParams, start: datetime, end: datetime
) -> tuple[datetime, datetime]:
    """Window ends (lo, hi] whose inputs can change when minutes in [start, end) change.

    Loading minutes re-derives the settlements from MAX_GAP before `start` to MAX_GAP after `end`
    (`pipelines.load.minutes.rederive_funding`: Bitfinex settles at T from the minutes at/after T, which
    come with the next day). A window reads its own minutes, its settlement, and the settlements of
    `interval_lookback_hours` before its end (interval inference). The bound is generous: a
    scheduled run reads a few minutes past its window, and recomputing an unchanged window writes
    nothing.
    """
    interval = timedelta(hours=pair.window_hours)
    lookback = timedelta(hours=quality.interval_lookback_hours)
    return start - MAX_GAP, end + interval + 2 * MAX_GAP + lookback


def rescore_reach(transform: Transform, pair: Pair) -> timedelta:
    """How far after a recomputed window its features reach: z-scores look back this far."""
    return timedelta(hours=pair.window_hours) * transform.lookback_windows


def analysis_span(
    transform: Transform, pairs: Sequence[Pair], start: datetime, end: datetime
) -> tuple[datetime, datetime]:
    """Window ends (lo, hi] that `update_windows(start, end)` may rewrite, over all `pairs`."""
    quality = QualityParams(transform.min_coverage, transform.stale_minutes)
    spans = [input_span(p, quality, start, end) for p in pairs]
    lo = min((s[0] for s in spans), default=start)
    hi = max((s[1] + rescore_reach(transform, p) for s, p in zip(spans, pairs, strict=True)), default=end)
    return lo, hi


def update_windows(
    db: sqlite_utils.Database, config: WindowConfig, pair: Pair, start: datetime, end: datetime
) -> int:
    """Compute `pair`'s windows ending in (start, end] after minutes in [start, end) were loaded.

    Also recomputes the stored windows those minutes can reach (`input_span`), re-scores the
    `lookback_windows` after them, and drops verdicts whose feature hash no longer matches.
    Returns the rows written (new or changed); unchanged rows are left alone.
    """
    compute = partial(window_rows, db, config, pair, start, end)
    return _write_consistent(db, compute, compute)


def window_rows(
    db: sqlite_utils.Database, config: WindowConfig, pair: Pair, start: datetime, end: datetime
) -> list[dict]:
    """The `windows` rows `update_windows` writes (new or changed ones), from stored data. Reads only."""
    params, fees, quality = transform_params(config, pair)
    lo, hi = input_span(pair, quality, start, end)
    reach = rescore_reach(config.transform, pair)
    stored = _read_stored(db, pair.name, lo - reach - timedelta(seconds=1), hi + reach)
    have = set(stored["window_end"])
    windows = [
        w
        for w in windows_between(lo, hi, pair.window_hours)
        if start < w.end <= end or pd.Timestamp(w.end) in have
    ]
    if not windows:
        return []
    first, last = windows[0], windows[-1]
    minutes = read_pair_marks(db, pair, first.start, last.end)
    funding = pair_funding(db, pair, first.start - timedelta(hours=quality.interval_lookback_hours), last.end)
    fresh = window_features(minutes, funding, params, fees, quality, windows)
    kept = stored[~stored["window_end"].isin(fresh["window_end"])]
    frame = pd.concat([df for df in (kept, fresh) if not df.empty], ignore_index=True)
    t = config.transform
    scored = add_zscores(frame, t.zscore_features, t.lookback_windows, t.min_periods)
    scored = add_features_hash(flag_windows(scored, t.z_threshold, t.net_carry_apr_floor, pair_labels(pair)))
    rows = to_rows(scored[scored["window_end"] >= pd.Timestamp(first.end)])
    old = {r["window_end"]: r for r in to_rows(stored)}
    return [r for r in rows if old.get(r["window_end"]) != r]


def _write_consistent(
    db: sqlite_utils.Database, compute: Callable[[], list[dict]], again: Callable[[], list[dict]]
) -> int:
    """Write the rows `compute` makes, unless another connection committed while it read: then
    `again` recomputes them inside the write transaction. Reading without the write lock keeps
    parallel readers parallel; the check keeps a stale read from overwriting a newer recompute."""
    version = data_version(db)
    rows = compute()
    with transaction(db):
        if data_version(db) != version:
            log.debug("database changed while windows were computed: recomputing under the write lock")
            rows = again()
        upsert(db, "windows", rows)
        # A verdict describes the features it was given: once they change it no longer applies (the
        # run that changed them analyses the window again, if it is flagged).
        drop_stale(db, [(r["pair"], r["window_end"], r["features_hash"]) for r in rows])
    return len(rows)


# Below this span a single process is faster than starting workers.
PARALLEL_MIN_DAYS = 30


def update_pairs(
    db: sqlite_utils.Database,
    config: WindowConfig,
    pairs: Sequence[Pair],
    start: datetime,
    end: datetime,
    *,
    workers: int = 1,
    database: Path | None = None,
) -> int:
    """`update_windows` for several pairs; long ranges run one worker process per pair.

    Reading minute rows out of SQLite dominates a long range and is bound to one core per process,
    so pairs (independent of each other) are computed in up to `workers` processes (the backfill's
    `tardis.workers`), each with its own connection to `database` (the file of `db`), and written
    here in one transaction. A worker gets `config`, a pair and the path: no secret.
    """
    workers = min(workers, len(pairs)) if database is not None else 1
    if workers < 2 or (end - start) < timedelta(days=PARALLEL_MIN_DAYS):
        return sum(update_windows(db, config, pair, start, end) for pair in pairs)

    def in_workers() -> list[dict]:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            jobs = [pool.submit(_rows_in_worker, database, config, pair, start, end) for pair in pairs]
            return [row for job in jobs for row in job.result()]

    def here() -> list[dict]:
        return [row for pair in pairs for row in window_rows(db, config, pair, start, end)]

    return _write_consistent(db, in_workers, here)


def _rows_in_worker(
    database: Path, config: WindowConfig, pair: Pair, start: datetime, end: datetime
) -> list[dict]:
    db = open_db(database)
    try:
        return window_rows(db, config, pair, start, end)
    finally:
        db.close()


def read_windows(
    db: sqlite_utils.Database, pair: str, start: datetime, end: datetime, flagged_only: bool = False
) -> pd.DataFrame:
    """Stored windows of `pair` ending in (start, end], oldest first: window_start/window_end as
    datetime64 UTC, reasons/warnings as lists, complete/flagged as bool; WINDOW_COLUMNS order."""
    return _read_stored(db, pair, start, end, flagged_only=flagged_only)


def _read_stored(
    db: sqlite_utils.Database, pair: str, start: datetime, end: datetime, flagged_only: bool = False
) -> pd.DataFrame:
    rows = pair_windows(db, pair, WINDOW_COLUMNS, start, end, flagged_only=flagged_only)
    frame = pd.DataFrame(rows, columns=list(WINDOW_COLUMNS))
    types = SCHEMA["windows"][0]
    return frame.assign(
        window_start=series_from_iso(frame["window_start"]),
        window_end=series_from_iso(frame["window_end"]),
        complete=frame["complete"].astype(bool),
        flagged=frame["flagged"].astype(bool),
        **{c: [json.loads(v) if v else [] for v in frame[c]] for c in JSON_COLUMNS},
        **{c: frame[c].astype(float) for c, kind in types.items() if kind is float},
    )


def to_rows(windows: pd.DataFrame) -> list[dict]:
    """`windows` table rows: ISO text timestamps, JSON text lists, SQLite-typed values, None for NaN."""
    types = SCHEMA["windows"][0]
    columns = {c: _column(windows[c], c, types[c]) for c in WINDOW_COLUMNS}
    return [dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)]


def _column(values: pd.Series, column: str, kind: type) -> list:
    if column in ("window_start", "window_end"):
        return series_to_iso(values).tolist()
    if column in JSON_COLUMNS:
        return [json.dumps(list(v), ensure_ascii=False) for v in values]
    if kind is str:
        return [v if isinstance(v, str) else None for v in values]
    numbers = values.astype(float).to_numpy().tolist()  # bool, int, None and NaN alike
    cast = int if kind is int else float
    return [None if math.isnan(v) else cast(v) for v in numbers]


def read_pair_marks(db: sqlite_utils.Database, pair: Pair, start: datetime, end: datetime) -> pd.DataFrame:
    """Both sides' minutes with start <= ts < end: exchange, symbol, ts (datetime64 UTC), mark_price,
    index_price (the only columns the transform uses; `load.minutes.read_minutes` reads them all)."""
    sides = [leg[:2] for leg in pair.legs]
    parts = [mark_rows(db, exchange, symbol, start, end) for exchange, symbol in sides]
    cells = np.array(parts[0] + parts[1], dtype=object).reshape(-1, 3)  # one 2-D array: fast to split
    codes = np.repeat([0, 1], [len(p) for p in parts])  # categorical sides: cheap to filter
    # Two legs may share a symbol (`ETHUSDT` on Binance and Bybit) or a venue: categories from values.
    exchanges, symbols = (np.array(names, dtype=object)[codes] for names in zip(*sides, strict=True))
    return pd.DataFrame(
        {
            "exchange": pd.Categorical(exchanges),
            "symbol": pd.Categorical(symbols),
            "ts": series_from_iso(pd.Series(cells[:, 0], dtype=object)),
            "mark_price": cells[:, 1].astype(float),  # NULL -> NaN
            "index_price": cells[:, 2].astype(float),
        }
    )


def pair_funding(db: sqlite_utils.Database, pair: Pair, start: datetime, end: datetime) -> pd.DataFrame:
    """Both sides' settlements with start < funding_time <= end, funding_time as datetime64 UTC."""
    # A settlement at a window's end belongs to that window. Stored times are whole seconds, so
    # (start, end] is load's [start + 1 s, end + 1 s).
    second = timedelta(seconds=1)
    frames = [read_funding(db, leg.exchange, leg.symbol, start + second, end + second) for leg in pair.legs]
    frame = pd.concat(frames, ignore_index=True).sort_values("funding_time", kind="stable", ignore_index=True)
    return frame.astype(
        {c: float for c in ("rate", "predicted_rate", "interval_hours", "apr", "stated_rate")}
    )
