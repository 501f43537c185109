"""The process pool that parses feed bodies, so the database thread only writes.

Sized by ``THESISWATCH_PARSE_WORKERS``: 0 (the default) picks one process per core but one
(the event loop and database thread keep a core), which is none on a single core: there,
and when set to 0 explicitly, parsing stays in-process on the database thread.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor

__all__ = ["make_parse_pool", "pool_size", "rebuild", "warm_up"]

log = logging.getLogger(__name__)


def pool_size(setting: int | None, cores: int | None = None) -> int:
    """Processes for parsing: ``setting`` when given (0 = in-process), else cores - 1."""
    if setting is not None and setting >= 0:
        return setting
    return max((cores or os.cpu_count() or 1) - 1, 0)


_ORPHAN_CHECK_S = 1.0


def _exit_when_orphaned(parent: int) -> None:
    # A parent killed outright (SIGKILL, the OOM killer) never closes the pool's queue, whose
    # both ends the child holds: without this the child and the resource tracker live forever.
    while True:
        time.sleep(_ORPHAN_CHECK_S)
        if os.getppid() != parent:
            os._exit(0)


def _child_init() -> None:
    # Ctrl-C reaches the whole process group: the parent decides, children do not trace back.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(
        target=_exit_when_orphaned, args=(os.getppid(),), name="orphan-watch", daemon=True
    ).start()
    import bot.feeds.parse  # noqa: F401  (loaded once, not at the first body)


def make_parse_pool(size: int) -> ProcessPoolExecutor | None:
    """A pool of ``size`` spawned processes (not forked: this process runs threads)."""
    if size <= 0:
        return None
    return ProcessPoolExecutor(
        size, mp_context=multiprocessing.get_context("spawn"), initializer=_child_init
    )


def warm_up(pool: Executor | None, on_ready: Callable[[], object]) -> None:
    """Start the processes now, in the background; ``on_ready`` (from the pool's thread) once
    every one answered. Until then bodies are parsed in-process: a first poll never waits
    for processes to spawn and import."""
    if not isinstance(pool, ProcessPoolExecutor):
        return
    jobs = [pool.submit(os.getpid) for _ in range(int(getattr(pool, "_max_workers", 1)))]
    left = [len(jobs)]
    lock = threading.Lock()

    def done(_: object) -> None:
        with lock:
            left[0] -= 1
            ready = left[0] == 0
        if ready:
            on_ready()

    for job in jobs:
        job.add_done_callback(done)


def rebuild(pool: Executor) -> Executor:
    size = int(getattr(pool, "_max_workers", 1))
    pool.shutdown(wait=False, cancel_futures=True)
    log.warning("parser processes restarted")
    return make_parse_pool(size) or pool
