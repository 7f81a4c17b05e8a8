"""Run the loopback Tardis server: in a thread (tests), in a separate process (benchmarks) or in
the foreground until SIGINT/SIGTERM (`arbdb sample-server`).

    with start_in_thread(SampleFeed(interval_seconds=10)) as server:
        replay(..., endpoint=server.url)            # http://127.0.0.1:PORT/v1
        download_datasets(..., endpoint=server.datasets_url)
        server.inject("429")                        # faults, see loopback/faults.py
        server.requests                             # [(path, query, status), ...]
"""

from __future__ import annotations

import asyncio
import json
import logging
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable
from datetime import date, datetime
from pathlib import Path

from aiohttp import web

from loopback.faults import RequestRecord
from loopback.generator import SampleFeed
from loopback.server_state import ServerState, as_utc
from loopback.tardis_app import make_app
from pipelines.core.timeutil import days as day_range

log = logging.getLogger(__name__)


def urls(host: str, port: int) -> tuple[str, str]:
    """(replay endpoint, datasets endpoint) for a server on host:port."""
    base = f"http://{host}:{port}/v1"
    return base, f"{base}/datasets"


async def _start_site(state: ServerState, host: str, port: int) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(make_app(state), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]


def _data_dir(data_dir: Path | str | None) -> tuple[Path, Path | None]:
    """The data directory to use, and the temporary one to remove at stop (if we made it)."""
    if data_dir is not None:
        return Path(data_dir), None
    temp = Path(tempfile.mkdtemp(prefix="arbdb-tardis-"))
    return temp, temp


