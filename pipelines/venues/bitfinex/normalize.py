"""bitfinex-derivatives: raw `status` channel messages -> `derivative_ticker` records.

tardis-node's `BitfinexDerivativeTickerMapper` is the reference (see `pipelines.venues.normalize`).

The settlement rule is in `pipelines.venues.bitfinex.settle`, the docs page is README.md here.
"""

from __future__ import annotations

from collections.abc import Iterable
from operator import itemgetter

from pipelines.venues.base import (
    _NO_VALUES,
    _SHAPE_ERRORS,
    MalformedLine,
    Normalizer,
    Record,
    _micros,
    _number,
    _time_or_none,
)

EXCHANGE = "bitfinex-derivatives"  # the Tardis exchange id

# Bitfinex STATUS_ARRAY indices in VALUE_FIELDS order after funding_timestamp (index 7, in ms, apart).
_BFX_INDICES = (11, 8, 17, 2, 3, 14)
_BFX_FUNDING_TS = 7
_BFX_FIELDS = itemgetter(_BFX_FUNDING_TS, *_BFX_INDICES)


class BitfinexNormalizer(Normalizer):
    """bitfinex-derivatives, raw channel `status`: chanId -> symbol map from subscription messages."""

    exchange = EXCHANGE

    def __init__(self, symbols: Iterable[str] | None = None) -> None:
        super().__init__(symbols)
        self._channels: dict[object, str] = {}

    def disconnect(self) -> None:
        """Forget symbol state and channel ids: they are rebuilt from the new subscriptions."""
        super().disconnect()
        self._channels.clear()

    def _handle(self, msg: object, local_us: int) -> list[Record]:
        if type(msg) is dict:
            self._event(msg)
            return []
        if type(msg) is not list or len(msg) < 2:
            raise MalformedLine("wrong shape: neither an event object nor a channel array")
        # tardis-node's canHandle: a string before the last element names the channel; without one,
        # the chanId must belong to a status subscription.
        channel = msg[-2]
        if type(channel) is str:
            if channel != "status":
                return []
            symbol = msg[-1]
            if type(symbol) is not str:
                symbol = self._channels.get(msg[0])
        else:
            symbol = self._channels.get(msg[0])
            if symbol is None:
                return []
            if type(msg[-1]) is str:
                symbol = msg[-1]
        self.seen_channel = True
        status = msg[1]
        if symbol is None or status == "hb" or status is None:  # heartbeat `[chanId, "hb", ...]`
            return []
        if self._symbols is not None and symbol not in self._symbols:
            return []
        time_ms = msg[3] if len(msg) > 3 else None
        timestamp = time_ms * 1000 if type(time_ms) is int else _time_or_none(time_ms, 1000)
        if type(status) is not list:  # no fields (tardis-node reads them as undefined), but a time
            self._advance(symbol, timestamp)
            return []
        record = self._status(symbol, timestamp, status, local_us)
        return [] if record is None else [record]

    def _event(self, msg: dict) -> None:
        """Track `subscribed` events of status channels: chanId -> symbol, as tardis-node does (it
        strips `deriv:t` and never forgets an id until a disconnect)."""
        if msg.get("event") != "subscribed" or msg.get("channel") != "status":
            return
        key = msg.get("key")
        if type(key) is str and key.startswith("deriv:"):
            self.seen_channel = True
            self._channels[msg.get("chanId")] = key.replace("deriv:t", "", 1)

    def _status(self, symbol: str, timestamp: int | None, status: list, local_us: int) -> Record | None:
        """Merge one STATUS_ARRAY (early 12-element arrays lack mark price and open interest)."""
        old = self._values.get(symbol, _NO_VALUES)
        try:  # fast path, all in C: every field present and numeric (orjson gives no infinities)
            fields = _BFX_FIELDS(status)
            new = [_micros(fields[0], 1000), *map(float, fields[1:])]
        except _SHAPE_ERRORS:  # a field null, beyond a short array or not finite keeps its previous value
            new = self._merge_slow(status, old)
        return self._commit(symbol, timestamp, new, old, local_us)

    @staticmethod
    def _merge_slow(status: list, old: list) -> list:
        n = len(status)
        funding = _time_or_none(status[_BFX_FUNDING_TS], 1000) if n > _BFX_FUNDING_TS else None
        # zip stops at the shorter: old[0] (funding_timestamp) is merged apart.
        new = [o if i >= n or (v := _number(status[i])) is None else v for i, o in zip(_BFX_INDICES, old[1:])]  # noqa: B905
        new.insert(0, old[0] if funding is None else funding)
        return new
