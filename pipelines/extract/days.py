"""Exchange-day tasks: each extracted on its own (in worker processes when there are several),
results handed back in task order, and failures kept as values so one bad day stops nothing.

A worker receives the `tardis` section only (its endpoint, limits and API key, which it uses),
never the whole settings: the LLM key and the SMTP password stay in the parent process."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from datetime import date, timedelta

from pipelines.config.tardis import Tardis
from pipelines.core.errors import ArbdbError, DataNotPublished, ExtractError
from pipelines.core.timeutil import day_start
from pipelines.extract.replay import Extracted, extract_range


@dataclass(frozen=True)
class DayTask:
    exchange: str
    day: date
    symbols: tuple[str, ...]


def _extract_task(tardis: Tardis, task: DayTask, source: str) -> Extracted:
    start = day_start(task.day)
    return extract_range(tardis, task.exchange, list(task.symbols), start, start + timedelta(days=1), source)


def _outcome(call: Callable[[], Extracted]) -> Extracted | ArbdbError:
    try:
        return call()
    except ArbdbError as err:
        return err


def ordered_results(
    executor: Executor | None, tardis: Tardis, tasks: list[DayTask], source: str, ahead: int
) -> Iterator[tuple[DayTask, Extracted | ArbdbError]]:
    """Extract tasks (in worker processes when given), yielding results or errors in task order."""
    if executor is None:
        for task in tasks:
            yield task, _outcome(lambda task=task: _extract_task(tardis, task, source))
        return
    pending: deque[tuple[DayTask, Future]] = deque()
    queue = iter(tasks)
    try:
        for task in queue:
            pending.append((task, executor.submit(_extract_task, tardis, task, source)))
            if len(pending) >= ahead:
                done_task, future = pending.popleft()
                yield done_task, _outcome(future.result)
        while pending:
            done_task, future = pending.popleft()
            yield done_task, _outcome(future.result)
    finally:
        for _, future in pending:
            future.cancel()


def failed_days_error(failures: list[tuple[DayTask, ArbdbError]], loaded: int) -> ArbdbError:
    """One error listing the exchange-days that failed, by exchange with its first error."""
    by_exchange: dict[str, list[tuple[DayTask, ArbdbError]]] = {}
    for task, err in failures:
        by_exchange.setdefault(task.exchange, []).append((task, err))
    parts = [
        f"{exchange} {', '.join(str(t.day) for t, _ in items)} ({items[0][1]})"
        for exchange, items in by_exchange.items()
    ]
    text = (
        f"{len(failures)} exchange-day(s) failed: {'; '.join(parts)}. "
        f"The {loaded} loaded exchange-day(s) are kept; rerun the backfill to fetch only the missing days"
    )
    if all(isinstance(err, DataNotPublished) for _, err in failures):
        return DataNotPublished(text)
    return ExtractError(text)
