"""update_windows / read_windows on a real SQLite file: idempotence, recompute after a change, order."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from pipelines.config.settings import Transform
from pipelines.core.window_columns import WINDOW_COLUMNS
from pipelines.store import SCHEMA, open_db, transaction, upsert
from pipelines.transform.windows_stage import PARALLEL_MIN_DAYS, read_windows, update_pairs, update_windows
from tests.fixtures.windows_data import funding_rows, minute_rows, store_history

START = datetime(2024, 3, 1, tzinfo=UTC)
DAYS = 6
END = START + timedelta(days=DAYS)
W = timedelta(hours=8)


@pytest.fixture
def small(settings):
    """Short lookback so six days of windows carry z-scores, and a low threshold so some flag."""
    transform = Transform(lookback_windows=6, min_periods=3, z_threshold=1.5, net_carry_apr_floor=0.2)
    return settings.model_copy(update={"transform": transform})


def table(db) -> list[tuple]:
    return db.execute("SELECT * FROM windows ORDER BY pair, window_end").fetchall()


def dump(db) -> list[str]:
    return [line for line in db.conn.iterdump() if '"windows"' in line]


def test_schema_lists_every_window_column():
    columns, pk, not_null = SCHEMA["windows"]
    assert tuple(columns) == WINDOW_COLUMNS
    assert pk == ("pair", "window_end") and {"pair", "window_end", "window_start"} <= not_null


def test_one_row_per_window_and_rerun_is_byte_identical(db, small):
    pair = small.pair("BTC")
    store_history(db, pair, START, DAYS)
    assert update_windows(db, small.window_config(), pair, START, END) == DAYS * 3
    first = dump(db)
    assert (
        update_windows(db, small.window_config(), small.pair("btc"), START, END) == 0
    )  # the range is recomputed, nothing changed
    assert dump(db) == first
    rows = read_windows(db, "BTC", START, END)
    assert rows["window_end"].tolist() == [pd.Timestamp(START + W * (i + 1)) for i in range(DAYS * 3)]
    assert rows["complete"].all()
    assert rows["z_funding_diff"].iloc[:3].isna().all() and rows["z_funding_diff"].iloc[3:].notna().all()
    assert rows["z_carry_apr"].isna().all()  # not a configured feature
    stored = db.execute("SELECT window_end, reasons, warnings FROM windows ORDER BY window_end").fetchone()
    assert stored[0] == "2024-03-01T08:00:00Z" and json.loads(stored[1]) == rows["reasons"][0]
    assert json.loads(stored[2]) == []


def test_recompute_after_a_change_matches_a_full_compute(db, small, tmp_path):
    pair = small.pair("BTC")
    fresh = open_db(tmp_path / "fresh.db")
    for store in (db, fresh):
        store_history(store, pair, START, DAYS)
    update_windows(db, small.window_config(), pair, START, END)
    before = read_windows(db, "BTC", START, END)
    changed = START + 5 * W  # the 5th window's Gate settlement moves
    row = next(
        r
        for r in funding_rows("gate-io-futures", "BTC_USDT", START, DAYS, 3)
        if r["funding_time"] == "2024-03-02T16:00:00Z"
    )
    for store in (db, fresh):
        upsert(store, "funding", [{**row, "rate": 0.003, "apr": 0.003 * 1095}])
    written = update_windows(db, small.window_config(), pair, changed - W, changed)
    update_windows(fresh, small.window_config(), pair, START, END)
    assert table(db) == table(fresh)
    after = read_windows(db, "BTC", START, END)
    moved = after["features_hash"] != before["features_hash"]
    assert moved.iloc[4] and not moved.iloc[:4].any() and not moved.iloc[11:].any()  # z looks back 6 windows
    assert written == moved.sum()
    fresh.close()


def test_any_order_of_pieces_gives_the_same_table(db, small, tmp_path):
    pair = small.pair("BTC")
    whole = open_db(tmp_path / "whole.db")
    for store in (db, whole):
        store_history(store, pair, START, DAYS)
    update_windows(whole, small.window_config(), pair, START, END)
    for day in (4, 5, 2, 3, 0, 1):  # later days first: earlier ones then recompute the z-scores after them
        update_windows(
            db, small.window_config(), pair, START + timedelta(days=day), START + timedelta(days=day + 1)
        )
    assert table(db) == table(whole)
    whole.close()


def test_incomplete_windows_are_stored_with_warnings_and_never_flagged(db, small):
    pair = small.pair("BTC")
    loose = small.model_copy(
        update={"transform": Transform(lookback_windows=6, min_periods=3, net_carry_apr_floor=-9)}
    )
    upsert(db, "tickers", minute_rows("gate-io-futures", "BTC_USDT", START, 1, 1))
    upsert(
        db, "tickers", minute_rows("bitfinex-derivatives", "BTCF0:USTF0", START, 1, 2, drop=range(600, 800))
    )
    upsert(db, "funding", funding_rows("gate-io-futures", "BTC_USDT", START, 1, 3, interval=4))
    upsert(
        db,
        "funding",
        funding_rows("bitfinex-derivatives", "BTCF0:USTF0", START, 1, 4, skip={"2024-03-02T00:00:00Z"}),
    )
    update_windows(db, loose.window_config(), pair, START, START + timedelta(days=1))
    rows = read_windows(db, "BTC", START, START + timedelta(days=1))
    assert rows["complete"].tolist() == [True, False, False]
    assert rows["flagged"].tolist() == [True, False, False]  # floor -900 % flags every complete window
    assert "Bitfinex coverage 58% < 90%" in rows["warnings"][1]
    assert "Bitfinex settlement missing" in rows["warnings"][2]
    assert all("Gate settles every 4 h, configured 8 h" in w for w in rows["warnings"])


def test_read_windows_range_and_flagged_filter(db, small):
    pair = small.pair("BTC")
    store_history(db, pair, START, DAYS)
    update_windows(db, small.window_config(), pair, START, END)
    day = read_windows(db, "btc".upper(), START + timedelta(days=1), START + timedelta(days=2))
    assert day["window_end"].iloc[0] == pd.Timestamp("2024-03-02T08:00:00Z") and len(day) == 3
    assert list(day.columns) == list(WINDOW_COLUMNS)
    flagged = read_windows(db, "BTC", START, END, flagged_only=True)
    assert len(flagged) and flagged["flagged"].all() and all(flagged["reasons"].map(bool))
    assert read_windows(db, "ETH", START, END).empty


def test_pairs_do_not_mix(db, small):
    for name, seed in (("BTC", 1), ("ETH", 7)):
        store_history(db, small.pair(name), START, 2, seed=seed)
        update_windows(db, small.window_config(), small.pair(name), START, START + timedelta(days=2))
    btc, eth = read_windows(db, "BTC", START, END), read_windows(db, "ETH", START, END)
    assert len(btc) == len(eth) == 6 and (btc["funding_diff"] != eth["funding_diff"]).all()


def test_a_commit_while_windows_are_computed_is_not_overwritten_by_the_stale_read(db, small, tmp_path):
    """Another connection changes minutes the computation has already read (it commits from the
    sqlite trace hook, right when the settlements are read): the stored windows must still be the
    ones the final data gives, not the ones computed from the stale read."""
    pair = small.pair("BTC")
    fresh = open_db(tmp_path / "fresh.db")
    for store in (db, fresh):
        store_history(store, pair, START, DAYS)
    moved = [
        {**r, "mark_price": r["mark_price"] * 1.01}
        for r in minute_rows("gate-io-futures", "BTC_USDT", START, DAYS, 1)[2000:2400]
    ]
    other = open_db(small.database)
    fired = []

    def commit_from_elsewhere(sql: str) -> None:
        if not fired and "FROM funding" in sql:
            fired.append(sql)
            with transaction(other):
                upsert(other, "tickers", moved)

    db.conn.set_trace_callback(commit_from_elsewhere)
    try:
        update_windows(db, small.window_config(), pair, START, END)
    finally:
        db.conn.set_trace_callback(None)
        other.close()
    assert fired
    with transaction(fresh):
        upsert(fresh, "tickers", moved)
    update_windows(fresh, small.window_config(), pair, START, END)
    assert table(db) == table(fresh)
    fresh.close()


def test_long_ranges_computed_in_worker_processes_match_one_process(db, small, tmp_path):
    days = PARALLEL_MIN_DAYS
    parallel = small.model_copy(update={"tardis": small.tardis.model_copy(update={"workers": 2})})
    serial = open_db(tmp_path / "serial.db")
    for store in (db, serial):
        for name, seed in (("BTC", 1), ("ETH", 7)):
            store_history(store, small.pair(name), START, days, seed=seed)
    end = START + timedelta(days=days)
    written = update_pairs(
        db, parallel.window_config(), parallel.pairs, START, end, workers=2, database=small.database
    )
    for name in ("BTC", "ETH"):
        update_windows(serial, small.window_config(), small.pair(name), START, end)
    assert written == 2 * days * 3
    assert table(db) == table(serial)
    assert (
        update_pairs(
            db, parallel.window_config(), parallel.pairs, START, end, workers=2, database=small.database
        )
        == 0
    )
    serial.close()


def test_a_4_hour_gate_leg_beside_8_hour_bitfinex_sums_two_settlements_per_window(db, small):
    from pipelines.config.pairs import Pair

    pair = Pair(
        name="BTC",
        legs=["gate-io-futures:BTC_USDT", "bitfinex-derivatives:BTCF0:USTF0"],
        interval_hours={"gate-io-futures": 4},
    )
    settings = small.model_copy(update={"pairs": (pair,)})
    store_history(db, pair, START, DAYS, gate_interval=4)
    assert update_windows(db, settings.window_config(), pair, START, END) == DAYS * 3  # 8-hour windows
    windows = read_windows(db, "BTC", START, END)
    gate = pd.DataFrame(funding_rows("gate-io-futures", "BTC_USDT", START, DAYS, 3, interval=4))
    rate = dict(zip(gate["funding_time"], gate["rate"], strict=True))
    for row in windows.itertuples():
        end = row.window_end
        paid = [rate[t] for t in (_iso(end - timedelta(hours=4)), _iso(end))]
        assert row.a_rate == pytest.approx(sum(paid), abs=1e-15) and row.a_settled == 2
        assert row.a_interval_hours == 4 and row.b_interval_hours == 8 and row.window_hours == 8
        assert row.a_apr == pytest.approx(sum(paid) * 1095) and row.funding_diff == pytest.approx(
            row.a_rate - row.b_rate
        )
        assert row.complete and not [w for w in row.warnings if "Gate" in w and "settle" in w]


def _iso(ts) -> str:
    return pd.Timestamp(ts).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_two_legs_spelling_their_symbol_alike_are_kept_apart(db, small):
    """Binance and Bybit both spell ETH's perpetual `ETHUSDT`: each leg keeps its own marks."""
    from pipelines.config.pairs import Pair

    pair = Pair(name="ETH-BIN-BYB", coin="ETH", venues=["binance-futures", "bybit"])
    settings = small.model_copy(update={"pairs": (pair,)})
    with transaction(db):
        for seed, leg in enumerate(pair.legs):
            upsert(db, "tickers", minute_rows(leg.exchange, leg.symbol, START, 2, seed))
            upsert(db, "funding", funding_rows(leg.exchange, leg.symbol, START, 2, seed + 5))
    assert update_windows(db, settings.window_config(), pair, START, START + timedelta(days=2)) == 6
    windows = read_windows(db, "ETH-BIN-BYB", START, START + timedelta(days=2))
    binance = pd.DataFrame(minute_rows("binance-futures", "ETHUSDT", START, 2, 0))
    bybit = pd.DataFrame(minute_rows("bybit", "ETHUSDT", START, 2, 1))
    first = windows.iloc[0]
    assert (first.a_exchange, first.b_exchange) == ("binance-futures", "bybit")
    spread = (binance["mark_price"][:480] - bybit["mark_price"][:480]) / bybit["mark_price"][:480] * 1e4
    assert first.mark_spread_mean_bps == pytest.approx(spread.mean())
    assert first.a_minutes == first.b_minutes == 480
