"""Settled funding per funding time, derived from minute history. Pure: DataFrame -> DataFrame.

A derivative ticker reports the rate of the *running* period, not the settled one, so settlements
are derived (tardis-data.md):

- Gate.io carries no funding timestamp. Funding times are multiples of the configured interval from
  00:00 UTC; the rate settled at T is the last `funding_rate` observed before T. The predicted rate
  is a forecast *of that settlement*. Since `GATE_INDICATIVE_NEXT_PERIOD_UNTIL` it is the last
  `predicted_funding_rate` before T (Gate then sends the same value in both fields). Before that,
  Gate's `funding_rate_indicative` was the "indicative funding rate in next period": the last one
  seen before T forecast the settlement at T + interval, so the forecast of the settlement at T is
  the last one seen before T - interval (made one period earlier). A settlement after the cut-over
  whose two fields still differ just before T is read the old way too (the new era never has them
  differ), which covers the undocumented hour of the change.
- Bitfinex reports the next funding time. Before T, rows carry `funding_timestamp == T` and the
  accruing rate in `predicted_funding_rate`. The rate applied at T is `funding_rate`
  (CURRENT_FUNDING) in the first row at or after T whose funding timestamp has moved past T: a
  minute or two after T the feed can still show the old period (timestamp still T, stale rate).

A settlement is only derived when the data reaches close to T on the side that decides it
(`MAX_GAP`), so a gap before T never passes off a stale rate as settled.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipelines.columns import BITFINEX, FUNDING, GATE

MAX_GAP = pd.Timedelta(minutes=30)
# Gate settlements at or before this time are forecast by the indicative rate seen one period
# earlier (tardis-data.md: the fields are equal "since 2022-08-08"). The hour is not documented, so
# the day's first funding time is taken, and later settlements whose fields still differ are read
# the old way as well.
GATE_INDICATIVE_NEXT_PERIOD_UNTIL = pd.Timestamp("2022-08-08T00:00:00Z")
HOURS_PER_YEAR = 8760


def apr(rate: pd.Series | float, interval_hours: pd.Series | float) -> pd.Series | float:
    """Annualized rate of a per-period funding rate: r x 8760 / interval hours (a fraction)."""
    return rate * HOURS_PER_YEAR / interval_hours


def _empty() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype="float64") for c in FUNDING})
    return frame.astype({"exchange": object, "symbol": object, "funding_time": "datetime64[ns, UTC]"})


def _finish(frame: pd.DataFrame, exchange: str, symbol: str, interval_hours: float) -> pd.DataFrame:
    out = frame.assign(
        exchange=exchange,
        symbol=symbol,
        interval_hours=float(interval_hours),
        apr=lambda f: apr(f["rate"], float(interval_hours)),
    )
    return out.loc[:, list(FUNDING)].reset_index(drop=True)


def _last_before(rated: pd.DataFrame, probes: pd.DatetimeIndex, column: str) -> pd.Series:
    """Per probe, the last non-null `column` at or before it within MAX_GAP (NaN when none)."""
    values = rated.loc[rated[column].notna(), ["ts", column]].rename(columns={"ts": "probe"})
    found = pd.merge_asof(
        pd.DataFrame({"probe": probes}), values, on="probe", direction="backward", tolerance=MAX_GAP
    )
    return found[column]


def evidence_reach(interval_hours: float) -> pd.Timedelta:
    """How far from its funding time the minutes deciding a settlement can lie, either side.

    Covers Gate's old-era forecast (made one interval before T) and Bitfinex's late rollover.
    """
    return pd.Timedelta(hours=interval_hours) + MAX_GAP + pd.Timedelta(minutes=1)


def gate_settlements(minutes: pd.DataFrame, symbol: str, interval_hours: float) -> pd.DataFrame:
    """Gate settlements from one symbol's minute rows (`ts`, `funding_rate`, `predicted_funding_rate`).

    `predicted_rate` of the settlement at T is the forecast of T: the last indicative before T in the
    current era, the last indicative before T - interval up to GATE_INDICATIVE_NEXT_PERIOD_UNTIL or
    when the two fields differ just before T (only the old era sends them different).
    """
    rated = minutes.dropna(subset=["funding_rate"]).sort_values("ts")
    if rated.empty:
        return _empty()
    period = pd.Timedelta(hours=interval_hours)
    first, last = rated["ts"].iloc[0], rated["ts"].iloc[-1]
    times = pd.date_range(first.floor("D"), last + pd.Timedelta(minutes=1), freq=period, tz="UTC")
    times = times[(times > first) & (times <= last + pd.Timedelta(minutes=1))]
    if times.empty:
        return _empty()
    probes = times - pd.Timedelta(minutes=1)
    before = pd.merge_asof(
        pd.DataFrame({"funding_time": times, "probe": probes}),
        rated.loc[:, ["ts", "funding_rate", "predicted_funding_rate"]].rename(columns={"ts": "probe"}),
        on="probe",
        direction="backward",
        tolerance=MAX_GAP,
    )
    one_period_early = _last_before(rated, probes - period, "predicted_funding_rate")
    differ = before["predicted_funding_rate"].notna() & (
        before["predicted_funding_rate"] != before["funding_rate"]
    )
    old_era = (before["funding_time"] <= GATE_INDICATIVE_NEXT_PERIOD_UNTIL) | differ
    before["predicted_funding_rate"] = before["predicted_funding_rate"].where(~old_era, one_period_early)
    found = before.dropna(subset=["funding_rate"])
    frame = pd.DataFrame(
        {
            "funding_time": found["funding_time"],
            "rate": found["funding_rate"],
            "predicted_rate": found["predicted_funding_rate"],
        }
    )
    return _finish(frame, GATE, symbol, interval_hours)


def bitfinex_settlements(minutes: pd.DataFrame, symbol: str, interval_hours: float) -> pd.DataFrame:
    """Bitfinex settlements from one symbol's minute rows (`ts`, `funding_timestamp`, rates)."""
    rows = minutes.dropna(subset=["funding_timestamp"]).sort_values("ts")
    if rows.empty:
        return _empty()
    times = rows["funding_timestamp"].drop_duplicates()
    times = times[times <= rows["ts"].iloc[-1]]
    if times.empty:
        return _empty()
    settled = _rolled_rates(rows, times.sort_values())
    predicted = (
        rows.dropna(subset=["predicted_funding_rate"])
        .loc[lambda f: f["ts"] < f["funding_timestamp"]]
        .groupby("funding_timestamp")["predicted_funding_rate"]
        .last()
    )
    frame = pd.DataFrame(
        {
            "funding_time": settled["funding_time"],
            "rate": settled["funding_rate"],
            "predicted_rate": settled["funding_time"].map(predicted),
        }
    )
    return _finish(frame, BITFINEX, symbol, interval_hours)


