"""Extraction workers: a spawned pool that works, and whose workers end when their parent is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil

from pipelines.extract.workers import worker_pool

ROOT = Path(__file__).resolve().parents[3]  # the repository
PARENT = textwrap.dedent(
    """
    import os, sys, time
    from pipelines.extract.workers import worker_pool

    pool = worker_pool(1)
    print(pool.submit(os.getpid).result(), flush=True)
    time.sleep(60)
    """
)


def test_a_pool_spawns_workers_that_run_tasks():
    with worker_pool(2) as pool:
        pids = {pool.submit(os.getpid).result(timeout=60) for _ in range(4)}
        assert pids and os.getpid() not in pids
        assert pool._mp_context.get_start_method() == "spawn"  # no fork: no copied locks


def test_a_worker_dies_when_its_parent_is_killed():
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # a killed parent's resource tracker warns about its semaphores
        text=True,
    )
    try:
        worker = int(parent.stdout.readline())
        assert psutil.pid_exists(worker)
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _alive(worker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(worker), "the worker outlived its parent"
    finally:
        parent.kill()
        parent.stdout.close()


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
