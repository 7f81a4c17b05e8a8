"""Tardis I/O under a deadline, with a reachability probe that tells a dead endpoint from a slow one.

tardis_dev retries every connection error up to 30 times with exponential backoff (minutes in all),
so a closed port or an unknown host would look like a slow download until `day_timeout_seconds`.
So a TCP connect to the endpoint is tried before each download (a few quick attempts) and then every
few seconds beside it; when the endpoint stays unconnectable the download stops with the cause.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
import urllib.request
from collections.abc import Coroutine
from urllib.parse import urlsplit

from pipelines.core.errors import ExtractError, TardisUnreachable

PROBE_ATTEMPTS = 3
PROBE_PAUSE_SECONDS = 0.3  # times the attempt number: 0.3 s, 0.6 s between the three attempts
PROBE_TIMEOUT_SECONDS = 5.0  # at most; tardis.timeout_seconds when lower
WATCH_EVERY_SECONDS = 2.0


def _proxied(url: str, host: str) -> bool:
    # tardis_dev's session trusts the environment's proxy settings; behind a proxy a direct
    # connect says nothing about the endpoint, so the probe stands aside.
    scheme = urlsplit(url).scheme
    return scheme in urllib.request.getproxies() and not urllib.request.proxy_bypass(host)


async def unreachable(url: str, timeout: float) -> str | None:
    """Why no TCP connection to `url`'s host and port can be made, or None when one can."""
    parts = urlsplit(url)
    host = parts.hostname
    if not host:
        return "no host in the URL"
    if _proxied(url, host):
        return None
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that lands just
        # as the connect completes, and the watch loop then never ends (a backfill hung on it).
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(host, port)
    except ConnectionRefusedError:
        return "connection refused"
    except socket.gaierror:
        return f"unknown host {host}"
    except TimeoutError:
        return f"no answer to a connect within {timeout:g} s"
    except OSError as err:
        return (err.strerror or str(err)).lower()
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return None


async def probe(url: str, timeout: float, attempts: int = PROBE_ATTEMPTS) -> str | None:
    """`unreachable` retried a few times quickly: the last reason if every attempt failed."""
    reason = None
    for attempt in range(1, attempts + 1):
        reason = await unreachable(url, timeout)
        if reason is None:
            return None
        if attempt < attempts:
            await asyncio.sleep(PROBE_PAUSE_SECONDS * attempt)
    return reason


async def _watch(url: str, timeout: float) -> str:
    me = asyncio.current_task()
    while True:
        await asyncio.sleep(WATCH_EVERY_SECONDS)
        reason = await probe(url, timeout)
        if me is not None and me.cancelling():  # a cancel some library call swallowed: stop anyway
            raise asyncio.CancelledError
        if reason is not None:
            return reason


def unreachable_error(url: str, reason: str, what: str, key: str) -> TardisUnreachable:
    """The one-line error for an endpoint that cannot be connected to."""
    return TardisUnreachable(f"Tardis at {url} unreachable ({reason}) for {what}; check tardis.{key}")


async def guarded(work: Coroutine, url: str, key: str, what: str, timeout: float, deadline: float):
    """Run `work` (a download from `url`) until done, the monotonic `deadline`, or the endpoint dies.

    Raises `TardisUnreachable` (probe failed, before or during the work, naming tardis.`key`) or
    `ExtractError` when the deadline passes first. The work is cancelled in either case.
    """
    probe_timeout = min(timeout, PROBE_TIMEOUT_SECONDS)
    reason = await probe(url, probe_timeout)
    if reason is not None:
        work.close()
        raise unreachable_error(url, reason, what, key)
    task = asyncio.ensure_future(work)
    watch = asyncio.ensure_future(_watch(url, probe_timeout))
    try:
        await asyncio.wait(
            {task, watch}, timeout=max(deadline - time.monotonic(), 0), return_when="FIRST_COMPLETED"
        )
    finally:
        for pending in (task, watch):
            if not pending.done():
                pending.cancel()
        await asyncio.gather(task, watch, return_exceptions=True)
    if task.done() and not task.cancelled():
        return task.result()
    if watch.done() and not watch.cancelled():
        raise unreachable_error(url, watch.result(), what, key)
    raise DeadlinePassed(what)


class DeadlinePassed(ExtractError):
    """The download of one exchange-day took longer than tardis.day_timeout_seconds."""

    def __init__(self, what: str):
        super().__init__(f"Tardis did not deliver {what} in time")
