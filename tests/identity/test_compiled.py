"""The identity kernels built ahead of time (`compiled.py`): the same results as numba's JIT gives,
the GIL left free while they run, and a machine that cannot build them still resolves."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import fields

import numpy as np
import pytest

from engagectl.identity import compiled
from engagectl.identity.replay import Replay, by_event, in_seq_order, replay, top_nodes, tops_below


@pytest.fixture(scope="module")
def built():
    module = compiled.kernels()
    if module is compiled.jit_kernels():
        reason = compiled.build_failure() or "no note of why"
        if os.environ.get("CI"):
            pytest.fail(f"the kernels were not built ahead of time: {reason}")
        pytest.skip(f"the kernels cannot be built ahead of time on this machine: {reason}")
    return module


def _random_run(rng: np.random.Generator) -> dict:
    """A run's arrays as the resolver hands them over: events carrying one to four nodes of four
    types (moments tied now and then), a few stored profiles owning some nodes, and limits, some
    per calendar period."""
    n_events, n_nodes, n_types, n_stored = 4_000, 900, 4, 40
    day = 86_400_000_000
    event_us = np.sort(rng.integers(0, 90, n_events)) * day + rng.integers(0, 3, n_events) * 1_000_000
    carried = rng.integers(1, 5, n_events)
    obs_seq = np.repeat(np.arange(1, n_events + 1), carried)
    obs_node = rng.integers(0, n_nodes, len(obs_seq))
    event_start, nodes = by_event(np.arange(1, n_events + 1), obs_seq, obs_node)
    owner = np.full(n_nodes, -1)
    owned = rng.choice(n_nodes, 120, replace=False)
    owner[owned] = rng.integers(0, n_stored, len(owned))
    return {"event_start": event_start, "event_us": event_us, "obs_node": nodes,
            "node_type": rng.integers(0, n_types, n_nodes), "limits": rng.integers(1, 6, n_types),
            "periods": rng.integers(0, 5, n_types), "owner_init": owner,
            "first_init": np.where(owner >= 0, rng.integers(-30, 0, n_nodes) * day, 0),
            "stored_created_us": np.sort(rng.integers(-400, -30, n_stored)) * day}


def _results(module, monkeypatch, run: dict, keys: np.ndarray | None) -> Replay:
    monkeypatch.setattr(compiled, "_loaded", module)
    return replay(**run, keys=keys)


@pytest.mark.parametrize("seed", range(6))
def test_the_kernels_built_ahead_of_time_replay_exactly_as_numbas_jit_does(built, monkeypatch, seed):
    rng = np.random.default_rng(seed)
    run = _random_run(rng)
    for keys in (None, rng.permutation(len(run["stored_created_us"]) + len(run["node_type"]) + 1)):
        ahead, jit = (_results(module, monkeypatch, run, keys) for module in (built, compiled.jit_kernels()))
        assert ahead.profiles > len(run["stored_created_us"]) and len(ahead.merged)  # the run did something
        for field in fields(Replay):
            assert np.array_equal(getattr(ahead, field.name), getattr(jit, field.name)), field.name


@pytest.mark.parametrize("gap", [1, 10_000_000])  # dense seq numbers, and sparse ones (ranked first)
def test_the_kernels_built_ahead_of_time_group_and_order_exactly_as_numbas_jit_does(built, monkeypatch, gap):
    rng = np.random.default_rng(gap)
    seqs = (np.arange(20_000) * gap + 5)[rng.permutation(20_000)]
    obs_seq = np.sort(rng.choice(seqs, 60_000))
    obs_node = rng.integers(0, 3_000, len(obs_seq))
    values = rng.integers(-1, 500, len(seqs))
    answers = []
    for module in (built, compiled.jit_kernels()):
        monkeypatch.setattr(compiled, "_loaded", module)
        start, nodes = by_event(seqs, obs_seq, obs_node)
        answers.append([start, nodes, *in_seq_order(seqs, values), top_nodes(obs_seq, obs_node, seqs[:7_000]),
                        tops_below(start, nodes, 1_000)])
    for ahead, jit in zip(*answers, strict=True):
        assert ahead.dtype == jit.dtype and np.array_equal(ahead, jit)


def test_other_threads_run_while_a_kernel_built_ahead_of_time_works(built, monkeypatch):
    # The resolver runs warehouse statements on a thread beside the kernels: a kernel holding the
    # GIL would stall them for as long as it runs.
    monkeypatch.setattr(compiled, "_loaded", built)
    rng = np.random.default_rng(3)
    seqs = np.arange(3_000_000)
    obs_seq, obs_node = np.repeat(seqs, 2), rng.integers(0, 100_000, 6_000_000)
    seqs = seqs[rng.permutation(len(seqs))]
    stamps: list[float] = []
    done = threading.Event()

    def beside() -> None:
        while not done.is_set():
            stamps.append(time.perf_counter())
            for _ in range(1_000):
                pass

    thread = threading.Thread(target=beside)
    thread.start()
    try:
        time.sleep(0.01)
        started = time.perf_counter()
        by_event(seqs, obs_seq, obs_node)
        ended = time.perf_counter()
    finally:
        done.set()
        thread.join()
    # Holding the GIL, the kernel would stop the other thread for as long as it works (most of
    # the call: the rest is numpy's casts, which let go of the GIL).
    assert ended - started > 0.1, "too little work to tell"
    beats = np.array([started] + [s for s in stamps if started < s < ended] + [ended])
    assert np.diff(beats).max() < (ended - started) / 2


def test_a_machine_that_cannot_build_them_notes_why_once_and_runs_the_jit(monkeypatch, tmp_path):
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    attempts = []

    def no_compiler(directory, name):
        attempts.append(name)
        raise RuntimeError("no C compiler")

    monkeypatch.setattr(compiled, "build", no_compiler)
    monkeypatch.setattr(compiled, "_loaded", None)
    with pytest.warns(RuntimeWarning, match="could not be built ahead of time.*no C compiler"):
        assert compiled.kernels() is compiled.jit_kernels()
    assert "no C compiler" in compiled.build_failure()
    monkeypatch.setattr(compiled, "_loaded", None)  # as a later process finds it
    assert compiled.kernels() is compiled.jit_kernels()
    assert len(attempts) == 1
    start, nodes = by_event(np.array([2, 1]), np.array([1, 2, 2]), np.array([4, 9, 3]))
    assert start.tolist() == [0, 2, 3] and nodes.tolist() == [3, 9, 4]


def test_kernels_changed_in_source_or_signature_get_a_module_of_another_name(monkeypatch, tmp_path):
    name = compiled.module_name()
    changed = tmp_path / "kernels.py"
    changed.write_text(compiled._SOURCE.read_text() + "\n# changed\n")
    monkeypatch.setattr(compiled, "_SOURCE", changed)
    assert compiled.module_name() != name
    monkeypatch.undo()
    monkeypatch.setitem(compiled.SIGNATURES, "tops_below", "b1[::1](i8[::1], i8[::1], i8)")
    assert compiled.module_name() != name
