"""Segment's event-by-event identity rules over integer arrays, compiled (`kernels.py`, loaded by
`compiled.py`).

This is `IdentityGraph.observe` (graph.py, the readable reference) applied to every event of a
run, in (timestamp, seq) order, with identifiers, profiles and identifier types numbered by the
resolver: nothing here knows a string. A compiled loop does what a Python loop does at a few
hundred thousand events a second at tens of millions a second, so the ordered semantics are
kept exactly, for every event, instead of being approximated by shortcuts.

Profiles are numbered in creation order: the stored profiles the run touches first, then one per
creating event. A merge points the younger profile at the survivor (union-find), appends its
member list and adds its per-type counts, so no identifier is ever rewritten.
"""

from __future__ import annotations

import functools
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from engagectl.identity.compiled import kernels

# Node, profile and event numbers, and a run's seq numbers counted from its watermark, are held
# as int32: a run reaching this many of any is refused.
MAX_RUN = int(np.iinfo(np.int32).max)
TOO_LARGE = "an identity run of 2^31 events or identifiers is too large: resolve in smaller runs"

# Period codes (IdentitySettings.period), in the order `PERIODS` lists them.
PERIODS = ("ever", "daily", "weekly", "monthly", "annually")


@dataclass
class Replay:
    """What a run's events did to the graph; indexes are node, profile and event numbers."""

    owner: np.ndarray          # node → the profile it was attached to (-1: never attached)
    root: np.ndarray           # profile → the profile holding its identifiers at the end
    attached_event: np.ndarray  # node → the event that attached it in this run (-1: stored or never)
    last_event: np.ndarray     # node → the latest event carrying it in this run (-1: none)
    created_event: np.ndarray  # profile → the event that created it (-1: stored)
    created_us: np.ndarray     # profile → created at
    latest_event: np.ndarray   # profile (a root) → its latest event in this run (-1: none)
    event_profile: np.ndarray  # event → its profile at the end (-1: no identifier)
    merged: np.ndarray         # merge → the profile merged away
    merged_into: np.ndarray    # merge → the survivor at that moment
    merge_event: np.ndarray    # merge → the event that caused it
    tie: bool                  # two profiles created at the same moment were compared
    profiles: int              # profiles numbered (stored + created)


def in_seq_order(event_seq: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(seq, value) of the events whose value is not negative, in seq order (the order their rows
    are stored in). Values are profile numbers, below 2^31."""
    if not len(event_seq):
        return np.empty(0, np.int64), np.empty(0, np.int64)
    low, span = int(event_seq.min()), int(event_seq.max() - event_seq.min() + 1)
    if span > 4 * len(event_seq) + 1_000_000:
        order = np.argsort(event_seq, kind="stable")
        order = order[values[order] >= 0]
        return event_seq[order], values[order]
    return kernels().in_seq_order(_int64(event_seq), _int64(values), low, span)


def top_nodes(obs_seq: np.ndarray, obs_node: np.ndarray, seqs: np.ndarray) -> np.ndarray:
    """The top (highest-priority: lowest) node of each event of `seqs`, -1 for one that carries
    none, from the observations (seq, node) in any order; seq numbers as `by_event` takes them."""
    if not len(seqs):
        return np.empty(0, np.int64)
    low, high = int(seqs.min()), int(seqs.max())
    if high - low > 4 * len(obs_seq) + 1_000_000:  # too sparse for a table by seq: rank them first
        seqs, obs_seq = _ranks(seqs, obs_seq)
        kept = obs_seq >= 0
        return kernels().top_nodes(_int32(obs_seq[kept]), _int32(obs_node[kept]), seqs, 0, len(seqs))
    return kernels().top_nodes(_int32(obs_seq), _int32(obs_node), _int64(seqs), low, high - low + 1)


def tops_below(event_start: np.ndarray, obs_node: np.ndarray, limit: int) -> np.ndarray:
    """Per event of `by_event`'s grouping: whether its top (first) node is below `limit`. (The
    same in numpy made three passes over ten million events: 0.12 s.)"""
    return kernels().tops_below(_int64(event_start), _int32(obs_node), limit)


def _ranks(seqs: np.ndarray, obs_seq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sparse seq numbers made dense, for the kernels' tables by seq: each of `seqs`' rank among
    them, and the rank of each observation's seq (-1 for a seq not among `seqs`)."""
    order = np.argsort(seqs, kind="stable")
    ranks = np.empty(len(seqs), np.int64)
    ranks[order] = np.arange(len(seqs))
    ordered = seqs[order]
    at = np.searchsorted(ordered, obs_seq)
    found = at < len(seqs)
    found[found] = ordered[at[found]] == obs_seq[found]
    return ranks, np.where(found, at, -1)


def _int64(values: np.ndarray) -> np.ndarray:
    """The kernels take int64 arrays; the warehouse hands those over already (no copy then)."""
    return np.ascontiguousarray(values, dtype=np.int64)


