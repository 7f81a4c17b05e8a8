"""The reachability probe and the deadline around a download, against real loopback sockets."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time

import pytest

from pipelines.core.errors import TardisUnreachable
from pipelines.extract.probe import DeadlinePassed, guarded, probe, unreachable, unreachable_error


@pytest.fixture
def listening():
    """A URL whose port accepts connections."""
    server = socket.create_server(("127.0.0.1", 0))
    server.listen()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/v1"
    server.close()


@pytest.fixture
def closed():
    """A URL whose port refuses connections (bound then released)."""
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}/v1"


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


def test_an_open_port_is_reachable_and_a_closed_one_refused(listening, closed):
    assert asyncio.run(unreachable(listening, 2.0)) is None
    assert asyncio.run(unreachable(closed, 2.0)) == "connection refused"
    assert asyncio.run(unreachable("not a url", 2.0)) == "no host in the URL"


def test_the_probe_gives_the_last_reason_after_its_attempts(closed):
    started = time.monotonic()
    assert asyncio.run(probe(closed, 1.0, attempts=2)) == "connection refused"
    assert time.monotonic() - started >= 0.3  # one pause between the two attempts


def test_the_error_names_the_endpoint_the_cause_and_the_key():
    err = unreachable_error("http://h/v1", "connection refused", "gate-io-futures 2024-03-01", "endpoint")
    assert str(err) == (
        "Tardis at http://h/v1 unreachable (connection refused) for gate-io-futures 2024-03-01;"
        " check tardis.endpoint"
    )


def test_guarded_work_returns_its_result(listening):
    async def work():
        await asyncio.sleep(0.05)
        return "downloaded"

    assert (
        asyncio.run(guarded(work(), listening, "endpoint", "a day", 2.0, time.monotonic() + 10))
        == "downloaded"
    )


def test_an_unreachable_endpoint_fails_before_the_work_starts(closed):
    started = []

    async def work():
        started.append(True)

    with pytest.raises(TardisUnreachable, match="connection refused"):
        asyncio.run(guarded(work(), closed, "endpoint", "a day", 1.0, time.monotonic() + 10))
    assert started == []


def test_a_download_past_its_deadline_is_cancelled(listening):
    cancelled = []

    async def work():
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    with pytest.raises(DeadlinePassed, match="Tardis did not deliver a day in time"):
        asyncio.run(guarded(work(), listening, "endpoint", "a day", 1.0, time.monotonic() + 0.3))
    assert cancelled == [True]


def test_the_watch_ends_with_the_work_even_when_a_cancel_lands_mid_probe(monkeypatch):
    # The watch probes the endpoint back to back here, so the work often ends while a connect is in
    # flight. A cancellation swallowed there (asyncio.wait_for on 3.11) left the watch looping for
    # ever: the download was complete, yet the backfill hung with nothing on the wire.
    import random
    import threading

    from pipelines.extract import probe as probe_module

    monkeypatch.setattr(probe_module, "WATCH_EVERY_SECONDS", 0)
    rng = random.Random(5)
    server = socket.create_server(("127.0.0.1", 0), backlog=128)  # accepts every probe at once
    listening = f"http://127.0.0.1:{server.getsockname()[1]}/v1"

    def accept_all() -> None:
        with contextlib.suppress(OSError):
            while True:
                server.accept()[0].close()

    threading.Thread(target=accept_all, daemon=True).start()

    async def many() -> int:
        done = 0
        for _ in range(400):
            work = asyncio.sleep(rng.uniform(0, 0.004), result=1)
            done += await guarded(work, listening, "endpoint", "x 2024-03-01", 1.0, time.monotonic() + 30)
        return done

    result: list[int] = []
    runner = threading.Thread(target=lambda: result.append(asyncio.run(many())), daemon=True)
    runner.start()
    runner.join(timeout=60)
    server.close()
    assert not runner.is_alive(), "guarded() did not return after its work ended"
    assert result == [400]
