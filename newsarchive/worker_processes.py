"""Worker processes: how many a machine can run, and how they end with their parent.

Why: a spawned pool's workers are separate processes. When their parent is killed outright
(SIGKILL, the OOM killer) it never shuts the pool down, and the workers live on, idle, holding
their memory (seen: 8 minutes after a killed ``scrapy reextract``). Given as a pool's
``initializer``, ``exit_with_parent`` makes the kernel send each worker SIGTERM the moment its
parent dies (Linux ``prctl(PR_SET_PDEATHSIG)``); elsewhere a daemon thread watches the parent
pid once a second.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
import os
import signal
import sys
import threading
import time
from pathlib import Path

#: ``<linux/prctl.h>``: deliver a signal to this process when its parent dies.
PR_SET_PDEATHSIG = 1
WATCH_SECONDS = 1.0
#: Where the container's CPU quota is read: cgroup v2's ``cpu.max`` ("<quota> <period>" or
#: "max <period>"), else cgroup v1's ``cpu/cpu.cfs_quota_us`` and ``cpu.cfs_period_us``.
CGROUP_ROOT = Path("/sys/fs/cgroup")


def usable_cores(cgroup: Path = CGROUP_ROOT) -> int:
    """The cores this process may keep busy: its CPU affinity, capped by its container's CPU
    quota. ``os.cpu_count()`` and psutil count the whole host: in a container allowed 2 of
    64 cores they would start 64 workers to share 2."""
    if hasattr(os, "sched_getaffinity"):
        cores = len(os.sched_getaffinity(0))
    else:
        cores = os.cpu_count() or 1
    if (quota := _cpu_quota(cgroup)) is not None:
        cores = min(cores, max(1, math.ceil(quota)))
    return cores


def _cpu_quota(cgroup: Path) -> float | None:
    """The quota in cores (1.5: one and a half cores' time per period), None if unlimited or
    unreadable."""
    try:
        if (v2 := cgroup / "cpu.max").exists():
            quota, period = v2.read_text().split()
        else:
            quota = (cgroup / "cpu" / "cpu.cfs_quota_us").read_text().strip()
            period = (cgroup / "cpu" / "cpu.cfs_period_us").read_text().strip()
        if quota in ("max", "-1"):
            return None
        return int(quota) / int(period)
    except (OSError, ValueError, ZeroDivisionError):
        return None


def exit_with_parent(parent_pid: int) -> None:
    """End this process when ``parent_pid`` ends (run first thing in the child).

    The kernel's death signal follows the parent *thread* that spawned the child: pools here
    start their workers from the thread that submits (the reactor's, alive as long as the
    process). A parent already gone before the call is caught by the pid check after it.
    """
    if not (sys.platform.startswith("linux") and _set_death_signal(signal.SIGTERM)):
        watch = threading.Thread(target=_watch, args=(parent_pid,), name="parent-watch")
        watch.daemon = True
        watch.start()
    if os.getppid() != parent_pid:
        os._exit(1)


def _set_death_signal(number: int) -> bool:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(number), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(WATCH_SECONDS)
    os._exit(1)
