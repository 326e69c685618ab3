"""Freed memory kept for reuse during an identity run, where the C library is glibc.

glibc gives every allocation above its mmap threshold (32 MB at most) a mapping of its own and
unmaps it when it is freed. A run's arrays are tens of millions of elements: each kernel and
each step in numpy allocates fresh ones, and every page of a fresh mapping is a page fault the
kernel zeroes. On the 10M-event run the kernels and the rows worked out from them took 2.9 s
with 0.7 s of that in page faults, and 2.3 s with freed memory reused; the whole run 11.4
against 12.1 s (medians of three, taking turns). So for the run, large allocations come from
the heap and the heap is not trimmed; afterwards the settings go back and the free memory is
handed back to the system (`malloc_trim`). One thing does not go back: setting either turns off
glibc's sliding mmap threshold (mallopt(3)), and nothing turns it on again. Allocations above the
threshold it had reached then keep getting mappings of their own, as they do in a new process.

Elsewhere (musl, macOS, Windows) nothing changes. DuckDB allocates with its own allocator and
is not affected either way.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# mallopt parameters (malloc.h) and glibc's defaults for the two changed.
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_DEFAULT_TRIM_THRESHOLD = 128 * 1024
_DEFAULT_MMAP_MAX = 65536
_INT_MAX = 2**31 - 1

_lock = threading.Lock()
_runs = 0  # runs inside `freed_memory_reused` now: the first sets, the last restores


def _glibc() -> ctypes.CDLL | None:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        library = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return library if hasattr(library, "mallopt") and hasattr(library, "malloc_trim") else None


_LIBC = _glibc()


@contextmanager
def freed_memory_reused() -> Iterator[None]:
    """Large allocations made inside come from glibc's heap, and freed ones stay there for the
    next; on leaving (the last of concurrent runs), glibc's default settings return (not its
    sliding mmap threshold: see the module's docstring) and free memory goes back to the system."""
    global _runs
    if _LIBC is None:
        yield
        return
    with _lock:
        _runs += 1
        if _runs == 1:
            _LIBC.mallopt(_M_MMAP_MAX, 0)
            _LIBC.mallopt(_M_TRIM_THRESHOLD, _INT_MAX)
    try:
        yield
    finally:
        with _lock:
            _runs -= 1
            if _runs == 0:
                _LIBC.mallopt(_M_MMAP_MAX, _DEFAULT_MMAP_MAX)
                _LIBC.mallopt(_M_TRIM_THRESHOLD, _DEFAULT_TRIM_THRESHOLD)
                _LIBC.malloc_trim(0)
