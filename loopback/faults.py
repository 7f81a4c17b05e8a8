"""Injectable faults of the loopback Tardis server, and the request log record.

`ServerState.inject(kind, count, exchange)` queues a fault for the next `count` matching requests
(-1 = every request): "429" (with Retry-After), "500", "401", "reset" (headers and half the body,
then the connection is aborted), "malformed" (a few lines of the body are corrupted), "truncated" (a
complete 200 response whose gzip body is cut short: the download succeeds, decompressing fails) and
"csv_tail" (datasets: a valid gzip file whose CSV text ends in the middle of its last row's number).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import NamedTuple

from aiohttp import web

FAULT_KINDS = ("429", "500", "401", "reset", "malformed", "truncated", "csv_tail")
BODY_FAULTS = ("reset", "malformed", "truncated", "csv_tail")  # answered with (altered) data
RESET_STATUS = -1  # logged status of a response aborted mid-body
RESET = web.RequestKey("reset", bool)  # marks a request whose response was aborted


class RequestRecord(NamedTuple):
    """One served request: URL path, query parameters and the status sent (RESET_STATUS if aborted)."""

    path: str
    query: dict[str, str]
    status: int


@dataclass
class Fault:
    """A queued fault: `remaining` matching requests get it (-1 = forever)."""

    kind: str
    remaining: int
    exchange: str | None
    retry_after: int


def corrupt_lines(body: bytes) -> bytes:
    """Truncate the JSON of a few lines and break one timestamp prefix; the rest stays intact."""
    lines = body.split(b"\n")
    candidates = [i for i, line in enumerate(lines) if len(line) > 40]
    if not candidates:
        return body + b"not-a-timestamp {broken\n"
    picks = sorted({candidates[len(candidates) * k // 4] for k in range(4)})
    for n, i in enumerate(picks):
        line = lines[i]
        if n == 0:
            lines[i] = line[:10] + b" " + line[11:27] + line[28:]  # bad prefix: no 'T', no 'Z'
        else:
            lines[i] = line[: 29 + (len(line) - 29) // 2]  # truncated JSON
    return b"\n".join(lines)


def corrupt_csv(text: bytes) -> bytes:
    """Cut one data row of a CSV in half."""
    rows = text.split(b"\n")
    if len(rows) > 2:
        middle = len(rows) // 2
        rows[middle] = rows[middle][: len(rows[middle]) // 2]
    return b"\n".join(rows)


def cut_gzip(body: bytes) -> bytes:
    """The first two thirds of a gzip body: no end-of-stream marker, no trailer."""
    return body[: len(body) * 2 // 3]


def cut_csv_tail(text: bytes) -> bytes:
    """End the CSV inside its last row's last number (as a file cut short would), without newline."""
    body = text.rstrip(b"\n")
    return body[: len(body) - 3]


async def reset_midway(request: web.Request, body: bytes, headers: dict[str, str]) -> web.StreamResponse:
    """Send the headers and half of `body`, then abort the connection (a reset mid-download)."""
    response = web.StreamResponse(status=200, headers=headers)
    response.content_length = len(body)
    await response.prepare(request)
    await response.write(body[: len(body) // 2])
    await asyncio.sleep(0.05)  # let the partial body reach the client before the abort
    request[RESET] = True
    if request.transport is not None:
        request.transport.abort()
    return response
