"""Extraction worker processes that die with their parent.

A worker blocked on its result pipe would outlive a parent killed with SIGKILL or SIGTERM forever
(about 84 MB each). On Linux the kernel kills it (prctl PR_SET_PDEATHSIG); elsewhere, and as a
second line of defence, a thread notices the parent pid change and exits.

Workers are spawned, not forked: a fork copies locks held by the parent's other threads (the rich
progress bar's refresh thread, a loopback server's executor threads in tests) and can deadlock the
child. Spawning costs about a second of imports per worker, once per backfill.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
WATCH_EVERY_SECONDS = 1.0


def _kill_me_with_parent() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(WATCH_EVERY_SECONDS)
    os._exit(1)  # no cleanup to do: the parent owned every write


def die_with_parent(parent: int) -> None:
    """Worker initializer: end this process when process `parent` ends."""
    if not _kill_me_with_parent():
        log.debug("PR_SET_PDEATHSIG unavailable; watching the parent pid only")
    if os.getppid() != parent:  # the parent died before the death signal was armed
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent,), name="parent-watch", daemon=True).start()


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """A process pool whose workers do not outlive this process."""
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=die_with_parent,
        initargs=(os.getpid(),),
    )
