"""Extract against the loopback Tardis-compatible server, through the real tardis_dev client."""

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from pipelines.core.columns import BITFINEX, GATE
from pipelines.core.errors import AuthError, DataNotPublished, ExtractError, UnknownSymbol
from pipelines.extract.replay import extract_range
from pipelines.load.minutes import load_extracted, read_funding, read_minutes
from pipelines.store import open_db

DAY = datetime(2024, 3, 5, tzinfo=UTC)


def minute_frame(extracted) -> pd.DataFrame:
    rows = [(sym, minute, *rec[4:]) for sym, minute, rec in extracted.rows]
    return pd.DataFrame(rows, columns=["symbol", "minute", "fts", "fr", "pfr", "oi", "last", "index", "mark"])


@pytest.mark.parametrize(
    ("exchange", "symbols"), [(GATE, ["BTC_USDT", "ETH_USDT"]), (BITFINEX, ["BTCF0:USTF0", "ETHF0:USTF0"])]
)
def test_replay_gives_one_row_per_symbol_and_minute(tardis_settings, exchange, symbols):
    start = DAY + timedelta(hours=6)
    got = extract_range(tardis_settings.tardis, exchange, symbols, start, start + timedelta(hours=3))
    frame = minute_frame(got)
    assert got.messages > 0 and got.malformed == 0
    assert set(frame["symbol"]) == set(symbols)
    assert not frame.duplicated(["symbol", "minute"]).any()
    lo, hi = start.timestamp() // 60, (start + timedelta(hours=3)).timestamp() // 60
    assert frame["minute"].between(lo, hi - 1).all()
    # the warm-up fills every field by the first minute; the ~10 s sample rate covers every minute
    assert frame.groupby("symbol").size().min() >= 170
    assert frame[["mark", "index", "last", "fr"]].notna().all().all()
    btc = frame[frame["symbol"] == symbols[0]]
    assert btc["mark"].between(10_000, 500_000).all()


def test_replay_and_datasets_give_identical_minute_history(tardis_settings):
    for exchange, symbols in ((GATE, ["BTC_USDT", "ETH_USDT"]), (BITFINEX, ["BTCF0:USTF0", "ETHF0:USTF0"])):
        replay = extract_range(
            tardis_settings.tardis, exchange, symbols, DAY, DAY + timedelta(days=1), "replay"
        )
        datasets = extract_range(
            tardis_settings.tardis, exchange, symbols, DAY, DAY + timedelta(days=1), "datasets"
        )
        assert len(replay.rows) > 2 * 1400
        assert replay.rows == datasets.rows, exchange


def test_derived_settlements_match_the_generators_truth(tardis_settings, tardis_server, tmp_path):
    db = open_db(tmp_path / "s.db")
    for offset in (0, 1):
        day = DAY + timedelta(days=offset)
        for exchange, symbol in ((GATE, "BTC_USDT"), (BITFINEX, "BTCF0:USTF0")):
            got = extract_range(tardis_settings.tardis, exchange, [symbol], day, day + timedelta(days=1))
            load_extracted(db, got, {symbol: 8.0}, day=day.date().isoformat())
    for exchange, symbol in ((GATE, "BTC_USDT"), (BITFINEX, "BTCF0:USTF0")):
        stored = read_funding(db, exchange, symbol, DAY, DAY + timedelta(days=2))
        days = (DAY.date(), (DAY + timedelta(days=1)).date())
        truth = {t: rate for d in days for t, rate, _ in tardis_server.feed.settlements(exchange, symbol, d)}
        by_time = dict(zip(stored["funding_time"].dt.to_pydatetime(), stored["rate"], strict=True))
        common = sorted(set(by_time) & set(truth))
        # 08:00 and 16:00 of both days plus midnight between them (the range's edges lack evidence)
        assert len(common) >= 5, (sorted(by_time), sorted(truth))
        for t in common:
            assert by_time[t] == pytest.approx(truth[t], abs=1e-12), (exchange, t)
        assert (stored["apr"] == stored["rate"] * 1095).all()
    minutes = read_minutes(db, GATE, "BTC_USDT", DAY, DAY + timedelta(days=2))
    assert len(minutes) >= 2 * 1400 and minutes["ts"].is_monotonic_increasing


def test_wrong_key_is_a_clear_auth_error_without_retries(tardis_server, tardis_settings):
    tardis_server.api_key = "right-key"
    bad = tardis_settings.tardis.model_copy(update={"api_key": "wrong-key"})
    with pytest.raises(AuthError, match=r"401.*gate-io-futures 2024-03-05.*TARDIS_API_KEY"):
        extract_range(bad, GATE, ["BTC_USDT"], DAY, DAY + timedelta(hours=1))
    assert len(tardis_server.requests) <= 2  # first and last slice, nothing retried


@pytest.mark.parametrize("kind", ["429", "500", "reset"])
def test_transient_faults_are_retried(tardis_server, tardis_settings, kind):
    tardis_server.inject(kind, count=1)
    got = extract_range(tardis_settings.tardis, GATE, ["BTC_USDT"], DAY, DAY + timedelta(hours=1))
    assert got.messages > 0 and len(got.rows) == 60
    assert len(tardis_server.requests) >= 3


def test_persistent_failure_names_exchange_and_day(tardis_server, tardis_settings):
    tardis_server.inject("500", count=-1)
    quick = tardis_settings.tardis.model_copy(update={"day_timeout_seconds": 1.5})
    with pytest.raises(ExtractError, match=r"bitfinex-derivatives 2024-03-05 00:00\.\.2024-03-05 01:00"):
        extract_range(quick, BITFINEX, ["BTCF0:USTF0"], DAY, DAY + timedelta(hours=1))


def test_malformed_lines_are_counted_not_fatal(tardis_server, tardis_settings):
    tardis_server.inject("malformed", count=3)
    got = extract_range(tardis_settings.tardis, GATE, ["BTC_USDT"], DAY, DAY + timedelta(hours=2))
    assert got.malformed > 0
    assert len(got.rows) == 120


def test_unpublished_range_is_reported_as_not_published(tardis_server, tardis_settings):
    tardis_server.available_until = DAY
    with pytest.raises(DataNotPublished, match="no data"):
        extract_range(
            tardis_settings.tardis, GATE, ["BTC_USDT"], DAY + timedelta(hours=1), DAY + timedelta(hours=2)
        )


@pytest.mark.parametrize("source", ["replay", "datasets"])
def test_unknown_symbol_is_a_fatal_error_naming_it(tardis_server, tardis_settings, source):
    with pytest.raises(UnknownSymbol, match=r"404 for gate-io-futures 2024-03-05.*BTCX_USDT.*config\.yaml"):
        extract_range(tardis_settings.tardis, GATE, ["BTCX_USDT"], DAY, DAY + timedelta(days=1), source)
    assert len(tardis_server.requests) <= 2  # not retried
