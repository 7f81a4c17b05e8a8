"""Backfill extraction on a Dask cluster (`tardis.executor: dask`); SQLite stays with the client.

Exchange-days are submitted in task order. A worker runs the same `extract_range` as the local path,
under a named, cluster-wide `distributed.Semaphore` (`tardis.max_concurrent_replays`), and sends
back the minute rows as numpy columns (`columnar.MinuteColumns`). The client hands them back in
task order for `pipelines.flows.backfill` to load, one transaction per exchange-day as locally, so resume and
idempotence are unchanged. A worker killed mid-task is retried by the scheduler on another worker;
only the result that reaches the client is loaded, once.

The Tardis key never travels with the tasks: every worker reads TARDIS_API_KEY from its own
environment. `distributed` is imported only here, and only when the Dask executor is chosen.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import deque
from collections.abc import Iterator
from concurrent.futures import CancelledError
from contextlib import contextmanager
from datetime import timedelta

from pipelines.config.settings import Tardis, tardis_key_from_env
from pipelines.core.errors import ArbdbError, AuthError, ConfigError, ExtractError, RetriableError
from pipelines.core.timeutil import day_start
from pipelines.extract.columnar import MinuteColumns, pack
from pipelines.extract.days import DayTask
from pipelines.extract.replay import Extracted, extract_range

log = logging.getLogger(__name__)

# The semaphore's name carries its limit: the scheduler refuses one name with two limits, and a
# changed tardis.max_concurrent_replays must not fail the next backfill.
SEMAPHORE = "arbdb-tardis-replays-{limit}"
# How often the client checks that workers are left while it waits for a day. A poll that times out
# means only that the day is not done yet, never that it failed.
POLL_SECONDS = 1.0
NO_KEY = (
    "has no TARDIS_API_KEY in its environment: start every `dask worker` with TARDIS_API_KEY set "
    "(the key never travels with the tasks)"
)

Result = tuple[DayTask, Extracted | ArbdbError]


class ClusterError(RetriableError):
    """The Dask cluster cannot run the backfill (scheduler unreachable, no workers, lost)."""


# -- on a worker ---------------------------------------------------------------------------------


def extract_on_worker(tardis: Tardis, task: DayTask, source: str, key_required: bool) -> MinuteColumns:
    """One exchange-day, run on a Dask worker under the cluster-wide replay limit, packed."""
    from distributed import Semaphore, get_worker

    worker = get_worker()
    where = f"Dask worker {worker.address} (scheduler {worker.scheduler.address})"
    tardis = tardis.model_copy(update={"api_key": tardis_key_from_env()})
    if key_required and not tardis.api_key:
        raise AuthError(f"{where} {NO_KEY}")
    slots = Semaphore(max_leases=tardis.max_concurrent_replays, name=_semaphore(tardis))
    if not slots.acquire(timeout=tardis.day_timeout_seconds):
        raise ExtractError(
            f"{task.exchange} {task.day}: no Tardis replay slot came free within "
            f"{tardis.day_timeout_seconds:g} s (tardis.max_concurrent_replays: "
            f"{tardis.max_concurrent_replays})"
        )
    try:
        start = day_start(task.day)
        end = start + timedelta(days=1)
        extracted = extract_range(tardis, task.exchange, list(task.symbols), start, end, source)
    except AuthError:
        if not tardis.api_key:  # Tardis refused a keyless request: say which machine lacks it
            raise AuthError(f"{where} {NO_KEY}") from None
        raise
    finally:
        slots.release()
    return pack(extracted)


def _semaphore(tardis: Tardis) -> str:
    return SEMAPHORE.format(limit=tardis.max_concurrent_replays)


def _worker_has_key() -> bool:
    return bool(tardis_key_from_env())


# -- on the client -------------------------------------------------------------------------------


def connect(tardis: Tardis):
    """A `distributed.Client` of `tardis.dask_scheduler` with at least one worker, or one-line errors."""
    try:
        from distributed import Client
    except ImportError:
        raise ConfigError(
            "tardis.executor is dask but the `distributed` package is not installed: "
            "pip install 'arbdb[dask]' (or set tardis.executor: local)"
        ) from None
    address, wait = tardis.dask_scheduler, tardis.dask_timeout_seconds
    try:
        client = Client(address, timeout=wait, set_as_default=False)
    except (OSError, TimeoutError) as err:
        raise ClusterError(
            f"cannot reach the Dask scheduler at {address} within {wait:g} s ({_first_line(err)}): "
            f"start `dask scheduler` there, or fix tardis.dask_scheduler / --scheduler"
        ) from None
    try:
        client.wait_for_workers(1, timeout=wait)
    except (OSError, TimeoutError):
        client.close()
        raise ClusterError(
            f"the Dask scheduler at {address} has no workers (waited {wait:g} s): "
            f"start `dask worker {address}` on machines with arbdb installed"
        ) from None
    return client


def _check_workers(client, tardis: Tardis) -> None:
    """Every worker can import arbdb and, when this run has a key, has one of its own."""
    try:
        has_key = client.run(_worker_has_key)
    except ImportError as err:
        raise ClusterError(
            f"a worker of the Dask scheduler at {tardis.dask_scheduler} cannot import arbdb ({err}): "
            "install arbdb, the same version, on every worker machine"
        ) from None
    lacking = sorted(addr for addr, ok in has_key.items() if not ok)
    if tardis.api_key and lacking:
        raise AuthError(f"Dask worker {', '.join(lacking)} (scheduler {tardis.dask_scheduler}) {NO_KEY}")


@contextmanager
def cluster_results(tardis: Tardis, tasks: list[DayTask], source: str) -> Iterator[Iterator[Result]]:
    """Yields an iterator of (task, Extracted or ArbdbError) in task order, computed on the cluster."""
    client = connect(tardis)
    results = _ordered(client, tardis, tasks, source)
    try:
        _check_workers(client, tardis)
        yield results
    finally:
        results.close()  # cancels the tasks still in flight, while the client is still connected
        client.close()


def _ordered(client, tardis: Tardis, tasks: list[DayTask], source: str) -> Iterator[Result]:
    # Twice the slots that can run at once are in flight: workers never idle, results never pile up.
    threads = sum(client.nthreads().values())
    ahead = 2 * max(1, min(threads, tardis.max_concurrent_replays))
    wire = tardis.model_copy(update={"api_key": ""})
    run = uuid.uuid4().hex[:8]
    pending: deque = deque()
    try:
        for i, task in enumerate(tasks):
            future = client.submit(
                extract_on_worker,
                wire,
                task,
                source,
                bool(tardis.api_key),
                key=f"arbdb-{task.exchange}-{task.day}-{run}",
                priority=len(tasks) - i,  # earlier days first
            )
            pending.append((task, future))
            if len(pending) >= ahead:
                yield _result(client, tardis, *pending.popleft())
        while pending:
            yield _result(client, tardis, *pending.popleft())
    finally:
        client.cancel([future for _, future in pending])


def _result(client, tardis: Tardis, task: DayTask, future) -> Result:
    """The task's extract (unpacked) or its ArbdbError; cluster-wide failures raise `ClusterError`.

    A time-out of the client's own waits never decides a day: the future's state does. A poll reads
    the state only (`Future.exception`, no data moves), so its TimeoutError means "not done yet";
    a task's own TimeoutError is what `exception()` returns. Fetching a done day's rows has its own
    time-out, after which the state is read again (the rows may have been lost with their worker).
    """
    from distributed.core import clean_exception

    patience = _Patience(client, tardis, task)
    while True:
        try:
            error = future.exception(timeout=POLL_SECONDS)
        except TimeoutError:  # this poll's: the task is still queued or running
            patience.check()
            continue
        if error is not None:  # as the worker sent it (maybe pickled): as `result()` would raise it
            return task, _failed(tardis, task, clean_exception(error)[1])
        try:
            return task, future.result(timeout=tardis.dask_timeout_seconds).unpack()
        except TimeoutError:  # the fetch's (a task's own error was returned by exception() above)
            patience.check()
        except Exception as err:  # e.g. cancelled: the scheduler is gone
            return task, _failed(tardis, task, err)


class _Patience:
    """Raises `ClusterError` once no worker has been left for `tardis.dask_timeout_seconds`."""

    def __init__(self, client, tardis: Tardis, task: DayTask):
        self.client, self.tardis, self.task = client, tardis, task
        self.alone_since: float | None = None

    def check(self) -> None:
        if self.client.scheduler_info(n_workers=1)["workers"]:
            self.alone_since = None
            return
        now = time.monotonic()
        self.alone_since = now if self.alone_since is None else self.alone_since
        if now - self.alone_since >= self.tardis.dask_timeout_seconds:
            address, task = self.tardis.dask_scheduler, self.task
            raise ClusterError(
                f"every worker of the Dask scheduler at {address} left "
                f"(waited {now - self.alone_since:.0f} s for {task.exchange} {task.day}): start `dask "
                f"worker {address}`, then rerun the backfill (loaded days are kept)"
            )


def _failed(tardis: Tardis, task: DayTask, err: BaseException) -> ArbdbError:
    """The error a task ended with, as its day's failure; raises `ClusterError` if no day can run."""
    from distributed import KilledWorker

    if isinstance(err, ArbdbError):
        return err
    if isinstance(err, KilledWorker):
        return ExtractError(f"{task.exchange} {task.day} killed every Dask worker it ran on ({err})")
    if isinstance(err, CancelledError):
        raise ClusterError(
            f"lost the Dask scheduler at {tardis.dask_scheduler} during {task.exchange} {task.day}: "
            "check it is running, then rerun the backfill (loaded days are kept)"
        ) from None
    if isinstance(err, ImportError):
        raise ClusterError(
            f"a Dask worker cannot import arbdb ({err}): install arbdb on every worker machine"
        ) from None
    # the task's own failure on the worker (its own TimeoutError included): one day failed
    return ExtractError(f"{task.exchange} {task.day} failed on a Dask worker: {_first_line(err)}")


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0][:200]}" if text else type(err).__name__
