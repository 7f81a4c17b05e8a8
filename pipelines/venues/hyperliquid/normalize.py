"""hyperliquid: raw `activeAssetCtx` messages -> `derivative_ticker` records.

tardis-node's `HyperliquidDerivativeTickerMapper` is the reference (see `pipelines.venues.normalize`):
`{"channel":"activeAssetCtx","data":{"coin":"BTC","ctx":{"funding":..,"openInterest":..,
"oraclePx":..,"markPx":..,<fields it ignores>}}}` gives funding_rate, open_interest, index_price and
mark_price of the upper-cased coin. The message carries no exchange time: the record is stamped
with its local (receive) time, which never moves backwards. There is no funding timestamp, no
predicted rate and no last price. The mapper is the same for every date (no era to switch on).

Settlement rule: `pipelines.venues.hyperliquid.settle`.
"""

from __future__ import annotations

from collections.abc import Iterable
from operator import itemgetter

from pipelines.venues.base import _NO_VALUES, _SHAPE_ERRORS, MalformedLine, Normalizer, Record, _number

EXCHANGE = "hyperliquid"  # the Tardis exchange id
CHANNEL = "activeAssetCtx"
# ctx keys in VALUE_FIELDS order; None: a field Hyperliquid does not send (it stays None).
_CTX_KEYS = (None, "funding", None, "openInterest", None, "oraclePx", "markPx")
_CTX_FIELDS = itemgetter("funding", "openInterest", "oraclePx", "markPx")
_MEMO_LIMIT = 10_000  # parsed number strings kept (rates and open interest repeat)


class HyperliquidNormalizer(Normalizer):
    """hyperliquid, raw channel `activeAssetCtx`: numbers as strings, local time only."""

    exchange = EXCHANGE

    def __init__(self, symbols: Iterable[str] | None = None) -> None:
        super().__init__(symbols)
        self._memo: dict[str, float] = {}  # number string -> float

    def _handle(self, msg: object, local_us: int) -> list[Record]:
        if type(msg) is not dict:
            raise MalformedLine("wrong shape: not a JSON object")
        if msg.get("channel") != CHANNEL:
            return []  # subscriptionResponse, trades, l2Book, bbo, activeSpotAssetCtx, pong ...
        self.seen_channel = True
        data = msg.get("data")
        coin = data.get("coin") if type(data) is dict else None
        if type(coin) is not str:
            raise MalformedLine("wrong shape: no data.coin")  # tardis-node throws on it too
        ctx = data.get("ctx")
        if ctx is None:
            raise MalformedLine("wrong shape: no data.ctx")
        symbol = coin.upper()
        if type(ctx) is not dict or (self._symbols is not None and symbol not in self._symbols):
            return []  # a ctx that is not an object has no fields: nothing changes
        old = self._values.get(symbol, _NO_VALUES)
        try:  # fast path: every field present and a number string
            new = self._floats(_CTX_FIELDS(ctx))
        except _SHAPE_ERRORS:  # missing, null, "", unparseable or infinite keeps the previous value
            get = ctx.get
            new = [o if k is None or (v := _number(get(k))) is None else v for k, o in zip(_CTX_KEYS, old)]  # noqa: B905
        if new == old:
            return []
        return [self._emit(symbol, new, local_us)]

    def _emit(self, symbol: str, new: list, local_us: int) -> Record:
        """Store `new` and stamp it. Like tardis-node the time moves only when a record is emitted;
        unlike it (a Date compared in ms) it never goes back, not even within a millisecond."""
        prev = self._times.get(symbol)
        timestamp = local_us if prev is None or local_us > prev else prev
        self._times[symbol] = timestamp
        self._values[symbol] = new
        return (EXCHANGE, symbol, timestamp, local_us, *new)

    def _floats(self, fields: tuple) -> list:
        """[None, funding, None, open interest, None, oracle, mark] from four number strings; the
        strings recur (the hourly rate, open interest), so parsed values are memoized."""
        memo = self._memo
        if len(memo) > _MEMO_LIMIT:
            memo.clear()
        parsed = []
        for raw in fields:
            value = memo.get(raw) if type(raw) is str else None
            if value is None:
                value = _parse(raw)
                if type(raw) is str:
                    memo[raw] = value
            parsed.append(value)
        funding, open_interest, oracle, mark = parsed
        return [None, funding, None, open_interest, None, oracle, mark]


def _parse(raw: object) -> float:
    """`_number(raw)` for the fast path, raising ValueError where it would give None."""
    value = _number(raw)
    if value is None:
        raise ValueError(f"not a number: {raw!r}")
    return value
