"""gate-io-futures: raw `futures.tickers` messages -> `derivative_ticker` records.

tardis-node's `GateIOFuturesDerivativeTickerMapper` is the reference (see `pipelines.venues.normalize`).

Settlement rule (`gate_settlements`; docs/venues/gate.md has the rule, its eras and sources; the
shared machinery is `pipelines.venues.settle_base`): Gate.io carries no funding timestamp, so the
funding times and intervals are read from how `funding_rate` moves around each whole hour
(`gate_settle`); the configured interval is only a hint. The rate settled at T is the last
`funding_rate` observed before T. The predicted rate is a forecast *of that settlement*. Since
`GATE_INDICATIVE_NEXT_PERIOD_UNTIL` it is the last `predicted_funding_rate` before T (Gate then sends
the same value in both fields). Before that, Gate's `funding_rate_indicative` was the "indicative
funding rate in next period": the last one seen before T forecast the settlement at T + interval, so
the forecast of the settlement at T is the last one seen one interval earlier. A settlement after
the cut-over whose two fields still differ just before T is read the old way too (the new era never
has them differ), which covers the undocumented hour of the change.
"""

from __future__ import annotations

from collections.abc import Iterable
from operator import itemgetter

import pandas as pd

from pipelines.core.columns import FUNDING, GATE
from pipelines.core.units import apr
from pipelines.venues import gate_settle
from pipelines.venues.base import (
    _NO_VALUES,
    _SHAPE_ERRORS,
    MalformedLine,
    Normalizer,
    Record,
    _number,
    _time_or_none,
)
from pipelines.venues.settle_base import MAX_GAP, _empty, _last_before, with_evidence
from pipelines.venues.venue import Venue

# Gate ticker keys in VALUE_FIELDS order. Gate sends no funding timestamp: key None is never present,
# so that field stays None through the generic "missing keeps the previous value" rule.
_GATE_KEYS = (
    None,
    "funding_rate",
    "funding_rate_indicative",
    "total_size",
    "last",
    "index_price",
    "mark_price",
)
_GATE_FIELDS = itemgetter(*_GATE_KEYS[1:])
_ABSENT = object()  # a key not in the message (unlike a null)
_MEMO_LIMIT = 10_000  # parsed Gate number strings kept; small stays cache-friendly (measured)


class GateNormalizer(Normalizer):
    """gate-io-futures, raw channel `futures.tickers`: numbers as strings, no funding timestamp."""

    exchange = GATE

    def __init__(self, symbols: Iterable[str] | None = None) -> None:
        super().__init__(symbols)
        self._memo: dict[str, float] = {}  # number string -> float

    def _handle(self, msg: object, local_us: int) -> list[Record]:
        if type(msg) is not dict:
            raise MalformedLine("wrong shape: not a JSON object")
        if msg.get("channel") != "futures.tickers" or msg.get("event") != "update":
            return []
        self.seen_channel = True
        result = msg.get("result")
        if result is None:
            raise MalformedLine("wrong shape: no result")
        # tardis-node: `time_ms` whenever the key is present, even null (then no usable time).
        time_ms = msg.get("time_ms", _ABSENT)
        if type(time_ms) is int:  # the usual case, tested first: this runs once per message
            timestamp = time_ms * 1000
        elif time_ms is _ABSENT:
            timestamp = _time_or_none(msg.get("time"), 1_000_000)
        else:
            timestamp = _time_or_none(time_ms, 1000)
        if type(result) is list and len(result) == 1:
            result = result[0]
            if type(result) is not dict:  # a nested `[[{...}]]` or a null: dropped whole, as tardis-node
                return []
        if type(result) is dict:  # the usual case: one ticker per message
            record = self._ticker(result, timestamp, local_us)
            return [] if record is None else [record]
        if type(result) is not list:
            raise MalformedLine("wrong shape: result is neither a list nor an object")
        return self._tickers(result, timestamp, local_us)

    def _tickers(self, result: list, timestamp: int | None, local_us: int) -> list[Record]:
        """Several tickers in one message, in order. Like tardis-node, the first item without a string
        `contract` (an inner list `[[{...}]]`, null, ...) ends the message: earlier ones count."""
        records = []
        for ticker in result:
            if type(ticker) is not dict or type(ticker.get("contract")) is not str:
                break
            record = self._ticker(ticker, timestamp, local_us)
            if record is not None:
                records.append(record)
        return records

    def _ticker(self, ticker: dict, timestamp: int | None, local_us: int) -> Record | None:
        symbol = ticker.get("contract")
        if type(symbol) is not str:
            return None  # tardis-node: no contract, no row (it would use a non-string one as the symbol)
        if self._symbols is not None and symbol not in self._symbols:
            return None
        old = self._values.get(symbol, _NO_VALUES)
        try:  # fast path: every field present and numeric
            new = self._floats(_GATE_FIELDS(ticker))
        except _SHAPE_ERRORS:  # a field missing, null, "", unparseable or infinite keeps its previous value
            get = ticker.get
            new = [o if (v := _number(get(k))) is None else v for k, o in zip(_GATE_KEYS, old)]  # noqa: B905
        return self._commit(symbol, timestamp, new, old, local_us)

    def _floats(self, fields: tuple) -> list:
        """[None (funding_timestamp), *floats]. Parsing number strings dominates the cost, and the same
        strings recur (unchanged rates, revisited prices), so parsed values are memoized."""
        memo = self._memo
        if len(memo) > _MEMO_LIMIT:
            memo.clear()
        new = [None]
        for raw in fields:
            value = memo.get(raw)
            if value is None:
                value = memo[raw] = _parse_gate(raw)
            new.append(value)
        return new


