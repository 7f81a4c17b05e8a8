"""Minute rows as numpy columns for the trip back from a Dask worker: the very same Python values
come out (types included), in less than the pickled tuples take."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta

from pipelines.core.columns import BITFINEX, GATE
from pipelines.extract.columnar import pack
from pipelines.extract.replay import Extracted, extract_range

DAY = datetime(2024, 3, 4, tzinfo=UTC)


def typed(rows):
    return [(s, m, tuple((type(v), v) for v in rec)) for s, m, rec in rows]


def test_a_replayed_day_comes_back_identical_and_smaller(tardis_settings):
    for exchange, symbols in ((GATE, ["BTC_USDT", "ETH_USDT"]), (BITFINEX, ["BTCF0:USTF0"])):
        extracted = extract_range(tardis_settings.tardis, exchange, symbols, DAY, DAY + timedelta(days=1))
        packed = pickle.loads(pickle.dumps(pack(extracted), protocol=5))
        back = packed.unpack()
        assert typed(back.rows) == typed(extracted.rows)
        assert (back.exchange, back.start, back.end, back.source) == (exchange, DAY, extracted.end, "replay")
        assert (back.messages, back.malformed, back.symbols) == (
            extracted.messages,
            extracted.malformed,
            extracted.symbols,
        )
        assert len(pickle.dumps(packed, protocol=5)) < len(pickle.dumps(extracted.rows, protocol=5))


def test_missing_fields_stay_none_and_values_keep_their_type():
    out = Extracted(GATE, DAY, DAY + timedelta(minutes=2), "datasets", messages=5, malformed=1)
    first = (GATE, "BTC_USDT", 1, 2, None, 1e-4, None, 0.0, -0.0, float("inf"), 5e300)
    second = (GATE, "ETH_USDT", 3, 4, 2**53 + 1, None, -1.5, None, None, None, None)
    out.rows = [("BTC_USDT", 10, first), ("ETH_USDT", 11, second)]
    out.symbols = {"BTC_USDT": 1, "ETH_USDT": 1}
    back = pack(out).unpack()
    assert typed(back.rows) == typed(out.rows)
    assert str(back.rows[0][2][8]) == "-0.0"


def test_an_empty_extract_packs():
    out = Extracted(GATE, DAY, DAY + timedelta(days=1), "replay")
    assert pack(out).unpack().rows == []


def test_records_carrying_stated_fields_come_back_with_them():
    """A venue stating its settlements (OKX) appends STATED to some records: they survive the trip."""
    out = Extracted("okex-swap", DAY, DAY + timedelta(minutes=3), "replay", messages=3)
    plain = ("okex-swap", "BTC-USDT-SWAP", 1, 2, 3, 1e-4, None, None, 5.0, None, 6.0)
    stated = (*plain[:2], 7, 8, 9, 2e-4, None, None, 5.5, None, 6.5, 1.5e-4, 1_709_251_200_000_000)
    out.rows = [("BTC-USDT-SWAP", 10, plain), ("BTC-USDT-SWAP", 11, stated), ("BTC-USDT-SWAP", 12, plain)]
    back = pickle.loads(pickle.dumps(pack(out), protocol=5)).unpack()
    assert typed(back.rows) == typed(out.rows)
