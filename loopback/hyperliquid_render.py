"""Hyperliquid replay lines from the simulated state (`loopback.hyperliquid_sim`), in the real shapes.

`{"channel":"activeAssetCtx","data":{"coin":"BTC","ctx":{"funding":"0.0000125","openInterest":
"36295.80812","prevDayPx":"77759.0","dayNtlVlm":"4490636699.3","premium":"-0.0005540084",
"oraclePx":"80684.7","markPx":"80640.0","midPx":"80639.5","impactPxs":["80637.2","80640.0"],
"dayBaseVlm":"56265.69068"}}}`, as recorded from the exchange and in tardis-node's test messages:
numbers are decimal strings (a whole price keeps its `.0`); a field absent from the state is left
out of its message. Each session opens with a `subscriptionResponse` per coin; a disconnect is an
empty line.
"""

from __future__ import annotations

import numpy as np
import orjson

from loopback.render import _strings
from pipelines.venues.samplekit import SymbolDay, prefixes

Lines = tuple[np.ndarray, list[str]]  # local timestamps (100 ns) and the matching lines
SUBSCRIBE_OFFSET = 5_000  # a session's subscriptionResponse comes 0.5 ms after it opens
_CTX_FIELDS = {"funding": "funding_rate", "openInterest": "open_interest", "oraclePx": "index_price"}


def decimal(x: float) -> str:
    """Hyperliquid's decimal string: positional, shortest round trip, a whole number keeps `.0`."""
    return np.format_float_positional(x, trim="0")


def symbol_lines(sd: SymbolDay, sessions: list[tuple[int, int]]) -> Lines:
    """Replay lines of one coin-day: its activeAssetCtx updates and each session's subscription."""
    cols = _columns(sd)
    heads = prefixes(sd.local, sd.day)
    coin = sd.symbol
    # One f-string per line: the hot path of the sample generator.
    lines = [
        f'{h}{{"channel":"activeAssetCtx","data":{{"coin":"{coin}","ctx":{{"funding":"{fr}",'
        f'"openInterest":"{oi}","prevDayPx":"{cols["prev"]}","dayNtlVlm":"{vol}","premium":"{pr}",'
        f'"oraclePx":"{ox}","markPx":"{mk}","midPx":"{mid}","impactPxs":["{lo}","{hi}"],'
        f'"dayBaseVlm":"{base}"}}}}}}\n'
        for h, fr, oi, vol, pr, ox, mk, mid, lo, hi, base in zip(  # noqa: B905 - equal lengths
            heads, cols["funding"], cols["openInterest"], cols["volume"], cols["premium"], cols["oraclePx"],
            cols["markPx"], cols["mid"], cols["low"], cols["high"], cols["base"],
        )
    ]  # fmt: skip
    for i in _irregular(sd).tolist():
        lines[i] = heads[i] + _irregular_line(sd, cols, i) + "\n"
    subs_local = np.array([start + SUBSCRIBE_OFFSET for start, _ in sessions], dtype=np.int64)
    sub = orjson.dumps(
        {"channel": "subscriptionResponse", "data": {"method": "subscribe",
         "subscription": {"type": "activeAssetCtx", "coin": coin}}}
    ).decode()  # fmt: skip
    subs = [h + sub + "\n" for h in prefixes(subs_local, sd.day)]
    return np.concatenate((sd.local, subs_local)), lines + subs


def _columns(sd: SymbolDay) -> dict:
    """Each message field as strings, per update (fields absent from the state are blanks, unused)."""
    v, x = sd.values, sd.extra
    digits = int(x["digits"][0])
    mark = v["mark_price"]
    oracle = np.where(np.isnan(v["index_price"]), mark, v["index_price"])
    mid = x["mid"]
    minute = x["minute_of_day"]
    volume = np.round(4.0e9 * (mark[0] / 80_000) * (1 + 0.2 * np.sin(minute / 200.0)), 4)
    safe = {k: np.nan_to_num(v[k]) for k in ("funding_rate", "open_interest", "index_price")}
    return {
        "funding": _strings(safe["funding_rate"], decimal),
        "openInterest": _strings(safe["open_interest"], decimal),
        "oraclePx": _strings(safe["index_price"], decimal),
        "markPx": _strings(mark, decimal),
        "mid": _strings(mid, decimal),
        "premium": _strings(np.round((mid - oracle) / oracle, 10) + 0.0, decimal),
        "low": _strings(np.round(mid * (1 - 1e-4), digits), decimal),
        "high": _strings(np.round(mid * (1 + 1e-4), digits), decimal),
        "volume": _strings(volume, decimal),
        "base": _strings(np.round(volume / mark[0], 5), decimal),
        "prev": decimal(float(np.round(mark[0] * 0.99, digits))),
    }


def _irregular(sd: SymbolDay) -> np.ndarray:
    absent = np.zeros(len(sd.local), bool)
    for name in _CTX_FIELDS.values():
        absent |= np.isnan(sd.values[name])
    return np.flatnonzero(absent)


def _irregular_line(sd: SymbolDay, cols: dict, i: int) -> str:
    """One update with a field missing from its ctx, through orjson."""
    ctx = {
        "funding": cols["funding"][i], "openInterest": cols["openInterest"][i], "prevDayPx": cols["prev"],
        "dayNtlVlm": cols["volume"][i], "premium": cols["premium"][i], "oraclePx": cols["oraclePx"][i],
        "markPx": cols["markPx"][i], "midPx": cols["mid"][i], "impactPxs": [cols["low"][i], cols["high"][i]],
        "dayBaseVlm": cols["base"][i],
    }  # fmt: skip
    for key, name in _CTX_FIELDS.items():
        if np.isnan(sd.values[name][i]):
            del ctx[key]
    message = {"channel": "activeAssetCtx", "data": {"coin": sd.symbol, "ctx": ctx}}
    return orjson.dumps(message).decode()


def disconnect_lines(sessions: list[tuple[int, int]]) -> Lines:
    """An empty line where each session but the day's last ends (a websocket disconnect)."""
    ends = np.array([end for _, end in sessions[:-1]], dtype=np.int64)
    return ends, ["\n"] * len(ends)
