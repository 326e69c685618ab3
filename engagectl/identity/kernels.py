"""The identity kernels: the loops `replay.py` runs over a run's integer arrays, in numba's subset of
Python.

Nothing imports this module on the way to a run: `compiled.py` builds these functions ahead of
time, once per installation, into an extension module that loads in a millisecond (numba's own
set-up in a process costs 0.15 s of CPU before its first call), and imports this module only to
build that, or to JIT-compile them where it cannot be built. So only the functions `compiled.py`
exports are called from outside; the others are compiled into them.

In `replay`'s loop over events the check of limits is written out, not called: around the call
numba counted a reference to each of the ten arrays it took and dropped it after, each an atomic
operation, for every event checked (numba's `inline="always"` kept them, and slowed the smaller
helpers, which LLVM inlines without). On 10M events `replay` went 0.74-0.76 -> 0.54-0.55 s.
"""

from __future__ import annotations

import numba
import numpy as np

from engagectl.identity.replay import PERIODS

EVER = PERIODS.index("ever")
_DAY_US = 86_400_000_000


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
def _add_member(profile, node, counts, node_type, head, tail, nxt):
    """Append a node to a profile's member list and count it under its type."""
    counts[profile, node_type[node]] += 1
    if tail[profile] < 0:
        head[profile] = node
    else:
        nxt[tail[profile]] = node
    tail[profile] = node


@numba.njit(cache=True, nogil=True)
def replay(event_start, event_us, obs_node, node_type, limits, periods, owner_init, first_init,
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
            # graph.IdentityGraph._fits: whether attaching `fresh` and merging `matched` keeps every
            # limit.
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
            if ok:
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
            node = fresh[q]
            owner[node] = survivor
            first_us[node] = moment
            attached_event[node] = e
            _add_member(survivor, node, counts, node_type, head, tail, nxt)

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
def first_seen(obs_node, n_nodes):
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
def by_event(event_seq, obs_seq, obs_node, offset):
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
def in_seq_order(event_seq, values, low, span):
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


@numba.njit(cache=True, nogil=True)
def top_nodes(obs_seq, obs_node, seqs, low, span):
    lowest = np.full(span, -1, np.int32)
    for j in range(obs_seq.shape[0]):
        i = obs_seq[j] - low
        if 0 <= i < span and (lowest[i] < 0 or obs_node[j] < lowest[i]):
            lowest[i] = obs_node[j]
    top = np.empty(seqs.shape[0], np.int64)
    for k in range(seqs.shape[0]):
        top[k] = lowest[seqs[k] - low]
    return top


@numba.njit(cache=True, nogil=True)
def tops_below(event_start, obs_node, limit):
    below = np.zeros(event_start.shape[0] - 1, np.bool_)
    for e in range(below.shape[0]):
        if event_start[e + 1] > event_start[e] and obs_node[event_start[e]] < limit:
            below[e] = True
    return below


@numba.njit(cache=True, nogil=True)
def any_repeated(keys):
    # Ingest's check for a message id given twice in one file, on the ids' 64-bit hashes: DuckDB's
    # COUNT(DISTINCT) over 10M ids took 0.65-1.4 s, this 0.1 s (plus 0.18 s to fetch the hashes).
    # The keys are first split by their top byte into 256 parts, each small enough for its hash
    # table to stay in cache; then each part goes through an open-addressing table of its own.
    n = keys.shape[0]
    counts = np.zeros(257, np.int64)
    for i in range(n):
        counts[((keys[i] >> 56) & 255) + 1] += 1
    largest = 0
    for p in range(256):
        largest = max(largest, counts[p + 1])
        counts[p + 1] += counts[p]
    fill = counts[:-1].copy()
    parts = np.empty(n, np.int64)
    for i in range(n):
        p = (keys[i] >> 56) & 255
        parts[fill[p]] = keys[i]
        fill[p] += 1
    size = 2
    while size < 2 * largest:
        size *= 2
    mask = size - 1
    table = np.empty(size, np.int64)
    used = np.zeros(size, np.bool_)
    for p in range(256):
        used[:] = False
        for i in range(counts[p], counts[p + 1]):
            key = parts[i]
            slot = (key ^ (key >> 29)) & mask  # the top byte is the part's: the low bits spread keys
            while used[slot]:
                if table[slot] == key:
                    return True
                slot = (slot + 1) & mask
            used[slot] = True
            table[slot] = key
    return False