def _int32(values: np.ndarray) -> np.ndarray:
    """Observations are int32 in every kernel: the type the resolver fetches them as (no copy from
    DuckDB; Postgres hands over int64), in half the memory."""
    return np.ascontiguousarray(values, dtype=np.int32)


def by_event(event_seq: np.ndarray, obs_seq: np.ndarray, obs_node: np.ndarray,
             offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`event_start` and `obs_node` (int32) for `replay`: observations (seq, node) in any order,
    grouped by the events of `event_seq` (already in the order to replay them). Observations are
    taken as int32 (node numbers, and seq numbers counted from the run's watermark, are below
    `MAX_RUN`), their seq numbers counted from `offset` (the events' own are not shifted: on 10M
    events a shifted copy cost 0.02-0.13 s, most of it faulting fresh memory in)."""
    if len(event_seq) and event_seq.max() - event_seq.min() > 4 * len(event_seq) + 1_000_000:
        # seq numbers this sparse would make the lookup table large: rank them first
        event_seq, obs_seq = _ranks(event_seq - offset, obs_seq)
        offset = 0
    return kernels().by_event(_int64(event_seq), _int32(obs_seq), _int32(obs_node), offset)


def replay(event_start: np.ndarray, event_us: np.ndarray, obs_node: np.ndarray, node_type: np.ndarray,
           limits: np.ndarray, periods: np.ndarray, owner_init: np.ndarray, first_init: np.ndarray,
           stored_created_us: np.ndarray, keys: np.ndarray | None = None) -> Replay:
    """Run every event through the rules.

    `event_start` has one entry per event plus one: event e's identifiers are
    `obs_node[event_start[e]:event_start[e + 1]]`, node numbers in priority order. `keys` orders
    profiles created at the same moment (by profile id); without them such a comparison is only
    flagged in `tie`, and the caller runs again with keys for those profiles.
    """
    capacity = stored_created_us.shape[0] + node_type.shape[0] + 1
    if max(capacity, event_us.shape[0]) >= MAX_RUN:
        raise ValueError(TOO_LARGE)
    if keys is None:
        keys = np.zeros(capacity, np.int64)
    # The rules run on nodes renumbered in the order the events first carry them: the nodes of
    # events close in time then lie close in memory, and the node-indexed arrays read at random
    # per event stay in cache. On 10M events the replay took half the time (1.25 -> 0.62 s) for
    # a 0.18 s pass. An event's nodes keep their (priority) order; results are numbered back.
    # Observations stay int32 (`by_event`'s), the rest int64: the types the kernels are compiled for.
    obs_node, new_of = kernels().first_seen(_int32(obs_node), node_type.shape[0])
    old_of = np.empty_like(new_of)
    old_of[new_of] = np.arange(len(new_of))  # new number -> caller's
    event_start, event_us, node_type, limits, periods, owner_init, first_init, stored_created_us, keys = [
        _int64(a) for a in (event_start, event_us, np.asarray(node_type)[old_of], limits, periods,
                            np.asarray(owner_init)[old_of], np.asarray(first_init)[old_of], stored_created_us, keys)]
    result = Replay(*kernels().replay(event_start, event_us, obs_node, node_type, limits, periods, owner_init,
                                      first_init, stored_created_us, keys))
    for name in ("owner", "attached_event", "last_event"):
        setattr(result, name, getattr(result, name)[new_of])
    return result


def compile_rules() -> None:
    """Load the kernels (built the first time, once per installation: `compiled.py`) and run
    each on a two-event input (where numba's JIT runs them, that compiles them, or loads them
    from its cache)."""
    event_start, obs_node = by_event(np.array([1, 2]), np.array([1, 2, 2]), np.array([0, 0, 1]))
    result = replay(event_start, np.array([0, 1]), obs_node, np.array([0, 1]), np.array([1, 5]), np.array([0, 3]),
                    np.array([-1, -1]), np.array([0, 0]), np.zeros(0, np.int64))
    in_seq_order(np.array([1, 2]), result.event_profile)
    top_nodes(np.array([1, 2, 2]), np.array([0, 0, 1]), np.array([2]))
    tops_below(event_start, obs_node, 1)
    any_repeated(np.array([1, 2]))


def any_repeated(keys: np.ndarray) -> bool:
    """Whether two of `keys` (64-bit integers, signed or not) are equal."""
    return bool(kernels().any_repeated(np.ascontiguousarray(keys).view(np.int64)))


_LOADER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="engage-kernels")


@functools.cache
def prepare_rules() -> Future:
    """Start `compile_rules` on a thread, once per process. Loading the kernels built ahead of time
    takes a millisecond; building them (once per installation) takes seconds, and where they run
    through numba's JIT a process's first call costs 0.3-0.5 s of set-up: the caller overlaps
    that with warehouse work, which runs outside the GIL, and waits on the future before the
    kernels. Later callers get the same future (the pipeline starts it before ingest,
    the identity run waits on it)."""
    return _LOADER.submit(compile_rules)
