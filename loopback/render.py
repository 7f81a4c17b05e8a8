"""Text from the simulated state: Tardis replay lines and the derivative_ticker ground-truth CSV.

Replay lines are `<28-char local timestamp> <raw exchange JSON>\n`. The hot path formats whole
columns at once (repeated values are formatted once through `np.unique`) and fills one template per
line; the rare irregular Gate messages go through orjson. Numbers in Bitfinex JSON and in the CSV
use the shortest round-trip form without a trailing `.0`, like the JavaScript that produces both,
so a parsed value is bit-for-bit the simulated one.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import orjson

from loopback.simulate import Connection
from pipelines.core.columns import VALUE_FIELDS
from pipelines.venues.samplekit import TICKS_PER_MS, Lines, SymbolDay, day_ms, js_number, prefixes
from pipelines.venues.samplekit import fixed as _fixed
from pipelines.venues.samplekit import strings as _strings

# -- gate-io-futures ---------------------------------------------------------------------------

_GATE_KEYS = (
    "contract",
    "last",
    "change_percentage",
    "total_size",
    "volume_24h",
    "volume_24h_base",
    "volume_24h_quote",
    "volume_24h_settle",
    "mark_price",
    "funding_rate",
    "funding_rate_indicative",
    "index_price",
    "quanto_base_rate",
    "low_24h",
    "high_24h",
)


def _gate_minutes(sd: SymbolDay, digits: int, volume: float) -> tuple[list[str], list[str], list[str]]:
    """Slow fields, refreshed once a minute: 24 h change, volumes, low and high."""
    minute = (sd.extra["seconds"] // 60).astype(np.int64)
    mark = np.nan_to_num(sd.values["mark_price"], nan=np.nanmean(sd.values["mark_price"]))
    first = np.full(1440, np.nan)
    first[minute[::-1]] = mark[::-1]  # the first mark of each minute
    first = _fill(first)
    low, high = np.minimum.accumulate(first) * 0.996, np.maximum.accumulate(first) * 1.004
    change = (first / first[0] - 1) * 100 + np.sin(np.arange(1440) / 229.0)
    contracts = np.round(volume * (1 + 0.3 * np.sin(np.arange(1440) / 300.0)))
    volumes, ranges, changes = [], [], []
    for m in range(1440):
        coins = contracts[m] * first[m] / first[0] / 1e4
        quote = coins * first[m]
        volumes.append(
            f'"volume_24h":"{contracts[m]:.0f}","volume_24h_base":"{coins:.0f}",'
            f'"volume_24h_quote":"{quote:.0f}","volume_24h_settle":"{quote:.0f}",'
        )
        ranges.append(f'"low_24h":"{low[m]:.{digits}f}","high_24h":"{high[m]:.{digits}f}"')
        changes.append(f"{change[m]:.4f}")
    return changes, volumes, ranges


def _fill(column: np.ndarray) -> np.ndarray:
    """Forward then backward fill of NaN gaps."""
    index = np.where(np.isnan(column), 0, np.arange(len(column)))
    filled = column[np.maximum.accumulate(index)]
    return np.where(np.isnan(filled), np.nanmean(column), filled)


def gate_lines(sd: SymbolDay, digits: int, volume: float) -> Lines:
    """Replay lines of one Gate contract-day: updates plus the subscription acknowledgement."""
    v = sd.values
    cols = {
        "last": _fixed(v["last_price"], digits),
        "mark_price": _fixed(v["mark_price"], digits),
        "index_price": _fixed(v["index_price"], digits + 1),
        "total_size": _strings(v["open_interest"], lambda x: f"{x:.0f}"),
        "funding_rate": _strings(v["funding_rate"], lambda x: f"{x:.6f}"),
    }
    changes, volumes, ranges = _gate_minutes(sd, digits, volume)
    minute = (sd.extra["seconds"] // 60).astype(np.int64).tolist()
    time_ms = sd.extra["time_ms"].tolist()
    heads = prefixes(sd.local, sd.day)
    symbol = sd.symbol
    # One f-string per line: about twice as fast as str.format on this hot path.
    lines = [
        f'{h}{{"time":{t // 1000},"time_ms":{t},"channel":"futures.tickers","event":"update","result":'
        f'[{{"contract":"{symbol}","last":"{la}","change_percentage":"{changes[m]}","total_size":"{oi}",'
        f'{volumes[m]}"mark_price":"{mk}","funding_rate":"{fr}","funding_rate_indicative":"{fr}",'
        f'"index_price":"{ix}","quanto_base_rate":"",{ranges[m]}}}]}}\n'
        for h, t, m, la, oi, mk, fr, ix in zip(  # noqa: B905 - equal lengths by construction
            heads,
            time_ms,
            minute,
            cols["last"],
            cols["total_size"],
            cols["mark_price"],
            cols["funding_rate"],
            cols["index_price"],
        )
    ]
    for i in _irregular(sd).tolist():
        lines[i] = heads[i] + _gate_irregular(sd, i, cols, changes, volumes, ranges, minute[i]) + "\n"
    return _with_subscription(sd, lines)


def _irregular(sd: SymbolDay) -> np.ndarray:
    absent = np.zeros(len(sd.local), bool)
    for name in ("open_interest", "index_price", "predicted_funding_rate", "last_price"):
        absent |= np.isnan(sd.values[name])
    return np.flatnonzero(absent | sd.extra["single_object"] | ~sd.extra["has_time_ms"])


def _gate_irregular(sd: SymbolDay, i: int, cols: dict, changes, volumes, ranges, minute: int) -> str:
    """One update with a field missing, a bare result object or no `time_ms`, through orjson."""
    slow = orjson.loads("{" + volumes[minute] + ranges[minute] + "}")
    ticker = {
        "contract": sd.symbol,
        "last": cols["last"][i],
        "change_percentage": changes[minute],
        "total_size": cols["total_size"][i],
        **slow,
        "mark_price": cols["mark_price"][i],
        "funding_rate": cols["funding_rate"][i],
        "funding_rate_indicative": cols["funding_rate"][i],
        "index_price": cols["index_price"][i],
        "quanto_base_rate": "",
    }
    absent = {"last_price": "last", "open_interest": "total_size", "index_price": "index_price"}
    absent["predicted_funding_rate"] = "funding_rate_indicative"
    for field, key in absent.items():
        if np.isnan(sd.values[field][i]):
            del ticker[key]
    ticker = {k: ticker[k] for k in _GATE_KEYS if k in ticker}
    time_ms = int(sd.extra["time_ms"][i])
    message = {"time": time_ms // 1000, "time_ms": time_ms, "channel": "futures.tickers", "event": "update"}
    if not sd.extra["has_time_ms"][i]:
        del message["time_ms"]
    message["result"] = ticker if sd.extra["single_object"][i] else [ticker]
    return orjson.dumps(message).decode()


def _with_subscription(sd: SymbolDay, lines: list[str]) -> Lines:
    """Prepend Gate's subscribe acknowledgement (an event the normalizer must skip)."""
    at = day_ms(sd.day) * TICKS_PER_MS + 5_000
    ack = {
        "time": at // TICKS_PER_MS // 1000,
        "time_ms": at // TICKS_PER_MS,
        "id": int(at // TICKS_PER_MS % 100_000),
        "channel": "futures.tickers",
        "event": "subscribe",
        "payload": [sd.symbol],
        "error": None,
        "result": {"status": "success"},
    }
    head = prefixes(np.array([at]), sd.day)[0]
    return np.concatenate(([at], sd.local)), [head + orjson.dumps(ack).decode() + "\n", *lines]


# -- bitfinex-derivatives ----------------------------------------------------------------------


def _sequences(session: np.ndarray, sessions: list[Connection]) -> np.ndarray:
    """Per session, a running message number from the session's base (input sorted by time)."""
    starts = np.searchsorted(session, np.arange(len(sessions)))
    rank = np.arange(len(session)) - starts[session]
    bases = np.array([s.sequence_base for s in sessions], dtype=np.int64)
    return bases[session] + rank


def bitfinex_lines(sd: SymbolDay, sessions: list[Connection]) -> Lines:
    """Replay lines of one Bitfinex perpetual-day: subscriptions, status updates and heartbeats."""
    x = sd.extra
    offset = int(x["channel_offset"][0])
    channels = [s.channel_base + offset for s in sessions]
    hb_local, hb_session = x["hb_local"], x["hb_session"]
    local = np.concatenate((sd.local, hb_local))
    session = np.concatenate((x["session"], hb_session))
    order = np.argsort(local, kind="stable")
    seq = np.empty(len(local), dtype=np.int64)
    seq[order] = _sequences(session[order], sessions)
    heads = prefixes(local, sd.day)
    count = len(sd.local)
    lines = _status_updates(sd, heads[:count], [channels[s] for s in x["session"].tolist()], seq[:count])
    lines += [
        f'{h}[{channels[s]},"hb",{q},{t // TICKS_PER_MS}]\n'
        for h, s, q, t in zip(heads[count:], hb_session.tolist(), seq[count:].tolist(), hb_local.tolist())  # noqa: B905
    ]
    subs_local = np.array([s.start + 1_000 * (offset + 2) for s in sessions], dtype=np.int64)
    key = f"deriv:t{sd.symbol}"
    subs = [
        f'{h}{{"event":"subscribed","channel":"status","chanId":{c},"key":"{key}"}}\n'
        for h, c in zip(prefixes(subs_local, sd.day), channels, strict=True)
    ]
    return np.concatenate((local, subs_local)), lines + subs


def _status_updates(sd: SymbolDay, heads: list[str], channels: list[int], seq: np.ndarray) -> list[str]:
    v, x = sd.values, sd.extra
    numbers = {name: _strings(v[name], js_number) for name in VALUE_FIELDS[1:]}
    next_ms = _strings(v["funding_timestamp"] // 1000, lambda t: str(int(t)))
    ts = sd.ts_ms.tolist()
    insurance = js_number(float(x["insurance"][0]))
    sym = sd.symbol
    return [
        f"{h}[{c},[{t // 1000 * 1000},null,{la},{ix},null,{insurance},null,{nx},{acc},{st},null,{cur},"
        f'null,null,{mk},null,null,{oi},null,null,null,-0.0005,0.0005],{q},{t},"status","{sym}"]\n'
        for h, c, t, la, ix, nx, acc, st, cur, mk, oi, q in zip(  # noqa: B905 - equal lengths
            heads,
            channels,
            ts,
            numbers["last_price"],
            numbers["index_price"],
            next_ms,
            numbers["predicted_funding_rate"],
            x["step"].tolist(),
            numbers["funding_rate"],
            numbers["mark_price"],
            numbers["open_interest"],
            seq.tolist(),
        )
    ]


def session_lines(sessions: list[Connection], day: date, server_id: str) -> Lines:
    """Connection-level lines: info and conf when a session opens, an empty line when it drops."""
    local, lines = [], []
    day_end = (day_ms(day) + 86_400_000) * TICKS_PER_MS
    for s in sessions:
        info = {"event": "info", "version": 2, "serverId": server_id, "platform": {"status": 1}}
        local += [s.start, s.start + 500]
        lines += [orjson.dumps(info).decode(), '{"event":"conf","status":"OK","flags":98304}']
        if s.end < day_end:
            local.append(s.end)
            lines.append(None)
    stamps = np.array(local, dtype=np.int64)
    heads = prefixes(stamps, day)
    text = [h + line + "\n" if line is not None else "\n" for h, line in zip(heads, lines, strict=True)]
    return stamps, text
