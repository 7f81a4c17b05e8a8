"""Replay lines of one OKX swap-day, in the V5 shapes Tardis recorded (`okex-swap` since 2021-12-23).

One message per update and channel, one item in `data`, numbers as strings, times as ms strings:
`mark-price` (`markPx`), `tickers` (`last` and the book top), `open-interest` (`oi`), `funding-rate`
(`fundingRate`, `fundingTime`, `nextFundingRate` or "" without a forecast, `nextFundingTime`,
`method`, and the settlement OKX states: `settState`, `settFundingRate` at `prevFundingTime`),
`index-tickers` for the swap's index (`BTC-USDT`), and the subscription acknowledgements a
connection opens with.
"""

from __future__ import annotations

import numpy as np
import orjson

from loopback.okx_sim import asset_of
from loopback.render import _fixed, _strings
from loopback.simulate import asset_spec, gate_decimals
from pipelines.venues.okx import V5_CHANNELS
from pipelines.venues.samplekit import TICKS_PER_MS, Lines, SymbolDay, day_ms, js_number, prefixes


def okx_lines(sd: SymbolDay) -> Lines:
    """Subscriptions, then the swap's updates and its index updates, in local-time order."""
    digits = gate_decimals(asset_spec(asset_of(sd.symbol)).price)
    index_name = "-".join(sd.symbol.split("-")[:2])
    x = sd.extra
    swap_lines = _swap_lines(sd, digits)
    index_lines = _index_lines(sd, index_name, digits)
    subs_local, subs = _subscriptions(sd, index_name)
    local = np.concatenate((subs_local, x["index_local"], sd.local))
    lines = subs + index_lines + swap_lines  # on equal local times the index comes first
    order = np.argsort(local, kind="stable")
    return local[order], [lines[i] for i in order.tolist()]


def _arg(channel: str, inst: str) -> str:
    return f'{{"arg":{{"channel":"{channel}","instId":"{inst}"}},"data":[{{'


def _swap_lines(sd: SymbolDay, digits: int) -> list[str]:
    v, x, sym = sd.values, sd.extra, sd.symbol
    mark, last = _fixed(v["mark_price"], digits), _fixed(v["last_price"], digits)
    oi = _strings(v["open_interest"], lambda n: f"{n:.0f}")
    rate = _strings(v["funding_rate"], js_number)
    forecast = _strings(v["predicted_funding_rate"], lambda n: "" if n != n else js_number(n))
    funding_ms = _strings(v["funding_timestamp"] // 1000, lambda t: "" if t != t else str(int(t)))
    next_ms = _strings(x["next_funding_ms"], lambda t: str(int(t)))
    prev_ms = _strings(x["prev_funding_ms"], lambda t: str(int(t)))
    sett = _strings(x["sett_rate"], js_number)
    heads = prefixes(sd.local, sd.day)
    ts = x["ts"].tolist()
    step = 10.0**-digits
    out = []
    for i, kind in enumerate(x["kind"].tolist()):
        h, t = heads[i], ts[i]
        if kind == 0:
            head = _arg("mark-price", sym)
            body = f'{head}"instType":"SWAP","instId":"{sym}","markPx":"{mark[i]}","ts":"{t}"}}]}}'
        elif kind == 1:
            bid = f"{float(last[i]) - step:.{digits}f}"
            body = (
                f'{_arg("tickers", sym)}"instType":"SWAP","instId":"{sym}","last":"{last[i]}","lastSz":"2",'
                f'"askPx":"{last[i]}","askSz":"310","bidPx":"{bid}","bidSz":"95","open24h":"{last[i]}",'
                f'"high24h":"{last[i]}","low24h":"{bid}","volCcy24h":"81234.5","vol24h":"8123450",'
                f'"ts":"{t}","sodUtc0":"{last[i]}","sodUtc8":"{last[i]}"}}]}}'
            )
        elif kind == 2:
            body = (
                f'{_arg("open-interest", sym)}"instId":"{sym}","instType":"SWAP","oi":"{oi[i]}",'
                f'"oiCcy":"{oi[i]}","ts":"{t}"}}]}}'
            )
        else:
            body = (
                f'{_arg("funding-rate", sym)}"fundingRate":"{rate[i]}","fundingTime":"{funding_ms[i]}",'
                f'"instId":"{sym}","instType":"SWAP","method":"next_period","maxFundingRate":"0.00375",'
                f'"minFundingRate":"-0.00375","nextFundingRate":"{forecast[i]}","nextFundingTime":'
                f'"{next_ms[i]}","premium":"0.0001","prevFundingTime":"{prev_ms[i]}","settFundingRate":'
                f'"{sett[i]}","settState":"settled","ts":"{t}"}}]}}'
            )
        out.append(f"{h}{body}\n")
    return out


def _index_lines(sd: SymbolDay, name: str, digits: int) -> list[str]:
    x = sd.extra
    px = _strings(x["index_px"], lambda p: f"{p:.{digits + 1}f}")
    heads = prefixes(x["index_local"], sd.day)
    return [
        f'{h}{_arg("index-tickers", name)}"instId":"{name}","idxPx":"{p}","high24h":"{p}","low24h":"{p}",'
        f'"open24h":"{p}","sodUtc0":"{p}","sodUtc8":"{p}","ts":"{t}"}}]}}\n'
        for h, p, t in zip(heads, px, x["index_ts"].tolist(), strict=True)
    ]


def _subscriptions(sd: SymbolDay, index_name: str) -> Lines:
    """OKX's `subscribe` acknowledgements, one per channel, just after midnight (events to skip)."""
    at = day_ms(sd.day) * TICKS_PER_MS + 5_000
    local = np.arange(len(V5_CHANNELS), dtype=np.int64) + at
    heads = prefixes(local, sd.day)
    lines = []
    for h, channel in zip(heads, V5_CHANNELS, strict=True):
        inst = index_name if channel == "index-tickers" else sd.symbol
        ack = {"event": "subscribe", "arg": {"channel": channel, "instId": inst}, "connId": "a4d3ae55"}
        lines.append(h + orjson.dumps(ack).decode() + "\n")
    return local, lines
