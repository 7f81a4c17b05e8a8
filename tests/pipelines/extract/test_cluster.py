"""Backfills on a real Dask cluster: `distributed.LocalCluster` worker processes on loopback, against
the loopback Tardis server; tables compared with a local backfill of the same days, value and type."""

from __future__ import annotations

import os
import signal
import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from pipelines.core.errors import AuthError, ExtractError
from pipelines.extract import cluster as cluster_module
from pipelines.extract.cluster import SEMAPHORE, ClusterError
from pipelines.extract.days import DayTask
from pipelines.flows.backfill import backfill
from pipelines.store import open_db

distributed = pytest.importorskip("distributed")

NOW = datetime(2024, 4, 1, tzinfo=UTC)
START, END = date(2024, 3, 4), date(2024, 3, 6)  # 2 days x 2 exchanges: 4 exchange-days
# Bookkeeping columns (when or by which run a row was written), not what it holds.
SKIP = {"extracted": ("loaded_at",), "runs": ("started_at", "finished_at", "pid")}


@pytest.fixture(scope="module")
def cluster():
    """Two single-threaded worker processes (nannies restart a killed one), once per module."""
    with pytest.MonkeyPatch.context() as env:
        env.delenv("TARDIS_API_KEY", raising=False)  # workers inherit it: keyless, like the server
        local = distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
        )
        with local, distributed.Client(local, set_as_default=False) as client:
            client.wait_for_workers(2, timeout=60)
            yield local


def on_cluster(settings, cluster, **tardis):
    update = {"executor": "dask", "dask_scheduler": cluster.scheduler_address, "dask_timeout_seconds": 5}
    return settings.model_copy(update={"tardis": settings.tardis.model_copy(update={**update, **tardis})})


def run_backfill(settings, path: Path, end: date = END, **kwargs):
    db = open_db(path)
    try:
        pairs = (settings.pair("BTC"),)
        return backfill(db, settings, START, end, pairs=pairs, source="replay", llm=False, now=NOW, **kwargs)
    finally:
        db.close()


_REFERENCE: dict[date, Path] = {}


def local_reference(settings, tmp_path_factory, end: date = END) -> dict[str, list[tuple]]:
    """`contents` of a local backfill of [START, end), made once per module (the feed is seeded)."""
    if end not in _REFERENCE:
        path = tmp_path_factory.mktemp("local") / "local.db"
        run_backfill(settings, path, end)
        _REFERENCE[end] = path
    return contents(_REFERENCE[end])


def contents(path: Path) -> dict[str, list[tuple]]:
    """Every table's rows with each value's SQLite type (5 and 5.0 differ), bookkeeping left out."""
    conn = sqlite3.connect(path)
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        out = {}
        for table in names:
            cols = [
                r[1] for r in conn.execute(f"PRAGMA table_info({table})") if r[1] not in SKIP.get(table, ())
            ]
            select = ", ".join(f"typeof({c}), {c}" for c in cols)
            out[table] = sorted(conn.execute(f"SELECT {select} FROM {table}").fetchall(), key=repr)
        return out
    finally:
        conn.close()


def test_dask_backfill_gives_the_tables_of_a_local_one(tardis_settings, cluster, tmp_path, tmp_path_factory):
    local = local_reference(tardis_settings, tmp_path_factory)
    result = run_backfill(on_cluster(tardis_settings, cluster), tmp_path / "dask.db")
    assert result.counts["days_loaded"] == 4
    dask = contents(tmp_path / "dask.db")
    assert len(local["tickers"]) == 2 * 2 * 1440 and local["funding"] and local["windows"]
    assert dask == local


def test_a_day_done_just_after_a_poll_timed_out_is_loaded_not_failed(
    tardis_settings, cluster, tmp_path, tmp_path_factory, monkeypatch
):
    """Issue 17: a day finishing just after the client's poll timed out was reported as failed
    ("TimeoutError: timed out after 1 s") and the backfill failed. A 0 s poll times out on every
    call, even for a day already done (its rows still have to come from the worker): every day
    finishes at the poll's boundary."""
    monkeypatch.setattr(cluster_module, "POLL_SECONDS", 0.0)
    local = local_reference(tardis_settings, tmp_path_factory)
    result = run_backfill(on_cluster(tardis_settings, cluster), tmp_path / "dask.db")
    assert result.counts["days_loaded"] == 4
    assert contents(tmp_path / "dask.db") == local


def test_a_tasks_own_timeout_is_its_day_failed_whatever_the_poll(tardis_settings, cluster, monkeypatch):
    """The other side of the poll: a TimeoutError the task itself raised on the worker fails its day
    (with the task's message), also when every poll of the client times out."""
    monkeypatch.setattr(cluster_module, "POLL_SECONDS", 0.0)

    def times_out():
        raise TimeoutError("the replay stalled")

    task = DayTask("gate-io-futures", START, ("BTC_USDT",))
    with distributed.Client(cluster.scheduler_address, set_as_default=False) as client:
        future = client.submit(times_out, pure=False)
        got, error = cluster_module._result(client, on_cluster(tardis_settings, cluster).tardis, task, future)
    assert got == task and isinstance(error, ExtractError)
    assert (
        str(error) == "gate-io-futures 2024-03-04 failed on a Dask worker: TimeoutError: the replay stalled"
    )


