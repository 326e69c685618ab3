"""The identity kernels as a process gets them: built ahead of time, once per installation.

numba compiles `kernels.py` to machine code either way. Through its JIT (its dispatchers, with
its on-disk cache) every process pays numba's set-up before the first call: importing numba,
0.2-0.45 s, and readying its compiler, 0.15 s of CPU, even when the code itself comes from the
cache. On the benchmark's incremental run (1% new events) that was a sixth of the run's time.
Built ahead of time (numba's `pycc`), the same functions are an extension module that imports in
a millisecond and needs neither numba nor LLVM to run.

The module is built the first time a process needs the kernels and none is there (about ten
seconds), into a cache directory: `NUMBA_CACHE_DIR` when set, else beside this file's bytecode
(like numba's own cache), else the user's cache directory. Its name is a key of everything its
code depends on: the kernels' source, their signatures, numba, numpy and Python. It is compiled
for the machine's architecture, not for its exact CPU, so a cache copied to another machine of
the same architecture still runs; the kernels ran as fast as the JIT's, compiled for the CPU.
Where it cannot be built (no C compiler, a numba without `pycc`), the failure is noted beside it,
so later processes do not try again, and the kernels run through numba's JIT. Modules built for
earlier code are left where they are (a megabyte each): two environments sharing a checkout, with
different numba, would otherwise delete each other's and rebuild on every switch.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.machinery
import importlib.util
import os
import platform
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np

_I8, _I4 = "i8[::1]", "i4[::1]"
# What each kernel of `kernels.py` called from outside takes and returns; the wrappers in
# `replay.py` hand over exactly these types (C-contiguous int64 and int32 arrays).
SIGNATURES = {
    "replay": f"Tuple(({', '.join([_I8] * 11)}, b1, i8))"
              f"({_I8}, {_I8}, {_I4}, {_I8}, {_I8}, {_I8}, {_I8}, {_I8}, {_I8}, {_I8})",
    "first_seen": f"Tuple(({_I4}, {_I8}))({_I4}, i8)",
    "by_event": f"Tuple(({_I8}, {_I4}))({_I8}, {_I4}, {_I4}, i8)",
    "in_seq_order": f"Tuple(({_I8}, {_I8}))({_I8}, {_I8}, i8, i8)",
    "top_nodes": f"{_I8}({_I4}, {_I4}, {_I8}, i8, i8)",
    "tops_below": f"b1[::1]({_I8}, {_I4}, i8)",
    "any_repeated": f"b1({_I8})",
}
_SOURCE = Path(__file__).with_name("kernels.py")
_LOCK = threading.Lock()
_loaded: ModuleType | None = None


def kernels() -> ModuleType:
    """The kernels, once per process: the module built ahead of time (built first when it is
    missing), or `kernels.py` itself, JIT-compiled, where it cannot be built."""
    global _loaded
    with _LOCK:
        if _loaded is None:
            try:
                built = _ahead_of_time()
            except (OSError, ImportError):  # no cache to write, or a module that does not load
                built = None
            _loaded = built or jit_kernels()
        return _loaded


def jit_kernels() -> ModuleType:
    """`kernels.py`, its functions compiled by numba's JIT on their first call."""
    from engagectl.identity import kernels as source

    return source


def build_failure() -> str | None:
    """Why the module for this code could not be built, as noted when it failed (None: no note)."""
    failed = _note(cache_directory(), module_name())
    return failed.read_text().strip() if failed.exists() else None


def _module(directory: Path, name: str) -> Path:
    return directory / (name + importlib.machinery.EXTENSION_SUFFIXES[0])


def _note(directory: Path, name: str) -> Path:
    return directory / (name + ".failed")


def _ahead_of_time() -> ModuleType | None:
    name = module_name()
    directory = cache_directory()
    path, failed = _module(directory, name), _note(directory, name)
    if not path.exists() and not failed.exists():
        with _building(directory, name):
            if not path.exists() and not failed.exists():
                try:
                    build(directory, name)
                except Exception as exc:  # noqa: BLE001 - any failure leaves the JIT, which always works
                    failed.write_text(f"{type(exc).__name__}: {exc}\n")
                    detail = str(exc).strip().splitlines()  # its first line says what was missing
                    reason = type(exc).__name__ + (f": {detail[0]}" if detail else "")
                    warnings.warn(f"engagectl: the identity kernels could not be built ahead of time ({reason}); "
                                  f"numba's JIT runs them instead, with about half a second of set-up per "
                                  f"process. Delete {failed} to try again.", RuntimeWarning, stacklevel=2)
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def module_name() -> str:
    """The extension module's name: its key, of everything the built code depends on."""
    key = hashlib.sha256()
    key.update(_SOURCE.read_bytes())
    key.update(repr(sorted(SIGNATURES.items())).encode())
    # numba's version by its installed files (reading its metadata took 0.05 s, a tenth of a run);
    # numpy is imported already.
    numba_spec = importlib.util.find_spec("numba")
    stat = os.stat(numba_spec.origin) if numba_spec and numba_spec.origin else None
    for part in (stat and (numba_spec.origin, stat.st_mtime_ns, stat.st_size), np.__version__, sys.version,
                 platform.machine(), platform.system()):
        key.update(repr(part).encode())
    return "engage_kernels_" + key.hexdigest()[:20]


def cache_directory() -> Path:
    configured = os.environ.get("NUMBA_CACHE_DIR")
    if not configured:
        beside = Path(__file__).parent / "__pycache__"
        with contextlib.suppress(OSError):
            beside.mkdir(exist_ok=True)
        if os.access(beside, os.W_OK):
            return beside
    cache = Path(configured or os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "engagectl"
    cache.mkdir(parents=True, exist_ok=True)
    return cache


@contextlib.contextmanager
def _building(directory: Path, name: str) -> Iterator[None]:
    """One process at a time builds (a second waits, then finds the module there)."""
    try:
        import fcntl
    except ImportError:  # no advisory locks: both build, and the second rename replaces the first
        yield
        return
    with open(directory / (name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def build(directory: Path, name: str) -> Path:
    """Compile the kernels into the extension module `name` in `directory` (seconds of work):
    built in a directory of its own, then renamed into place, so no process loads half a file."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pycc is marked "pending deprecation" since numba 0.57
        from numba.pycc import CC
        from numba.pycc import compiler as pycc_compiler
    source = jit_kernels()
    with tempfile.TemporaryDirectory(dir=directory, prefix=".build-") as work:
        cc = CC(name)
        cc.output_dir = work
        cc.verbose = False
        for exported, signature in SIGNATURES.items():
            cc.export(exported, signature)(getattr(source, exported).py_func)
        with _releasing_the_gil(pycc_compiler):
            cc.compile()
        [built] = Path(work).glob(name + "*")
        os.replace(built, _module(directory, name))
    return _module(directory, name)


@contextlib.contextmanager
def _releasing_the_gil(pycc_compiler: ModuleType) -> Iterator[None]:
    """pycc's wrappers hold the GIL through a call; the JIT's (`nogil=True`) release it, which the
    resolver relies on: the warehouse works on another thread while the kernels run. pycc takes
    no such option, so its compile flags are made to ask for it while the module is built."""
    plain = pycc_compiler.Flags

    class Flags(plain):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.release_gil = True

    pycc_compiler.Flags = Flags
    try:
        yield
    finally:
        pycc_compiler.Flags = plain
