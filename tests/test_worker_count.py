"""How many workers (scrapy reextract's, scripts/test's ``-n auto``): one per core the
container lets this process use."""

from __future__ import annotations

import os

import pytest

from newsarchive.worker_processes import usable_cores

AFFINITY = len(os.sched_getaffinity(0))
QUOTAS = [
    ((100000, 100000), 1),  # one core's worth of time
    ((50000, 100000), 1),  # half a core still gets a worker
    ((150000, 100000), min(AFFINITY, 2)),  # 1.5 cores: the second is partly usable
    ((64 * 100000, 100000), AFFINITY),  # a quota above the affinity: the affinity
]


@pytest.mark.parametrize(("quota", "expected"), QUOTAS)
def test_a_cgroup_v2_quota_caps_the_workers(tmp_path, quota, expected):
    (tmp_path / "cpu.max").write_text(f"{quota[0]} {quota[1]}\n")
    assert usable_cores(tmp_path) == expected


@pytest.mark.parametrize(("quota", "expected"), QUOTAS)
def test_a_cgroup_v1_quota_caps_the_workers(tmp_path, quota, expected):
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text(f"{quota[0]}\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text(f"{quota[1]}\n")
    assert usable_cores(tmp_path) == expected


@pytest.mark.parametrize(
    ("files", "why"),
    [
        ({"cpu.max": "max 100000\n"}, "v2, no quota"),
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, "v1, no quota"),
        ({"cpu.max": "garbled\n"}, "unreadable"),
        ({}, "no cgroup files"),
    ],
)
def test_without_a_quota_the_affinity_decides(tmp_path, files, why):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text)
    assert usable_cores(tmp_path) == AFFINITY, why