class TardisServerHandle:
    """A server running in a background thread of this process."""

    def __init__(self, state: ServerState, host: str, port: int, temp_dir: Path | None = None) -> None:
        self.state = state
        self._temp_dir = temp_dir
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._error: BaseException | None = None
        self.port = 0
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(host, port, ready), daemon=True)
        self._thread.name = "tardis-loopback"
        self._thread.start()
        ready.wait(30)
        if self._error is not None:
            self.stop()
            raise self._error
        self.url, self.datasets_url = urls(host, self.port)

    def _run(self, host: str, port: int, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._runner, self.port = self._loop.run_until_complete(_start_site(self.state, host, port))
        except BaseException as err:  # reported to the starting thread
            self._error = err
            return
        finally:
            ready.set()
        self._loop.run_forever()

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request served so far: (path, query dict, status); clear() it freely."""
        return self.state.requests

    @property
    def feed(self) -> SampleFeed:
        """The feed served (its `settlements` and `dataset_csv` are the ground truth)."""
        return self.state.feed

    @property
    def api_key(self) -> str | None:
        """Bearer key required outside the first day of a month (None = open); settable."""
        return self.state.api_key

    @api_key.setter
    def api_key(self, value: str | None) -> None:
        self.state.api_key = value or None

    @property
    def available_until(self) -> datetime | None:
        """Nothing at or after this time is served (None = no limit); settable."""
        return self.state.available_until

    @available_until.setter
    def available_until(self, value: datetime | date | None) -> None:
        self.state.available_until = as_utc(value)

    def inject(
        self, kind: str, count: int = 1, exchange: str | None = None, retry_after: int | None = None
    ) -> None:
        """Queue a fault for the next `count` requests (-1 = all); see loopback/faults.py."""
        self.state.inject(kind, count, exchange, retry_after)

    def clear_faults(self) -> None:
        """Drop every queued fault."""
        self.state.clear_faults()

    def stop(self) -> None:
        """Stop serving, join the thread and remove a temporary data directory. Idempotent."""
        if self._thread.is_alive():
            if self._runner is not None:
                asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        if not self._loop.is_closed() and not self._loop.is_running():
            self._loop.close()
        self.state.close()
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)

    def __enter__(self) -> TardisServerHandle:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_in_thread(
    feed: SampleFeed,
    host: str = "127.0.0.1",
    port: int = 0,
    api_key: str | None = None,
    available_until: datetime | None = None,
    data_dir: Path | str | None = None,
    suggested_slice_size: int = 360,
    retry_after: int = 1,
) -> TardisServerHandle:
    """Serve `feed` from a background thread; days are generated on first request into `data_dir`
    (a temporary directory removed at stop when None)."""
    path, temp = _data_dir(data_dir)
    state = ServerState(feed, path, api_key, as_utc(available_until), suggested_slice_size, retry_after)
    return TardisServerHandle(state, host, port, temp)


async def serve(state: ServerState, host: str, port: int, on_ready: Callable[[int], None]) -> None:
    """Serve until SIGINT or SIGTERM, then shut down cleanly. `on_ready(port)` runs once listening."""
    runner, bound = await _start_site(state, host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        on_ready(bound)
        await stop.wait()
    finally:
        await runner.cleanup()
        state.close()


class ProcessServerHandle:
    """A server running in a child process (its own GIL): `url`, `datasets_url`, `stop()`."""

    def __init__(self, process: subprocess.Popen, host: str, port: int, temp_dir: Path | None) -> None:
        self.process = process
        self.port = port
        self.url, self.datasets_url = urls(host, port)
        self._temp_dir = temp_dir

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM the child and wait for its clean exit (kill it after `timeout`). Idempotent."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        if self.process.stdout is not None:
            self.process.stdout.close()
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)

    def __enter__(self) -> ProcessServerHandle:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_in_process(
    feed: SampleFeed | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    api_key: str | None = None,
    available_until: datetime | None = None,
    data_dir: Path | str | None = None,
    prepare_days: Iterable[date] = (),
    *,
    from_day: date | None = None,
    to_day: date | None = None,
    seed: int = 7,
    interval_seconds: float = 1.0,
    symbols: dict[str, list[str]] | None = None,
    suggested_slice_size: int = 360,
    timeout: float = 900,
) -> ProcessServerHandle:
    """Serve a feed from a separate process (its own GIL), returning once it listens.

    The feed is `feed`, or `SampleFeed(seed, interval_seconds, symbols)`. The days of
    `prepare_days` and of [from_day, to_day) are generated in the child before it listens, so a
    client timing its requests does not time the generation (cached in `data_dir` across runs).
    The child is a fresh interpreter (`python -m loopback.tardis_server`), so callers need no
    `if __name__ == "__main__"` guard.
    """
    feed = feed or SampleFeed(seed=seed, interval_seconds=interval_seconds, symbols=symbols)
    days = list(prepare_days)
    if from_day is not None and to_day is not None:
        days += day_range(from_day, to_day)
    path, temp = _data_dir(data_dir)
    until = as_utc(available_until)
    spec = {
        "seed": feed.seed,
        "interval_seconds": feed.interval_seconds,
        "symbols": {k: list(v) for k, v in feed.symbols.items()},
        "host": host,
        "port": port,
        "api_key": api_key,
        "available_until": until.isoformat() if until else None,
        "data_dir": str(path),
        "days": [d.isoformat() for d in days],
        "suggested_slice_size": suggested_slice_size,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "loopback.tardis_server", json.dumps(spec)], stdout=subprocess.PIPE, text=True
    )
    handle = ProcessServerHandle(process, host, 0, temp)
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    line = process.stdout.readline() if ready else ""
    if not line.startswith("port="):
        handle.stop()
        reason = f"exit code {process.returncode}" if ready else f"no answer within {timeout}s"
        raise RuntimeError(f"the Tardis loopback server did not start ({reason}; see its stderr)")
    handle.port = int(line.removeprefix("port="))
    handle.url, handle.datasets_url = urls(host, handle.port)
    return handle


def _child_main(spec_json: str) -> None:
    """Entry point of the child process: prepare the days, serve, print `port=N` once listening."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    spec = json.loads(spec_json)
    feed = SampleFeed(spec["seed"], spec["interval_seconds"], spec["symbols"])
    feed.prepare_range([date.fromisoformat(d) for d in spec["days"]], spec["data_dir"])
    until = spec["available_until"]
    state = ServerState(
        feed,
        spec["data_dir"],
        api_key=spec["api_key"],
        available_until=datetime.fromisoformat(until) if until else None,
        suggested_slice_size=spec["suggested_slice_size"],
    )

    def ready(bound: int) -> None:
        sys.stdout.write(f"port={bound}\n")
        sys.stdout.flush()

    asyncio.run(serve(state, spec["host"], spec["port"], ready))


if __name__ == "__main__":
    _child_main(sys.argv[1])
