"""The machinery the venues' settlement rules share. Pure: DataFrame -> DataFrame.

A derivative ticker reports the rate of the *running* period, not the settled one, so settlements
are derived (tardis-data.md). The rule of each exchange is in its folder
(`pipelines.venues.<name>.settle`); the machinery they share is here, in the venues layer, so a
venue imports nothing above it (`pipelines.venues.settle_base` re-exports what load needs).

A settlement is only derived when the data reaches close to T on the side that decides it
(`MAX_GAP`), so a gap before T never passes off a stale rate as settled.
"""

from __future__ import annotations

import pandas as pd

from pipelines.core.columns import FUNDING
from pipelines.core.units import apr

MAX_GAP = pd.Timedelta(minutes=30)


_TEXT = ("exchange", "symbol", "predicted_kind", "evidence", "warning")


def _empty() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype="float64") for c in FUNDING})
    return frame.astype({**dict.fromkeys(_TEXT, object), "funding_time": "datetime64[ns, UTC]"})


def with_evidence(frame: pd.DataFrame, predicted_kind, evidence="data", warning=None) -> pd.DataFrame:
    """`frame` with the evidence columns of FUNDING it lacks: `predicted_kind` and `evidence` (a word
    or a per-row Series), `warning` (text or None), `stated_rate` NaN. Columns already there stay."""
    defaults = {
        "stated_rate": float("nan"),
        "predicted_kind": predicted_kind,
        "evidence": evidence,
        "warning": warning,
    }
    missing = {k: v for k, v in defaults.items() if k not in frame.columns}
    out = frame.assign(**missing)
    return out.astype(
        {"stated_rate": "float64", "predicted_kind": object, "evidence": object, "warning": object}
    )


def _finish(
    frame: pd.DataFrame, exchange: str, symbol: str, interval_hours: float, predicted_kind="estimate"
) -> pd.DataFrame:
    out = frame.assign(
        exchange=exchange,
        symbol=symbol,
        interval_hours=float(interval_hours),
        apr=lambda f: apr(f["rate"], float(interval_hours)),
    )
    return with_evidence(out, predicted_kind).loc[:, list(FUNDING)].reset_index(drop=True)


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
