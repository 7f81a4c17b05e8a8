"""The Tardis-compatible HTTP application: replay data-feeds and CSV datasets over a `SampleFeed`.

Routes (the base URL a client uses is `http://host:port/v1`):

* `GET /v1/data-feeds/{exchange}?from=ISO&offset=MIN[&sliceSize=N][&filters=JSON]`: gzip body of the
  replay lines with local time in [from+offset, from+offset+sliceSize) minutes, headers
  `x-slice-size` and `x-suggested-slice-size`; offset 0 starts with the live Bitfinex subscriptions.
* `GET /v1/datasets/{exchange}/derivative_ticker/YYYY/MM/DD/{SYMBOL}.csv.gz`: the gzip file itself.

Bearer key check (first day of a month is free), 404 for unknown exchanges/symbols, 400 for bad
parameters, and injectable faults (see `ServerState.inject` and `loopback/faults.py`).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import zlib
from datetime import UTC, date, datetime, timedelta

import numpy as np
from aiohttp import web

from loopback import faults
from loopback.faults import BODY_FAULTS, RESET, RESET_STATUS, Fault, RequestRecord
from loopback.generator import SampleFeed, dataset_symbol
from loopback.server_state import ServerState
from pipelines.venues.registry import venue

log = logging.getLogger(__name__)

STATE = web.AppKey("state", ServerState)
TICKS_PER_MINUTE = 60 * 10_000_000  # local timestamps count 100 ns ticks
MAX_SLICE_MINUTES = 7 * 1440
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def make_app(state: ServerState) -> web.Application:
    """The aiohttp application serving `state.feed`."""
    app = web.Application(middlewares=[_record])
    app[STATE] = state
    app.router.add_get("/v1/data-feeds/{exchange}", data_feed)
    app.router.add_get("/v1/datasets/{exchange}/{data_type}/{year}/{month}/{day}/{file}", dataset)
    return app


@web.middleware
async def _record(request: web.Request, handler):
    """Log (path, query, status) of every request; a reset mid-body is logged as RESET_STATUS."""
    state = request.app[STATE]
    unit = _unit(request)
    state.request_started(unit)
    try:
        response = await handler(request)
    except web.HTTPException as err:
        state.requests.append(RequestRecord(request.path, dict(request.query), err.status))
        raise
    finally:
        state.request_ended(unit)
    status = RESET_STATUS if request.get(RESET) else response.status
    state.requests.append(RequestRecord(request.path, dict(request.query), status))
    return response


def _unit(request: web.Request) -> str:
    """What one client download is: a replay (its slices share `from`) or a dataset day (its files)."""
    if request.path.startswith("/v1/datasets/"):
        return request.path.rsplit("/", 1)[0]
    return f"{request.path}?from={request.query.get('from', '')}"


def _exchange(state: ServerState, request: web.Request) -> str:
    exchange = request.match_info["exchange"]
    if not state.feed.symbols.get(exchange):
        served = ", ".join(ex for ex, names in state.feed.symbols.items() if names)
        raise web.HTTPNotFound(text=f"Unknown exchange '{exchange}'. This server serves {served}.")
    return exchange


def _authorize(state: ServerState, request: web.Request, free: bool) -> None:
    """Tardis' rule: without a valid key only the first day of each month is served."""
    if state.api_key is None or free:
        return
    if request.headers.get("Authorization", "") != f"Bearer {state.api_key}":
        raise web.HTTPUnauthorized(
            text="Invalid or missing API key. Only the first day of each month is free."
        )


def _immediate(fault: Fault | None) -> None:
    """Faults answered before any work: 429, 500 and 401."""
    if fault is None or fault.kind in BODY_FAULTS:
        return
    if fault.kind == "429":
        headers = {"Retry-After": str(fault.retry_after)}
        raise web.HTTPTooManyRequests(text="Too many requests (injected).", headers=headers)
    if fault.kind == "500":
        raise web.HTTPInternalServerError(text="Internal server error (injected).")
    raise web.HTTPUnauthorized(text="Invalid API key (injected).")


# -- replay ------------------------------------------------------------------------------------