def _rolled_rates(rows: pd.DataFrame, times: pd.Series) -> pd.DataFrame:
    """Per funding time T, `funding_rate` of the first row in [T, T + MAX_GAP] whose funding timestamp
    has moved past T; times without such a row are left out (`funding_time`, `funding_rate`)."""
    rated = rows.loc[rows["funding_rate"].notna()]
    ts, rolled_to, due = _ns(rated["ts"]), _ns(rated["funding_timestamp"]), _ns(times)
    rates = rated["funding_rate"].to_numpy(dtype=float)
    lo = np.searchsorted(ts, due, side="left")
    hi = np.searchsorted(ts, due + MAX_GAP.value, side="right")
    # A few funding times a day, at most 31 minute rows each: a plain loop stays cheap.
    first = np.asarray(
        [
            next((i for i in range(i0, i1) if rolled_to[i] > t), -1)
            for i0, i1, t in zip(lo, hi, due, strict=True)
        ],
        dtype=np.int64,
    )
    ok = first >= 0
    return pd.DataFrame(
        {
            "funding_time": times.reset_index(drop=True).loc[ok].reset_index(drop=True),
            "funding_rate": pd.Series(rates[first[ok]], dtype=float),
        }
    )


def _ns(times: pd.Series) -> np.ndarray:
    """datetime64 UTC -> int64 nanoseconds since the epoch."""
    return np.asarray((times - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(1, "ns"), dtype=np.int64)


def settlements(minutes: pd.DataFrame, exchange: str, symbol: str, interval_hours: float) -> pd.DataFrame:
    """Settled funding for one exchange and symbol, columns `pipelines.columns.FUNDING`."""
    derive = gate_settlements if exchange == GATE else bitfinex_settlements
    return derive(minutes, symbol, interval_hours)
