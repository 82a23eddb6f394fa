"""The worker processes of a re-extraction, started before Scrapy's crawler is built.

Why so early, and forked: a spawned worker starts a fresh interpreter and imports the
extraction (Scrapy, lxml, the rules, the schema check) again, about 0.6 s of CPU each before its
first page, while the main process is still starting up on the same two cores. Forked while
the command's process still has a single thread (no reactor running, no helper thread yet),
the workers inherit every module already imported and start at once. The heap is frozen
around the fork, so the collector never walks (and copies) the inherited objects in a worker.

Where ``fork`` is unsafe (macOS and other systems) or the process already runs threads, the
workers are spawned as before. Either way they end with the command's process
(``worker_processes.exit_with_parent``), so a killed re-extraction leaves none behind.
"""

from __future__ import annotations

import gc
import os
import sys
import threading
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

from scrapy.settings import BaseSettings

from newsarchive.reextract.shares import warm_up
from newsarchive.worker_processes import exit_with_parent, usable_cores


def worker_count(settings: BaseSettings) -> int:
    """NEWSARCHIVE_REEXTRACT_WORKERS, or one per usable core."""
    return settings.getint("NEWSARCHIVE_REEXTRACT_WORKERS") or usable_cores()


def start_method() -> str:
    """``fork`` on Linux while this process has one thread (safe, and no start-up cost),
    else ``spawn``."""
    if sys.platform.startswith("linux") and threading.active_count() == 1:
        return "fork"
    return "spawn"


def start_workers(count: int) -> ProcessPoolExecutor:
    """A pool of ``count`` worker processes, all started now (not on the first share)."""
    method = start_method()
    if method == "fork":
        warm_up()  # what each worker would otherwise build for itself, built once
    pool = ProcessPoolExecutor(
        count,
        mp_context=get_context(method),
        initializer=exit_with_parent,
        initargs=(os.getpid(),),
    )
    gc.freeze()  # the workers' inherited heap: never collected there, so never copied
    try:
        # a fork pool forks every worker at its first task, a spawn pool one per task
        for _ in range(count):
            pool.submit(os.getpid)
    finally:
        gc.unfreeze()
    return pool