def _parse_from(text: str | None) -> datetime:
    try:
        parsed = datetime.fromisoformat((text or "").strip())
    except ValueError:
        raise web.HTTPBadRequest(
            text=f"Invalid 'from' param: {text!r}. "
            "Provide a UTC date in ISO 8601 format, e.g. 2024-03-01T00:00:00.000Z."
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _int_param(query, name: str, default: int | None, low: int, high: int) -> int:
    raw = query.get(name)
    if raw is None and default is not None:
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise web.HTTPBadRequest(text=f"Invalid '{name}' param: {raw!r}. Provide an integer.") from None
    if not low <= value <= high:
        raise web.HTTPBadRequest(text=f"Invalid '{name}' param: {value} is outside [{low}, {high}].")
    return value


def _parse_filters(feed: SampleFeed, exchange: str, raw: str | None) -> np.ndarray | None:
    """Symbol numbers wanted by `filters` (None = all of the exchange's symbols)."""
    if not raw:
        return None
    try:
        filters = json.loads(raw)
        channels = {f["channel"]: f.get("symbols") for f in filters}
    except (ValueError, TypeError, KeyError, AttributeError):
        raise web.HTTPBadRequest(text=f"Invalid 'filters' param: {raw!r}. Provide a JSON list.") from None
    served = venue(exchange).channels
    unknown = sorted(set(channels) - set(served))
    if unknown:
        raise web.HTTPBadRequest(
            text=f"Unknown channel {unknown[0]!r} for {exchange}; available: {', '.join(served)}."
        )
    if not channels or any(symbols is None for symbols in channels.values()):
        return None
    wanted = []
    for channel, symbols in channels.items():
        # A channel the venue filters by other names (OKX's index) serves the symbols so named.
        named = _named_by(exchange, channel, feed.symbols[exchange])
        for symbol in symbols:
            if symbol not in named:
                raise web.HTTPNotFound(text=f"Unknown symbol '{symbol}' for {exchange}.")
            wanted += [feed.symbol_index(exchange, s) for s in named[symbol]]
    return np.array(sorted(set(wanted)), dtype=np.int16)


def _named_by(exchange: str, channel: str, symbols: tuple[str, ...]) -> dict[str, list[str]]:
    """Filter symbol of `channel` -> the served symbols it stands for (itself, for most venues)."""
    out: dict[str, list[str]] = {}
    for symbol in symbols:
        for name in dict(venue(exchange).filters([symbol])).get(channel, [symbol]):
            out.setdefault(name, []).append(symbol)
    return out


def _ticks(ts: datetime) -> int:
    return (ts - _EPOCH) // timedelta(microseconds=1) * 10


def _first_of_month(start: datetime, end: datetime) -> bool:
    return start.day == 1 and end <= datetime(start.year, start.month, 2, tzinfo=UTC)


async def data_feed(request: web.Request) -> web.StreamResponse:
    """Replay lines of one slice, gzip, with the slice headers the tardis-dev client follows."""
    state = request.app[STATE]
    fault = state.take_fault(request.match_info["exchange"])
    _immediate(fault)
    exchange = _exchange(state, request)
    start = _parse_from(request.query.get("from"))
    offset = _int_param(request.query, "offset", 0, 0, 10_000_000)
    size = _int_param(request.query, "sliceSize", 1, 1, MAX_SLICE_MINUTES)
    symbols = _parse_filters(state.feed, exchange, request.query.get("filters"))
    first = start + timedelta(minutes=offset)
    _authorize(state, request, _first_of_month(first, first + timedelta(minutes=size)))
    begin = _ticks(first)
    end = begin + size * TICKS_PER_MINUTE
    loop = asyncio.get_running_loop()
    body = await loop.run_in_executor(None, state.replay_body, exchange, begin, end, symbols, offset == 0)
    if fault is not None and fault.kind == "malformed":
        body = faults.corrupt_lines(body)
    compressed = await loop.run_in_executor(None, _gzip, body)
    if fault is not None and fault.kind == "truncated":
        compressed = faults.cut_gzip(compressed)
    headers = {
        "Content-Encoding": "gzip",
        "Content-Type": "application/x-json-stream",
        "x-slice-size": str(size),
        "x-suggested-slice-size": str(state.suggested_slice_size),
    }
    if fault is not None and fault.kind == "reset":
        return await faults.reset_midway(request, compressed, headers)
    return web.Response(body=compressed, headers=headers)


def _gzip(body: bytes) -> bytes:
    # Level 1: the loopback link is free, the CPU is not.
    return zlib.compress(body, 1, wbits=31)


# -- datasets ----------------------------------------------------------------------------------


def _dataset_day(request: web.Request) -> date:
    m = request.match_info
    try:
        return date(int(m["year"]), int(m["month"]), int(m["day"]))
    except ValueError:
        raise web.HTTPNotFound(text=f"No dataset for date {m['year']}/{m['month']}/{m['day']}.") from None


def _dataset_symbol(feed: SampleFeed, exchange: str, file: str) -> str:
    for symbol in feed.symbols[exchange]:
        if file == f"{dataset_symbol(symbol)}.csv.gz":
            return symbol
    raise web.HTTPNotFound(text=f"Unknown dataset file '{file}' for {exchange}.")


async def dataset(request: web.Request) -> web.StreamResponse:
    """One derivative_ticker CSV file, gzip bytes as stored (no Content-Encoding)."""
    state = request.app[STATE]
    fault = state.take_fault(request.match_info["exchange"])
    _immediate(fault)
    exchange = _exchange(state, request)
    if request.match_info["data_type"] != "derivative_ticker":
        raise web.HTTPNotFound(text="This server only has the derivative_ticker data type.")
    symbol = _dataset_symbol(state.feed, exchange, request.match_info["file"])
    day = _dataset_day(request)
    _authorize(state, request, day.day == 1)
    if not state.day_published(exchange, day):
        raise web.HTTPNotFound(text=f"No {exchange} dataset for {day} (not available or not published yet).")
    loop = asyncio.get_running_loop()
    body = await loop.run_in_executor(None, state.dataset_bytes, exchange, symbol, day)
    if fault is not None and fault.kind == "malformed":
        body = gzip.compress(faults.corrupt_csv(gzip.decompress(body)), compresslevel=1)
    elif fault is not None and fault.kind == "csv_tail":
        body = gzip.compress(faults.cut_csv_tail(gzip.decompress(body)), compresslevel=1)
    elif fault is not None and fault.kind == "truncated":
        body = faults.cut_gzip(body)
    headers = {"Content-Type": "application/gzip"}
    if fault is not None and fault.kind == "reset":
        return await faults.reset_midway(request, body, headers)
    return web.Response(body=body, headers=headers)
