"""Ground truth from the simulated state: the normalized derivative_ticker rows and settled funding.

These follow tardis-data.md literally, on the simulated values (not on parsed raw messages): per
symbol keep the latest value of each field, an absent field keeps the previous value, emit a row
only when a value field changed, the exchange timestamp never moves backwards, and a new Bitfinex
session (after a disconnect) starts from an empty state. Each day's CSV starts from an empty state,
like Tardis' per-day dataset files.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd

from pipelines.core.columns import DERIVATIVE_TICKER, VALUE_FIELDS
from pipelines.venues.samplekit import TICKS_PER_MS, SymbolDay, js_number

FUNDING_HOURS = (0, 8, 16)


def normalized(sd: SymbolDay) -> pd.DataFrame:
    """The derivative_ticker rows of one symbol-day (NaN = no value), columns DERIVATIVE_TICKER."""
    segment = np.cumsum(sd.reset)
    state = pd.DataFrame(sd.values, columns=list(VALUE_FIELDS)).groupby(segment).ffill()
    now = state.to_numpy()
    before = np.vstack((np.full((1, now.shape[1]), np.nan), now[:-1]))
    before[sd.reset] = np.nan  # a new session compares against an empty state
    differs = (now != before) & ~(np.isnan(now) & np.isnan(before))
    emit = differs.any(axis=1)
    timestamp = pd.Series(sd.ts_ms * 1000).groupby(segment).cummax().to_numpy()
    rows = state.assign(
        exchange=sd.exchange,
        symbol=sd.symbol,
        timestamp=timestamp,
        local_timestamp=sd.local // (TICKS_PER_MS // 1000),
    )
    return rows.loc[emit, list(DERIVATIVE_TICKER)].reset_index(drop=True)


def _cells(column: pd.Series, integer: bool) -> list[str]:
    values = column.to_numpy(dtype=np.float64)
    unique, inverse = np.unique(values, return_inverse=True)
    texts = ["" if v != v else (str(int(v)) if integer else js_number(v)) for v in unique.tolist()]
    return [texts[i] for i in inverse.tolist()]


def to_csv(rows: pd.DataFrame) -> bytes:
    """Tardis CSV text: header, comma separated, integer microseconds, empty cell for no value."""
    integer = {"timestamp", "local_timestamp", "funding_timestamp"}
    columns = [
        rows[name].astype(str).tolist()
        if name in ("exchange", "symbol")
        else _cells(rows[name], name in integer)
        for name in DERIVATIVE_TICKER
    ]
    body = [",".join(cells) + "\n" for cells in zip(*columns, strict=True)]
    return (",".join(DERIVATIVE_TICKER) + "\n" + "".join(body)).encode()


def funding_times(day: date) -> list[datetime]:
    """The funding times 00:00, 08:00 and 16:00 UTC of `day`."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return [start + timedelta(hours=h) for h in FUNDING_HOURS]


def _ms(ts: datetime) -> int:
    return int(ts.timestamp() * 1000)


def gate_settled(
    today: SymbolDay, yesterday: SymbolDay, times: list[datetime]
) -> list[tuple[datetime, float]]:
    """Gate: the rate settled at each of `times` (the contract's funding times within `today`, from
    its simulated schedule) is the last funding_rate published before it."""
    out = []
    midnight = datetime(today.day.year, today.day.month, today.day.day, tzinfo=UTC)
    for ts in times:
        sd = yesterday if ts == midnight else today
        later = np.flatnonzero(sd.ts_ms >= _ms(ts))
        end = later[0] if len(later) and ts != midnight else len(sd.ts_ms)
        rates = sd.values["funding_rate"][:end]
        known = rates[~np.isnan(rates)]
        if len(known):
            out.append((ts, float(known[-1])))
    return out


def bitfinex_settled(sd: SymbolDay) -> list[tuple[datetime, float]]:
    """Bitfinex: the rate settled at T is CURRENT_FUNDING in the first update after T of the period T
    opens (pipelines/venues/bitfinex/README.md). An update re-sending the last state (stale, `_repeat_some`)
    still belongs to the period before."""
    out = []
    opened = sd.values["funding_timestamp"]
    for ts in funding_times(sd.day):
        after = np.flatnonzero((sd.ts_ms > _ms(ts)) & (opened > _ms(ts) * 1000))
        if len(after):
            out.append((ts, float(sd.values["funding_rate"][after[0]])))
    return out
