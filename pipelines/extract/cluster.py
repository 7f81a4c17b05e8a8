"""Backfill extraction on a Dask cluster (`tardis.executor: dask`); SQLite stays with the client.

Exchange-days are submitted in task order. A worker runs the same `extract_range` as the local path,
under a named, cluster-wide `distributed.Semaphore` (`tardis.max_concurrent_replays`), and sends
back the minute rows as numpy columns (`columnar.MinuteColumns`). The client hands them back in
task order for `pipelines.run` to load, one transaction per exchange-day as locally, so resume and
idempotence are unchanged. A worker killed mid-task is retried by the scheduler on another worker;
only the result that reaches the client is loaded, once.

The Tardis key never travels with the tasks: every worker reads TARDIS_API_KEY from its own
environment. `distributed` is imported only here, and only when the Dask executor is chosen.
"""

from __future__ import annotations

import logging
import uuid
from collections import deque
from collections.abc import Iterator
from concurrent.futures import CancelledError
from contextlib import contextmanager
from datetime import timedelta

from pipelines.errors import ArbdbError, AuthError, ConfigError, ExtractError, RetriableError
from pipelines.extract.columnar import MinuteColumns, pack
from pipelines.extract.days import DayTask
from pipelines.extract.replay import Extracted, extract_range
from pipelines.settings import Tardis, tardis_key_from_env
from pipelines.timeutil import day_start

log = logging.getLogger(__name__)

# The semaphore's name carries its limit: the scheduler refuses one name with two limits, and a
# changed tardis.max_concurrent_replays must not fail the next backfill.
SEMAPHORE = "arbdb-tardis-replays-{limit}"
POLL_SECONDS = 1.0  # how often the client checks that workers are left while it waits for a day
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
    """The task's extract (unpacked) or its ArbdbError; cluster-wide failures raise `ClusterError`."""
    from distributed import KilledWorker

    alone = 0.0  # seconds waited with no worker left
    while True:
        try:
            return task, future.result(timeout=POLL_SECONDS).unpack()
        except TimeoutError as err:
            if future.done():  # the task's own time-out, not this poll's
                return task, ExtractError(
                    f"{task.exchange} {task.day} failed on a Dask worker: {_first_line(err)}"
                )
            alone = alone + POLL_SECONDS if not client.scheduler_info(n_workers=1)["workers"] else 0.0
            if alone >= tardis.dask_timeout_seconds:
                raise ClusterError(
                    f"every worker of the Dask scheduler at {tardis.dask_scheduler} left "
                    f"(waited {alone:g} s for {task.exchange} {task.day}): start `dask worker "
                    f"{tardis.dask_scheduler}`, then rerun the backfill (loaded days are kept)"
                ) from None
        except ArbdbError as err:
            return task, err
        except KilledWorker as err:
            return task, ExtractError(
                f"{task.exchange} {task.day} killed every Dask worker it ran on ({err})"
            )
        except CancelledError:
            raise ClusterError(
                f"lost the Dask scheduler at {tardis.dask_scheduler} during {task.exchange} {task.day}: "
                "check it is running, then rerun the backfill (loaded days are kept)"
            ) from None
        except ImportError as err:
            raise ClusterError(
                f"a Dask worker cannot import arbdb ({err}): install arbdb on every worker machine"
            ) from None
        except Exception as err:  # the task's own failure, from the worker: one day failed
            return task, ExtractError(
                f"{task.exchange} {task.day} failed on a Dask worker: {_first_line(err)}"
            )


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0][:200]}" if text else type(err).__name__
