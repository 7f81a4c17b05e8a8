"""Raw binance-futures replay lines from the simulated state (`loopback.binance_sim`).

Shapes as Tardis records Binance USDT-M combined streams (and tardis-node's test messages show):

    {"stream":"btcusdt@markPrice@1s","data":{"e":"markPriceUpdate","E":1597536008000,"s":"BTCUSDT",
     "p":"11857.56000000","P":"11860.10000000","i":"11851.86949091","r":"0.00015640","T":1597564800000}}
    {"stream":"btcusdt@ticker","data":{"e":"24hrTicker","E":...,"s":"BTCUSDT","p":"-88.17","P":"-0.855",
     "w":"...","c":"10223.74","Q":"2.097","o":...,"h":...,"l":...,"v":...,"q":...,"O":...,"C":...,
     "F":...,"L":...,"n":...}}
    {"stream":"btcusdt@openInterest","generated":true,"data":{"symbol":"BTCUSDT",
     "openInterest":"26286.181","time":1597536008000}}

Numbers are strings with Binance's fixed decimals: 8 for mark, index and rates, the contract's price
decimals for the last price, 3 for open interest. Each parses back to the simulated double.
"""

from __future__ import annotations

import numpy as np

from loopback import render
from pipelines.venues.samplekit import SymbolDay

MARK_PRICE, TICKER, OPEN_INTEREST = 0, 1, 2  # as loopback.binance_sim


def symbol_lines(sd: SymbolDay) -> render.Lines:
    """Replay lines of one symbol-day, in the order of its updates."""
    heads = render.prefixes(sd.local, sd.day)
    kind = sd.extra["kind"]
    event = sd.extra["event_ms"].tolist()
    stream, symbol = sd.symbol.lower(), sd.symbol
    lines: list[str] = [""] * len(heads)
    marks = np.flatnonzero(kind == MARK_PRICE)
    for i, text in zip(marks.tolist(), _mark_texts(sd, marks), strict=True):
        lines[i] = (
            f'{heads[i]}{{"stream":"{stream}@markPrice@1s","data":{{"e":"markPriceUpdate","E":{event[i]},'
            f'"s":"{symbol}",{text}}}}}\n'
        )
    tickers = np.flatnonzero(kind == TICKER)
    for i, text in zip(tickers.tolist(), _ticker_texts(sd, tickers), strict=True):
        lines[i] = (
            f'{heads[i]}{{"stream":"{stream}@ticker","data":{{"e":"24hrTicker","E":{event[i]},'
            f'"s":"{symbol}",{text}}}}}\n'
        )
    polls = np.flatnonzero(kind == OPEN_INTEREST)
    for i, oi in zip(polls.tolist(), sd.values["open_interest"][polls].tolist(), strict=True):
        lines[i] = (
            f'{heads[i]}{{"stream":"{stream}@openInterest","generated":true,"data":{{"symbol":"{symbol}",'
            f'"openInterest":"{oi:.3f}","time":{event[i]}}}}}\n'
        )
    return sd.local, lines


def _mark_texts(sd: SymbolDay, rows: np.ndarray) -> list[str]:
    """`"p":..,"P":..,"i":..,"r":..,"T":..` of the markPrice updates at `rows`."""
    v = sd.values
    mark, index = v["mark_price"][rows], v["index_price"][rows]
    settle = mark + (mark - index) * 0.4  # P, the estimated settle price: not read by tardis-node
    rate = render._strings(v["funding_rate"][rows], lambda x: f"{x:.8f}")
    due = sd.extra["funding_ms"][rows].tolist()
    return [
        f'"p":"{p:.8f}","P":"{s:.8f}","i":"{i:.8f}","r":"{r}","T":{t}'
        for p, s, i, r, t in zip(mark.tolist(), settle.tolist(), index.tolist(), rate, due, strict=True)
    ]


def _ticker_texts(sd: SymbolDay, rows: np.ndarray) -> list[str]:
    """The 24 h statistics of the tickers at `rows` around their `c` (last price)."""
    digits = int(sd.extra["digits"][0])
    filled = sd.values["last_price"][rows]
    minute = (sd.local[rows] // 600_000_000 % 1440).astype(np.int64)
    wave = np.sin(minute / 229.0)
    open_ = filled[0] * (1 - 0.01 * wave) if len(rows) else wave
    close_ms = sd.extra["event_ms"][rows].tolist()
    texts = []
    for c, o, w, ms, m in zip(
        filled.tolist(), open_.tolist(), wave.tolist(), close_ms, minute.tolist(), strict=True
    ):
        change = c - o
        texts.append(
            f'"p":"{change:.{digits}f}","P":"{change / o * 100:.3f}","w":"{(c + o) / 2:.{digits}f}",'
            f'"c":"{c:.{digits}f}","Q":"{0.001 * (1 + m % 97):.3f}","o":"{o:.{digits}f}",'
            f'"h":"{max(c, o) * 1.004:.{digits}f}","l":"{min(c, o) * 0.996:.{digits}f}",'
            f'"v":"{20000 + 3000 * w:.3f}","q":"{(20000 + 3000 * w) * c:.2f}","O":{ms - 86_400_000},'
            f'"C":{ms},"F":{148_927 + m * 50},"L":{181_349 + m * 50},"n":{32_423 + m * 7}'
        )
    return texts