def test_rerun_on_the_cluster_changes_nothing_and_submits_nothing(
    tardis_settings, tardis_server, cluster, tmp_path
):
    settings = on_cluster(tardis_settings, cluster)
    run_backfill(settings, tmp_path / "dask.db")
    first, served = data(tmp_path / "dask.db"), len(tardis_server.requests)
    again = run_backfill(settings, tmp_path / "dask.db")
    assert again.counts["days_loaded"] == 0 and again.counts["days_skipped"] == 4
    assert len(tardis_server.requests) == served
    assert data(tmp_path / "dask.db") == first


def data(path: Path) -> dict[str, list[tuple]]:
    """`contents` but the runs (a rerun is a run of its own, with its own counts and id)."""
    return {table: rows for table, rows in contents(path).items() if table not in ("runs", "run_pairs")}


def test_replays_on_the_cluster_never_exceed_the_limit(tardis_settings, tardis_server, cluster, tmp_path):
    """Two workers, one replay slot: the server never sees two replays at once (without the
    semaphore, two workers replay two days side by side)."""
    tardis_server.state.reset_concurrency()
    run_backfill(on_cluster(tardis_settings, cluster, max_concurrent_replays=1), tmp_path / "dask.db")
    assert tardis_server.state.max_units_in_flight == 1
    assert tardis_server.state.max_in_flight >= 1
    with distributed.Client(cluster.scheduler_address, set_as_default=False) as client:
        slots = client.run_on_scheduler(
            lambda dask_scheduler: dict(dask_scheduler.extensions["semaphores"].max_leases)
        )
    assert slots[SEMAPHORE.format(limit=1)] == 1


def _processing(cluster) -> tuple[str, str] | None:
    """(worker address, task key) of a worker running an arbdb task now, per the scheduler."""
    with distributed.Client(cluster.scheduler_address, set_as_default=False) as client:
        for worker, keys in client.processing().items():
            for key in keys:
                if str(key).startswith("arbdb-"):
                    return worker, str(key)
    return None


def test_a_worker_killed_mid_task_is_retried_and_its_day_loaded_once(
    tardis_settings, cluster, tmp_path, tmp_path_factory
):
    end = END + timedelta(days=1)  # 6 exchange-days: some are still running after the first is loaded
    local = local_reference(tardis_settings, tmp_path_factory, end)
    pids = {w.worker_address: w.process.pid for w in cluster.workers.values()}
    killed: list[str] = []

    def kill_one(progress):
        if killed or progress.tasks_done < 1:
            return
        if (running := _processing(cluster)) is not None:
            os.kill(pids[running[0]], signal.SIGKILL)
            killed.append(running[1])

    result = run_backfill(
        on_cluster(tardis_settings, cluster), tmp_path / "dask.db", end, on_progress=kill_one
    )
    assert killed, "no arbdb task was running after the first day was loaded"
    assert result.counts["days_loaded"] == 6
    with distributed.Client(cluster.scheduler_address, set_as_default=False) as client:
        story = client.run_on_scheduler(lambda dask_scheduler, key=killed[0]: dask_scheduler.story(key))
    assert sum(1 for event in story if event[2] == "processing") >= 2, "the killed task ran again"
    assert contents(tmp_path / "dask.db") == local
    with distributed.Client(cluster.scheduler_address, set_as_default=False) as client:
        client.wait_for_workers(2, timeout=60)  # the nanny restarted it, for the next test


def test_a_worker_without_the_tardis_key_stops_the_backfill_in_one_line(
    tardis_settings, tardis_server, cluster, tmp_path
):
    tardis_server.api_key = "k"
    keyed = tardis_settings.model_copy(
        update={"tardis": tardis_settings.tardis.model_copy(update={"api_key": "k"})}
    )
    with pytest.raises(AuthError, match=f"scheduler {cluster.scheduler_address}.*no TARDIS_API_KEY"):
        run_backfill(on_cluster(keyed, cluster), tmp_path / "dask.db")
    assert not [r for r in tardis_server.requests if "data-feeds" in r.path]


def test_backfill_scheduler_option_runs_on_the_cluster(
    config_file, tardis_settings, tardis_server, cluster, tmp_path, tmp_path_factory
):
    from click.testing import CliRunner

    from jobs.cli import cli
    from tests.jobs.test_cli_backfill import write_config

    local = local_reference(tardis_settings, tmp_path_factory)
    config = write_config(config_file, tardis_server)  # executor: local in the file; the option wins
    args = ["--from", str(START), "--to", str(END), "--pairs", "BTC", "--no-llm"]
    result = CliRunner().invoke(
        cli, ["--config", str(config), "backfill", *args, "--scheduler", cluster.scheduler_address]
    )
    assert result.exit_code == 0, result.output
    assert "4 exchange-days fetched, 0 skipped" in result.output
    assert data(tmp_path / "arbdb.db") == {
        t: rows for t, rows in local.items() if t not in ("runs", "run_pairs")
    }


def test_every_worker_leaving_mid_run_is_one_error_not_a_hang(tardis_settings, tmp_path):
    """A cluster of its own (one worker, closed after the first day): the waiting client gives up
    after tardis.dask_timeout_seconds with the scheduler's address and what to do."""
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, host="127.0.0.1", dashboard_address="127.0.0.1:0"
    ) as alone:
        settings = on_cluster(tardis_settings, alone, dask_timeout_seconds=2)

        def close_the_worker(progress):
            if progress.tasks_done == 1:
                alone.scale(0)  # the worker and its nanny close: nothing restarts it

        with pytest.raises(
            ClusterError, match=f"every worker of the Dask scheduler at {alone.scheduler_address} left"
        ):
            run_backfill(settings, tmp_path / "dask.db", on_progress=close_the_worker)
    with sqlite3.connect(tmp_path / "dask.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM extracted").fetchone()[0] == 1  # the loaded day is kept
