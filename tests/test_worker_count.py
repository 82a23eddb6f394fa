"""How many workers (scrapy reextract's, scripts/test's ``-n auto``): one per core the
container lets this process use."""

from __future__ import annotations

import os

import pytest

from newsarchive.worker_processes import usable_cores

AFFINITY = len(os.sched_getaffinity(0))


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [
        ("100000 100000\n", 1),  # one core's worth of time
        ("50000 100000\n", 1),  # half a core still gets a worker
        ("150000 100000\n", min(AFFINITY, 2)),  # 1.5 cores: the second is partly usable
        (f"{64 * 100000} 100000\n", AFFINITY),  # a quota above the affinity: the affinity
        ("max 100000\n", AFFINITY),  # no quota
        ("garbled\n", AFFINITY),
    ],
)
def test_a_quota_caps_the_workers_at_the_cores_it_allows(tmp_path, cpu_max, expected):
    path = tmp_path / "cpu.max"
    path.write_text(cpu_max)
    assert usable_cores(path) == expected


def test_without_a_cgroup_limit_the_affinity_decides(tmp_path):
    assert usable_cores(tmp_path / "absent") == AFFINITY
