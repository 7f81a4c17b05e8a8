"""The Hyperliquid normalizer on hand-written messages (expected values typed from the messages), the
venue entry, and `arbdb normalize --exchange hyperliquid`. tardis-node itself is compared in
test_hyperliquid_reference.py."""

from __future__ import annotations

import json

from click.testing import CliRunner

from jobs.cli import cli
from pipelines.core.columns import GATE, HYPERLIQUID
from pipelines.venues.normalize import normalize_lines
from pipelines.venues.registry import venue

T = "2024-11-05T08:00:00.1234567Z"
T_US = 1_730_793_600_123_456
# Recorded by tardis-node's own mapper test (test/mappers.test.ts, "map hyperliquid messages").
MOODENG = {
    "channel": "activeAssetCtx",
    "data": {
        "coin": "MOODENG",
        "ctx": {
            "funding": "0.00004863",
            "openInterest": "18617460.0",
            "prevDayPx": "0.20296",
            "dayNtlVlm": "7665220.55613",
            "premium": "0.00008521",
            "oraclePx": "0.1995",
            "markPx": "0.19963",
            "midPx": "0.19957",
            "impactPxs": ["0.199517", "0.199725"],
        },
    },
}
SPOT = {
    "channel": "activeSpotAssetCtx",
    "data": {
        "coin": "@2",
        "ctx": {
            "prevDayPx": "0.000031",
            "dayNtlVlm": "24629.86429498",
            "markPx": "0.00005299",
            "midPx": "0.00005307",
            "coin": "@2",
        },
    },
}
SUBSCRIBED = {
    "channel": "subscriptionResponse",
    "data": {"method": "subscribe", "subscription": {"type": "activeAssetCtx", "coin": "BTC"}},
}


def line(message: object, stamp: str = T) -> str:
    return f"{stamp} {json.dumps(message)}"


def ctx(coin: str, **fields) -> dict:
    return {"channel": "activeAssetCtx", "data": {"coin": coin, "ctx": fields}}


def test_a_recorded_message_maps_funding_open_interest_oracle_and_mark_stamped_local():
    assert list(normalize_lines(HYPERLIQUID, [line(MOODENG)])) == [
        (HYPERLIQUID, "MOODENG", T_US, T_US, None, 0.00004863, None, 18617460.0, None, 0.1995, 0.19963)
    ]


def test_other_channels_and_spot_contexts_are_ignored():
    lines = [line(SUBSCRIBED), line(SPOT), line({"channel": "pong"}), line(ctx("BTC", markPx="80640.0"))]
    assert [r[1:] for r in normalize_lines(HYPERLIQUID, lines)] == [
        ("BTC", T_US, T_US, None, None, None, None, None, None, 80640.0)
    ]


def test_a_coin_is_upper_cased_and_filtered_in_that_spelling():
    lines = [line(ctx("kPEPE", markPx="0.0112")), line(ctx("BTC", markPx="80640.0"))]
    assert [r[1] for r in normalize_lines(HYPERLIQUID, lines)] == ["KPEPE", "BTC"]
    assert [r[1] for r in normalize_lines(HYPERLIQUID, lines, symbols=["kpepe"])] == ["KPEPE"]


def test_a_missing_field_keeps_its_value_and_an_unchanged_context_emits_nothing():
    later = "2024-11-05T08:00:01.0000000Z"
    lines = [
        line(ctx("BTC", funding="0.0000125", openInterest="36295.8", oraclePx="80684.7", markPx="80640.0")),
        line(ctx("BTC", funding="0.0000125", markPx="80640.0", premium="0.0001"), later),  # no change
        line(ctx("BTC", markPx="80641.0"), later),
    ]
    records = list(normalize_lines(HYPERLIQUID, lines))
    assert [r[5:] for r in records] == [
        (0.0000125, None, 36295.8, None, 80684.7, 80640.0),
        (0.0000125, None, 36295.8, None, 80684.7, 80641.0),
    ]
    assert records[1][2:4] == (T_US + 876_544, T_US + 876_544)


def test_a_disconnect_starts_every_coin_afresh():
    lines = [line(ctx("BTC", markPx="80640.0")), "", line(ctx("BTC", markPx="80640.0"))]
    assert len(list(normalize_lines(HYPERLIQUID, lines))) == 2


def test_the_venue_entry():
    hl = venue(HYPERLIQUID)
    assert hl.channels == ("activeAssetCtx",) and hl.label == "Hyperliquid"
    assert hl.symbol_for("btc") == "BTC" and hl.coin_of("ETH") == "ETH"
    assert (hl.interval_hours, hl.interval_in_data) == (1, False)
    assert hl.history_start == "2024-10-29" and hl.taker_fee == 0.00045


def test_cli_reports_a_context_less_line_and_writes_the_rest(tmp_path):
    path = tmp_path / "hl.replay"
    broken = {"channel": "activeAssetCtx", "data": {"coin": "BTC"}}
    path.write_text(f"{line(broken)}\n{line(MOODENG)}\n")
    result = CliRunner().invoke(cli, ["normalize", "--exchange", HYPERLIQUID, str(path)])
    assert result.exit_code == 0
    rows = [row.split(",") for row in result.stdout.splitlines()[1:]]
    assert [[float(c) if c else None for c in row[2:]] for row in rows] == [
        [T_US, T_US, None, 0.00004863, None, 18617460.0, None, 0.1995, 0.19963]
    ]
    assert [row[:2] for row in rows] == [[HYPERLIQUID, "MOODENG"]]
    assert "line 1" in result.stderr and "no data.ctx" in result.stderr


def test_cli_names_the_channel_when_the_exchange_is_wrong(tmp_path):
    path = tmp_path / "gate.replay"
    gate = {"time": 1, "channel": "futures.tickers", "event": "update", "result": {"contract": "BTC_USDT"}}
    path.write_text(line(gate) + "\n")
    result = CliRunner().invoke(cli, ["normalize", "--exchange", HYPERLIQUID, str(path)])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith(
        f"arbdb: error: no line of {path} (1 lines) is a message of hyperliquid's"
    )
    assert "activeAssetCtx channel" in result.stderr and GATE in result.stderr
    assert result.stderr.count("\n") == 1
