"""Bybit replay lines from the simulated state (`loopback.bybit_sim`), in the recorded shapes.

From 2023-04-05 V5 `tickers.<SYMBOL>`: a `snapshot` with every field, then `delta`s with the
fields that changed (numbers as strings) and `ts` in ms, as tardis-node's test messages show. Before,
`instrument_info.100ms.<SYMBOL>`: a snapshot object, then deltas whose `data.update[0]` carries the
changed fields, prices as `_e4` integer strings, rates `_e6`, open interest `_e8`, `timestamp_e6`.
Each day opens with the subscription reply and the snapshot (Tardis reconnects at 00:00 UTC).
"""

from __future__ import annotations

import zlib
from datetime import UTC, datetime

import numpy as np

from pipelines.venues.samplekit import TICKS_PER_MS, Lines, SymbolDay, day_ms, js_number, prefixes

_CREATED = '"created_at":"1970-01-01T00:00:00.000Z"'


def price_digits(price: float, old: bool) -> int:
    """Decimals of a price (BTC 0.01 ... DOGE 0.000001); pre-V5 `_e4` prices hold at most 4."""
    digits = int(np.clip(5 - np.floor(np.log10(price)), 2, 8))
    return min(digits, 4) if old else digits


def _texts(column: np.ndarray, fmt) -> list[str | None]:
    """`fmt` of each value (None where NaN: the field is absent), each distinct value formatted once."""
    unique, inverse = np.unique(column, return_inverse=True)
    texts = [None if v != v else fmt(v) for v in unique.tolist()]
    return [texts[i] for i in inverse.tolist()]


def _fields(columns: list[tuple[str, list[str | None]]]) -> list[str]:
    """Per update, the `"key":"text",` members of the fields present (absent ones left out)."""
    parts = [[f'"{key}":"{t}",' if t is not None else "" for t in texts] for key, texts in columns]
    return ["".join(row) for row in zip(*parts, strict=True)]


