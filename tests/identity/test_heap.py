"""Freed memory kept for reuse during an identity run (`heap.py`): inside, a large array freed and
allocated again costs no fresh pages; afterwards the memory goes back to the system, so a
long-lived process (`engagectl serve`) does not keep a run's peak."""

from __future__ import annotations

import os
import resource

import numpy as np
import pytest

from engagectl.identity import heap

pytestmark = pytest.mark.skipif(heap._LIBC is None, reason="the C library is not glibc: nothing is changed")

_SIZE = 2**25  # float64: 256 MB, far above glibc's largest mmap threshold


def _page_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def _resident_mb() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 2**20


def _faults_of_a_second_allocation() -> int:
    first = np.ones(_SIZE)
    del first
    before = _page_faults()
    second = np.ones(_SIZE)  # every page written
    faults = _page_faults() - before
    del second
    return faults


def test_an_array_freed_inside_a_run_is_reused_without_fresh_pages():
    outside = _faults_of_a_second_allocation()
    with heap.freed_memory_reused():
        inside = _faults_of_a_second_allocation()
    # Outside, the second array is a fresh mapping: at least one fault per 2 MB huge page.
    assert outside >= 100
    assert inside <= 16


def test_the_memory_goes_back_to_the_system_after_the_run():
    with heap.freed_memory_reused():
        array = np.ones(_SIZE)
        del array
        kept = _resident_mb()
    assert _resident_mb() <= kept - 200
    # And large allocations are their own mappings again.
    assert _faults_of_a_second_allocation() >= 100


def test_runs_at_once_keep_the_memory_until_the_last_ends():
    with heap.freed_memory_reused():
        with heap.freed_memory_reused():
            pass
        assert _faults_of_a_second_allocation() <= 16
    assert _faults_of_a_second_allocation() >= 100