def _parse_gate(raw: object) -> float:
    """`float(raw)` for the fast path, raising ValueError where `_number` would give None."""
    value = _number(raw)
    if value is None:
        raise ValueError(f"not a number: {raw!r}")
    return value


# Gate settlements at or before this time are forecast by the indicative rate seen one period
# earlier (tardis-data.md: the fields are equal "since 2022-08-08"). The hour is not documented, so
# the day's first funding time is taken, and later settlements whose fields still differ are read
# the old way as well.
GATE_INDICATIVE_NEXT_PERIOD_UNTIL = pd.Timestamp("2022-08-08T00:00:00Z")


def gate_settlements(minutes: pd.DataFrame, symbol: str, interval_hours: float) -> pd.DataFrame:
    """Gate settlements from one symbol's minute rows (`ts`, `funding_rate`, `predicted_funding_rate`).

    Funding times and intervals come from the minutes (`gate_settle`), `interval_hours` (the
    configured one) only as a hint; the rate settled at T is the last `funding_rate` before T.
    `predicted_rate` of the settlement at T is the forecast of T: the last indicative before T in the
    current era, the last indicative one interval before that up to GATE_INDICATIVE_NEXT_PERIOD_UNTIL
    or when the two fields differ just before T (only the old era sends them different).
    """
    rated = minutes.dropna(subset=["funding_rate"]).sort_values("ts")
    if rated.empty:
        return _empty()
    times = gate_settle.schedule(gate_settle.hour_states(rated), symbol, interval_hours)
    if times.empty:
        return _empty()
    probes = pd.DatetimeIndex(times["funding_time"]) - pd.Timedelta(minutes=1)
    before = pd.merge_asof(
        times.assign(probe=probes),
        rated.loc[:, ["ts", "funding_rate", "predicted_funding_rate"]].rename(columns={"ts": "probe"}),
        on="probe",
        direction="backward",
        tolerance=MAX_GAP,
    )
    predicted, old_era = _forecasts(before, rated, probes)
    before = before.assign(predicted_funding_rate=predicted)
    found = before.dropna(subset=["funding_rate"])
    frame = pd.DataFrame(
        {
            "exchange": GATE,
            "symbol": symbol,
            "funding_time": found["funding_time"],
            "rate": found["funding_rate"],
            "predicted_rate": found["predicted_funding_rate"],
            "interval_hours": found["interval_hours"].astype(float),
            "apr": apr(found["funding_rate"], found["interval_hours"].astype(float)),
            # Since the cut-over Gate shows the settled rate itself as the prediction.
            "predicted_kind": old_era.loc[found.index].map({True: "forecast", False: "settled"}),
            "evidence": found["evidence"],
            "warning": found["warning"].astype(object).where(found["warning"].notna(), None),
        }
    )
    return with_evidence(frame, "settled").loc[:, list(FUNDING)].reset_index(drop=True)


def _forecasts(before: pd.DataFrame, rated: pd.DataFrame, probes: pd.DatetimeIndex):
    """Per settlement: the forecast of it and whether it is read the old way (module docstring)."""
    period = pd.to_timedelta(before["interval_hours"], unit="h").to_numpy()
    one_period_early = _last_before(rated, pd.DatetimeIndex(probes - period), "predicted_funding_rate")
    differ = before["predicted_funding_rate"].notna() & (
        before["predicted_funding_rate"] != before["funding_rate"]
    )
    old_era = (before["funding_time"] <= GATE_INDICATIVE_NEXT_PERIOD_UNTIL) | differ
    return before["predicted_funding_rate"].where(~old_era, one_period_early), old_era


VENUE = Venue(
    GATE,
    channels=("tickers",),
    normalizer=GateNormalizer,
    settle=gate_settlements,
    history_start="2020-07-01",
    label="Gate",
    symbol_format="{coin}_USDT",
    # No funding time: times come from the rate's resets (gate_settle), the configured interval is a hint.
    interval_in_data=False,
    taker_fee=0.0005,
)