def _iso_second(ms: float) -> str:
    return datetime.fromtimestamp(int(ms) // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def lines(sd: SymbolDay) -> Lines:
    """Replay lines of one symbol-day: the subscription reply, then one message per update."""
    old = bool(sd.extra["old"][0])
    body = _old_lines(sd) if old else _v5_lines(sd)
    heads = prefixes(sd.local, sd.day)
    text = [h + b + "\n" for h, b in zip(heads, body, strict=True)]
    at = day_ms(sd.day) * TICKS_PER_MS + 3_000
    conn = f"{sd.day.toordinal():08x}-{zlib.crc32(sd.symbol.encode()) % 10**4:04d}"
    if old:
        request = f'{{"op":"subscribe","args":["instrument_info.100ms.{sd.symbol}"]}}'
        reply = f'{{"success":true,"ret_msg":"","conn_id":"{conn}","request":{request}}}'
    else:
        reply = f'{{"success":true,"ret_msg":"","conn_id":"{conn}","req_id":"","op":"subscribe"}}'
    head = prefixes(np.array([at]), sd.day)[0]
    return np.concatenate(([at], sd.local)), [head + reply + "\n", *text]


def _v5_columns(sd: SymbolDay) -> list[tuple[str, list[str | None]]]:
    v, digits = sd.values, int(sd.extra["digits"][0])
    price = f"{{:.{digits}f}}".format
    return [
        ("lastPrice", _texts(v["last_price"], price)),
        ("markPrice", _texts(v["mark_price"], price)),
        ("indexPrice", _texts(v["index_price"], price)),
        ("openInterest", _texts(v["open_interest"], lambda x: f"{x:.3f}")),
        ("nextFundingTime", _texts(v["funding_timestamp"], lambda x: str(int(x) // 1000))),
        ("fundingRate", _texts(v["funding_rate"], js_number)),
    ]


def _v5_lines(sd: SymbolDay) -> list[str]:
    columns = _v5_columns(sd)
    full = sd.extra["full"]
    digits = int(sd.extra["digits"][0])
    last = full["last_price"]
    tick = 10.0**-digits
    bids = [f"{x - tick:.{digits}f}" for x in last.tolist()]
    asks = [f"{x + tick:.{digits}f}" for x in last.tolist()]
    sizes = _texts(np.round(np.abs(np.sin(np.arange(len(last)) * 0.7)) * 20 + 0.001, 3), lambda x: f"{x:.3f}")
    snapshot = sd.extra["snapshot"].tolist()
    ts = sd.ts_ms.tolist()
    symbol = sd.symbol
    out = []
    for i, (t, fields) in enumerate(zip(ts, _fields(columns), strict=True)):
        if snapshot[i]:
            fields = _v5_snapshot_extras(full, i, digits) + fields
        book = (
            f'"bid1Price":"{bids[i]}","bid1Size":"{sizes[i]}",'
            f'"ask1Price":"{asks[i]}","ask1Size":"{sizes[-1 - i]}"'
        )
        kind = "snapshot" if snapshot[i] else "delta"
        out.append(
            f'{{"topic":"tickers.{symbol}","type":"{kind}","data":{{"symbol":"{symbol}",{fields}{book}}},'
            f'"cs":{t * 3 // 1000 + i},"ts":{t}}}'
        )
    return out


def _v5_snapshot_extras(full: dict, i: int, digits: int) -> str:
    """The slow fields only a snapshot carries (24 h statistics, open interest value)."""
    mark = float(full["mark_price"][i])
    oi = float(full["open_interest"][i])
    return (
        f'"tickDirection":"PlusTick","price24hPcnt":"0.012345","prevPrice24h":"{mark * 0.988:.{digits}f}",'
        f'"highPrice24h":"{mark * 1.02:.{digits}f}","lowPrice24h":"{mark * 0.97:.{digits}f}",'
        f'"prevPrice1h":"{mark * 0.999:.{digits}f}","openInterestValue":"{oi * mark:.2f}",'
        f'"turnover24h":"{oi * mark * 2.7:.4f}","volume24h":"{oi * 2.7:.4f}",'
    )


def _old_columns(sd: SymbolDay) -> list[tuple[str, list[str | None]]]:
    v, digits = sd.values, int(sd.extra["digits"][0])
    e4 = lambda x: f"{round(x * 1e4)}"  # noqa: E731
    return [
        ("last_price_e4", _texts(v["last_price"], e4)),
        ("last_price", _texts(v["last_price"], f"{{:.{digits}f}}".format)),
        ("mark_price_e4", _texts(v["mark_price"], e4)),
        ("index_price_e4", _texts(v["index_price"], e4)),
        ("open_interest_e8", _texts(v["open_interest"], lambda x: f"{round(x * 1e8)}")),
        ("funding_rate_e6", _texts(v["funding_rate"], lambda x: f"{round(x * 1e6)}")),
        ("predicted_funding_rate_e6", _texts(v["predicted_funding_rate"], lambda x: f"{round(x * 1e6)}")),
        ("next_funding_time", _texts(v["funding_timestamp"], lambda x: _iso_second(x / 1000))),
    ]


def _old_lines(sd: SymbolDay) -> list[str]:
    columns = _old_columns(sd)
    snapshot = sd.extra["snapshot"].tolist()
    symbol = sd.symbol
    out = []
    for i, (t, fields) in enumerate(zip(sd.ts_ms.tolist(), _fields(columns), strict=True)):
        seq = t * 3 // 1000 + i
        info = f'"id":1,"symbol":"{symbol}",{fields}"cross_seq":"{seq}",{_CREATED},'
        info += f'"updated_at":"{_iso_second(t)}"'
        data = f"{{{info}}}" if snapshot[i] else f'{{"delete":[],"update":[{{{info}}}],"insert":[]}}'
        kind = "snapshot" if snapshot[i] else "delta"
        out.append(
            f'{{"topic":"instrument_info.100ms.{symbol}","type":"{kind}","data":{data},'
            f'"cross_seq":"{seq + 1}","timestamp_e6":"{t * 1000}"}}'
        )
    return out
