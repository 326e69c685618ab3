"""Segment's event-by-event identity rules over integer arrays, compiled with numba.

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

import numba
import numpy as np

# Node, profile and event numbers, and a run's seq numbers counted from its watermark, are held
# as int32: a run reaching this many of any is refused.
MAX_RUN = int(np.iinfo(np.int32).max)
TOO_LARGE = "an identity run of 2^31 events or identifiers is too large: resolve in smaller runs"

# Period codes (IdentitySettings.period), in the order `PERIODS` lists them.
PERIODS = ("ever", "daily", "weekly", "monthly", "annually")
EVER = 0
_DAY_US = 86_400_000_000


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


@numba.njit(cache=True, nogil=True)
def _find(parent, p):
    root = p
    while parent[root] != root:
        root = parent[root]
    while parent[p] != root:  # path compression
        parent[p], p = root, parent[p]
    return root


@numba.njit(cache=True, nogil=True)
def _civil(days):
    """(year, month) of a day number since 1970-01-01 (H. Hinnant's civil_from_days)."""
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    month = mp + 3 if mp < 10 else mp - 9
    year = yoe + era * 400 + (1 if month <= 2 else 0)
    return year, month


@numba.njit(cache=True, nogil=True)
def _bucket(period, us):
    """The calendar period a moment falls in, as one number (graph.period_bucket)."""
    days = us // _DAY_US
    if period == 1:
        return days
    if period == 2:
        return (days + 3) // 7  # ISO weeks start on Monday; 1970-01-01 was a Thursday
    year, month = _civil(days)
    if period == 3:
        return year * 12 + month
    return year


@numba.njit(cache=True, nogil=True)
def _older(a, b, created_us, keys):
    """Whether profile a survives b: created earlier, or at the same moment with the smaller id."""
    if created_us[a] != created_us[b]:
        return created_us[a] < created_us[b]
    return keys[a] < keys[b]


@numba.njit(cache=True, nogil=True)
def _fits(matched, n_matched, fresh, n_fresh, moment, node_type, limits, periods, counts, head, nxt,
          first_us, added):
    """graph.IdentityGraph._fits: whether attaching `fresh` and merging `matched` keeps every limit."""
    n_types = limits.shape[0]
    for q in range(n_fresh):
        added[node_type[fresh[q]]] += 1
    ok = True
    for t in range(n_types):
        if added[t] == 0:
            if n_matched <= 1:
                continue  # one profile (or none) keeps what it holds
            present = False
            for z in range(n_matched):
                if counts[matched[z], t] > 0:
                    present = True
                    break
            if not present:
                continue
        limit = limits[t]
        if periods[t] != EVER:
            bucket = _bucket(periods[t], moment)
            count = added[t]
            largest = 0
            for z in range(n_matched):
                size = 0
                node = head[matched[z]]
                while node >= 0:
                    if node_type[node] == t and _bucket(periods[t], first_us[node]) == bucket:
                        size += 1
                    node = nxt[node]
                count += size
                largest = max(largest, size)
        else:
            count = added[t]
            largest = 0
            for z in range(n_matched):
                size = counts[matched[z], t]
                count += size
                largest = max(largest, size)
        # A profile already past a limit (rules made stricter later) may keep what it has.
        if count > limit and count > largest:
            ok = False
            break
    for q in range(n_fresh):
        added[node_type[fresh[q]]] = 0
    return ok


@numba.njit(cache=True, nogil=True)
def _add_member(profile, node, counts, node_type, head, tail, nxt):
    """Append a node to a profile's member list and count it under its type."""
    counts[profile, node_type[node]] += 1
    if tail[profile] < 0:
        head[profile] = node
    else:
        nxt[tail[profile]] = node
    tail[profile] = node


@numba.njit(cache=True, nogil=True)
def _attach(profile, node, moment, event, owner, first_us, attached_event, counts, node_type, head, tail, nxt):
    owner[node] = profile
    first_us[node] = moment
    attached_event[node] = event
    _add_member(profile, node, counts, node_type, head, tail, nxt)


@numba.njit(cache=True, nogil=True)
def _replay(event_start, event_us, obs_node, node_type, limits, periods, owner_init, first_init,
            stored_created_us, keys):
    n_events = event_us.shape[0]
    n_nodes = node_type.shape[0]
    n_types = limits.shape[0]
    n_stored = stored_created_us.shape[0]
    # Every created profile attaches at least one identifier never seen before.
    capacity = n_stored + n_nodes + 1

    # Node, profile and event numbers are held as int32 (a run of 2^31 of any is refused by
    # `replay`): the arrays read at random per event then take half the cache.
    owner = owner_init.astype(np.int32)
    first_us = first_init.copy()
    last_event = np.full(n_nodes, -1, np.int32)
    attached_event = np.full(n_nodes, -1, np.int32)
    nxt = np.full(n_nodes, -1, np.int32)
    parent = np.arange(capacity).astype(np.int32)
    created_us = np.zeros(capacity, np.int64)
    created_us[:n_stored] = stored_created_us
    created_event = np.full(capacity, -1, np.int32)
    counts = np.zeros((capacity, n_types), np.int32)
    head = np.full(capacity, -1, np.int32)
    tail = np.full(capacity, -1, np.int32)
    for node in range(n_nodes):  # the stored profiles' members
        if owner[node] >= 0:
            _add_member(owner[node], node, counts, node_type, head, tail, nxt)

    merged = np.empty(capacity, np.int64)
    merged_into = np.empty(capacity, np.int64)
    merge_event = np.empty(capacity, np.int64)
    n_merges = 0
    top = np.full(n_events, -1, np.int32)
    n_profiles = n_stored
    tie = False

    width = 1
    for e in range(n_events):
        width = max(width, event_start[e + 1] - event_start[e])
    ids = np.empty(width, np.int64)
    matched = np.empty(width, np.int64)
    fresh = np.empty(width, np.int64)
    added = np.zeros(n_types, np.int64)

    for e in range(n_events):
        moment = event_us[e]
        # Identifiers arrive sorted by node number, which is priority order; drop repeats.
        n_ids = 0
        for j in range(event_start[e], event_start[e + 1]):
            node = obs_node[j]
            if n_ids == 0 or ids[n_ids - 1] != node:
                ids[n_ids] = node
                n_ids += 1
            last_event[node] = e  # events run in time order
        if n_ids == 0:
            continue
        top[e] = ids[0]
        while True:
            n_matched = 0
            n_fresh = 0
            for q in range(n_ids):
                node = ids[q]
                if owner[node] < 0:
                    fresh[n_fresh] = node
                    n_fresh += 1
                    continue
                p = _find(parent, owner[node])
                seen = False
                for z in range(n_matched):
                    if matched[z] == p:
                        seen = True
                        break
                if not seen:
                    matched[n_matched] = p
                    n_matched += 1
            if n_ids == 1 or (n_matched <= 1 and n_fresh == 0):
                break
            if _fits(matched, n_matched, fresh, n_fresh, moment, node_type, limits, periods, counts, head,
                     nxt, first_us, added):
                break
            n_ids -= 1  # merge protection: drop the lowest-priority identifier and retry
        if n_matched == 0:
            survivor = n_profiles
            n_profiles += 1
            created_us[survivor] = moment
            created_event[survivor] = e
        else:
            survivor = matched[0]
            for z in range(1, n_matched):
                p = matched[z]
                if created_us[p] == created_us[survivor]:
                    tie = True
                if _older(p, survivor, created_us, keys):
                    survivor = p
            for z in range(n_matched):
                p = matched[z]
                if p == survivor:
                    continue
                parent[p] = survivor
                for t in range(n_types):
                    counts[survivor, t] += counts[p, t]
                if head[p] >= 0:
                    if tail[survivor] < 0:
                        head[survivor] = head[p]
                    else:
                        nxt[tail[survivor]] = head[p]
                    tail[survivor] = tail[p]
                merged[n_merges] = p
                merged_into[n_merges] = survivor
                merge_event[n_merges] = e
                n_merges += 1
        for q in range(n_fresh):
            _attach(survivor, fresh[q], moment, e, owner, first_us, attached_event, counts, node_type, head,
                    tail, nxt)

    root = np.empty(n_profiles, np.int64)
    for p in range(n_profiles):
        root[p] = _find(parent, p)
    event_profile = np.full(n_events, -1, np.int64)
    latest_event = np.full(n_profiles, -1, np.int64)
    for e in range(n_events):
        if top[e] >= 0:
            p = root[owner[top[e]]]
            event_profile[e] = p
            latest_event[p] = e  # events run in time order: the last one written is the latest
    return (owner.astype(np.int64), root, attached_event.astype(np.int64), last_event.astype(np.int64),
            created_event[:n_profiles].astype(np.int64), created_us[:n_profiles].copy(), latest_event,
            event_profile, merged[:n_merges].copy(), merged_into[:n_merges].copy(), merge_event[:n_merges].copy(),
            tie, n_profiles)


@numba.njit(cache=True, nogil=True)
def _first_seen(obs_node, n_nodes):
    """Node numbers in the order the events first carry them: `obs_node` renumbered, and each
    node's new number (`new_of`). Nodes no event carries (a stored profile's others) come last."""
    new_of = np.full(n_nodes, -1, np.int64)
    renumbered = np.empty(obs_node.shape[0], np.int32)
    k = 0
    for j in range(obs_node.shape[0]):
        node = obs_node[j]
        if new_of[node] < 0:
            new_of[node] = k
            k += 1
        renumbered[j] = new_of[node]
    for node in range(n_nodes):
        if new_of[node] < 0:
            new_of[node] = k
            k += 1
    return renumbered, new_of


@numba.njit(cache=True, nogil=True)
def _by_event(event_seq, obs_seq, obs_node, offset):
    """Group observations by event, each event's nodes in ascending order.

    Observations arrive from DuckDB as a few thousand runs, each in seq order (any order gives
    the same result, only slower); events are wanted in time order. The nodes are first counted
    and placed into seq slots, which reads and writes memory in order, then gathered once per
    event in time order. (Radix-sorting (event rank, node) pairs by rank, two passes of 2^12
    buckets, took 1.45x as long.) Each event's slot is looked up in a pass of its own: loads that
    depend on nothing but the event overlap in memory, where behind the sort of the event before
    they wait in turn (10M events: 0.49 -> 0.41 s).
    """
    n_events = event_seq.shape[0]
    n_obs = obs_seq.shape[0]
    low = event_seq.min() if n_events else 0
    span = (event_seq.max() - low + 1) if n_events else 0
    obs_low = low - offset  # observations count their seq numbers from `offset`
    at = np.zeros(span + 1, np.int64)  # seq slot i's nodes are by_seq[at[i]:at[i + 1]]
    for j in range(n_obs):
        at[obs_seq[j] - obs_low + 1] += 1
    for i in range(span):
        at[i + 1] += at[i]
    by_seq = np.empty(n_obs, np.int32)  # node numbers (`replay` refuses a run of 2^31 nodes)
    fill = at[:-1].copy()
    for j in range(n_obs):
        i = obs_seq[j] - obs_low
        by_seq[fill[i]] = obs_node[j]
        fill[i] += 1
    first = np.empty(n_events, np.int64)
    count = np.empty(n_events, np.int32)
    for r in range(n_events):
        i = event_seq[r] - low
        first[r] = at[i]
        count[r] = at[i + 1] - at[i]
    start = np.empty(n_events + 1, np.int64)
    nodes = np.empty(n_obs, np.int32)
    k = 0
    for r in range(n_events):
        start[r] = k
        for a in range(first[r], first[r] + count[r]):  # a handful of identifiers: insertion sort
            node = by_seq[a]
            b = k - 1
            while b >= start[r] and nodes[b] > node:
                nodes[b + 1] = nodes[b]
                b -= 1
            nodes[b + 1] = node
            k += 1
    start[n_events] = k
    return start, nodes


@numba.njit(cache=True, nogil=True)
def _in_seq_order(event_seq, values, low, span):
    # One pass of scattered writes, each value into its event's seq slot, then in-order passes:
    # looking each seq's event up, then its value, was two scattered passes and took 2.5x as long.
    # Values are profile numbers: int32 holds them (`replay` refuses a run of 2^31) in half the cache.
    # A value left out (negative) is not written: when most are (the events written by their user
    # id), most scattered writes are saved (10M events, 8M left out: 0.105 -> 0.083 s).
    slot = np.full(span, -1, np.int32)
    for r in range(event_seq.shape[0]):
        if values[r] >= 0:
            slot[event_seq[r] - low] = values[r]
    n = 0
    for i in range(span):
        if slot[i] >= 0:
            n += 1
    seqs = np.empty(n, np.int64)
    kept = np.empty(n, np.int64)
    k = 0
    for i in range(span):
        if slot[i] >= 0:
            seqs[k] = i + low
            kept[k] = slot[i]
            k += 1
    return seqs, kept


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
    return _in_seq_order(_int64(event_seq), _int64(values), low, span)


@numba.njit(cache=True, nogil=True)
def _top_nodes(obs_seq, obs_node, seqs, low, span):
    lowest = np.full(span, -1, np.int32)
    for j in range(obs_seq.shape[0]):
        i = obs_seq[j] - low
        if 0 <= i < span and (lowest[i] < 0 or obs_node[j] < lowest[i]):
            lowest[i] = obs_node[j]
    top = np.empty(seqs.shape[0], np.int64)
    for k in range(seqs.shape[0]):
        top[k] = lowest[seqs[k] - low]
    return top


def top_nodes(obs_seq: np.ndarray, obs_node: np.ndarray, seqs: np.ndarray) -> np.ndarray:
    """The top (highest-priority: lowest) node of each event of `seqs`, -1 for one that carries
    none, from the observations (seq, node) in any order; seq numbers as `by_event` takes them."""
    if not len(seqs):
        return np.empty(0, np.int64)
    low, high = int(seqs.min()), int(seqs.max())
    if high - low > 4 * len(obs_seq) + 1_000_000:  # too sparse for a table by seq: rank them first
        seqs, obs_seq = _ranks(seqs, obs_seq)
        kept = obs_seq >= 0
        return _top_nodes(_int32(obs_seq[kept]), _int32(obs_node[kept]), seqs, 0, len(seqs))
    return _top_nodes(_int32(obs_seq), _int32(obs_node), _int64(seqs), low, high - low + 1)


@numba.njit(cache=True, nogil=True)
def _tops_below(event_start, obs_node, limit):
    below = np.zeros(event_start.shape[0] - 1, np.bool_)
    for e in range(below.shape[0]):
        if event_start[e + 1] > event_start[e] and obs_node[event_start[e]] < limit:
            below[e] = True
    return below


def tops_below(event_start: np.ndarray, obs_node: np.ndarray, limit: int) -> np.ndarray:
    """Per event of `by_event`'s grouping: whether its top (first) node is below `limit`. (The
    same in numpy made three passes over ten million events: 0.12 s.)"""
    return _tops_below(_int64(event_start), _int32(obs_node), limit)


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
    return _by_event(_int64(event_seq), _int32(obs_seq), _int32(obs_node), offset)


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
    # Observations stay int32 (`by_event`'s), the rest int64: the types `compile_rules` compiled for.
    obs_node, new_of = _first_seen(_int32(obs_node), node_type.shape[0])
    old_of = np.empty_like(new_of)
    old_of[new_of] = np.arange(len(new_of))  # new number -> caller's
    event_start, event_us, node_type, limits, periods, owner_init, first_init, stored_created_us, keys = [
        _int64(a) for a in (event_start, event_us, np.asarray(node_type)[old_of], limits, periods,
                            np.asarray(owner_init)[old_of], np.asarray(first_init)[old_of], stored_created_us, keys)]
    result = Replay(*_replay(event_start, event_us, obs_node, node_type, limits, periods, owner_init, first_init,
                             stored_created_us, keys))
    for name in ("owner", "attached_event", "last_event"):
        setattr(result, name, getattr(result, name)[new_of])
    return result


def compile_rules() -> None:
    """Compile (or load from numba's cache) the kernels, on a two-event input."""
    event_start, obs_node = by_event(np.array([1, 2]), np.array([1, 2, 2]), np.array([0, 0, 1]))
    result = replay(event_start, np.array([0, 1]), obs_node, np.array([0, 1]), np.array([1, 5]), np.array([0, 3]),
                    np.array([-1, -1]), np.array([0, 0]), np.zeros(0, np.int64))
    in_seq_order(np.array([1, 2]), result.event_profile)
    top_nodes(np.array([1, 2, 2]), np.array([0, 0, 1]), np.array([2]))
    tops_below(event_start, obs_node, 1)


_LOADER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="engage-kernels")


@functools.cache
def prepare_rules() -> Future:
    """Start `compile_rules` on a thread, once per process. A process's first call of a kernel
    costs numba 0.3-0.5 s of set-up (a compile, once per installation, several seconds): the
    caller overlaps it with warehouse work, which runs outside the GIL, and waits on the future
    before the kernels. Later callers get the same future (the pipeline starts it before ingest,
    the identity run waits on it)."""
    return _LOADER.submit(compile_rules)
