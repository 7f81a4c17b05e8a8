"""Settled funding per funding time, derived from minute history. Pure: DataFrame -> DataFrame.

A derivative ticker reports the rate of the *running* period, not the settled one, so settlements
are derived (tardis-data.md):

- Gate.io carries no funding timestamp. Funding times are multiples of the configured interval from
  00:00 UTC; the rate settled at T is the last `funding_rate` observed before T, and the predicted
  rate is the last `predicted_funding_rate` before T (equal since 2022-08-08).
- Bitfinex reports the next funding time. Before T, rows carry `funding_timestamp == T` and the
  accruing rate in `predicted_funding_rate`; the first row at or after T with a later funding
  timestamp shows the rate applied at T in `funding_rate` (CURRENT_FUNDING).

A settlement is only derived when the data reaches close to T on the side that decides it
(`MAX_GAP`), so a gap before T never passes off a stale rate as settled.
"""

from __future__ import annotations

import pandas as pd

from pipelines.columns import BITFINEX, FUNDING, GATE

MAX_GAP = pd.Timedelta(minutes=30)
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


def gate_settlements(minutes: pd.DataFrame, symbol: str, interval_hours: float) -> pd.DataFrame:
    """Gate settlements from one symbol's minute rows (`ts`, `funding_rate`, `predicted_funding_rate`)."""
    rated = minutes.dropna(subset=["funding_rate"]).sort_values("ts")
    if rated.empty:
        return _empty()
    period = pd.Timedelta(hours=interval_hours)
    first, last = rated["ts"].iloc[0], rated["ts"].iloc[-1]
    times = pd.date_range(first.floor("D"), last + pd.Timedelta(minutes=1), freq=period, tz="UTC")
    times = times[(times > first) & (times <= last + pd.Timedelta(minutes=1))]
    if times.empty:
        return _empty()
    before = pd.merge_asof(
        pd.DataFrame({"funding_time": times, "probe": times - pd.Timedelta(minutes=1)}),
        rated.loc[:, ["ts", "funding_rate", "predicted_funding_rate"]].rename(columns={"ts": "probe"}),
        on="probe",
        direction="backward",
        tolerance=MAX_GAP,
    )
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
    probes = pd.DataFrame({"funding_time": times.to_numpy()}).sort_values("funding_time")
    after = pd.merge_asof(
        probes,
        rows.loc[rows["funding_rate"].notna(), ["ts", "funding_rate", "funding_timestamp"]],
        left_on="funding_time",
        right_on="ts",
        direction="forward",
        tolerance=MAX_GAP,
    )
    settled = after[after["funding_timestamp"] > after["funding_time"]]
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


def settlements(minutes: pd.DataFrame, exchange: str, symbol: str, interval_hours: float) -> pd.DataFrame:
    """Settled funding for one exchange and symbol, columns `pipelines.columns.FUNDING`."""
    derive = gate_settlements if exchange == GATE else bitfinex_settlements
    return derive(minutes, symbol, interval_hours)
