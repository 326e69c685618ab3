"""Profile traits from identify calls: per key the latest value wins; a `null` removes the key.

A profile that absorbs a stored profile, or gets a call older than its last activity, has its
traits recomputed from its whole identify history, so a merge needs no conflict rules of its
own. Any other profile's new calls are all later than the ones it held: their latest entry per
key replaces the stored one (`refresh_traits`), and its history is not read again.

A run that meets no stored profile does it in two stages. The run's calls are narrowed while the
rules run, before anyone knows which profile a call ends in (`latest_by_node`): each call belongs
to the profile its top node ends in, so the latest entry per key of all calls sharing a top node
is the only one of them that can win for that profile. Then, with the profiles known,
`refresh_traits` takes the latest of those. A run that meets stored profiles takes every entry
of its calls (`call_entries`).
"""

from __future__ import annotations

from sqlglot import exp

from engagectl.warehouse import Warehouse

TOUCHED = "engage_trait_profiles"
CALLS = "engage_trait_calls"
KEYS = "engage_trait_keys"
NEW = "engage_trait_new_entries"
BY_NODE = "engage_traits_by_node"
_ORDER = ["ts", "seq", "position"]  # the last write: latest moment, then message, then place in it
_ENTRY = ["value", "ts", "seq", "position", "message_id"]
_LAST = "last"  # `_ORDER` in one number, where the calls are ranked (`latest_by_node`)


def _entries(warehouse: Warehouse, calls: exp.Expression, owner: str, ranked: bool = False) -> exp.Select:
    """The entries (owner, key, value, ts, seq, position, message_id) of the identify calls listed
    in `calls` (seq, `owner`). A call without traits gives none. `ranked`: `calls` also has a
    `rank` ordering the calls as (ts, seq) does, and each entry gets `_LAST`, one number ordering
    the entries as `_ORDER` does."""
    identifies = warehouse.parse("""
        SELECT :owner, x."timestamp", x.message_id, x.seq, x.traits
        FROM events AS x JOIN :calls AS c ON x.seq = c.seq""", owner=exp.column(owner, table="c"), calls=calls)
    if ranked:
        identifies = identifies.select(exp.column("rank", table="c"), copy=False)
    entries = warehouse.parse("""
        SELECT :owner, e.key, e.value, e."timestamp" AS ts, e.seq, e.position, e.message_id FROM :e AS e""",
                              owner=exp.column(owner, table="e"),
                              e=warehouse.json_entries(identifies, "traits").subquery())
    if not ranked:
        return entries
    # A call lists far fewer than 2^32 keys, and a run's calls rank below 2^31 (`replay.MAX_RUN`).
    last = exp.column("rank", table="e") * exp.Literal.number(2 ** 32) + exp.column("position", table="e")
    return entries.select(last.as_(_LAST), copy=False)


def call_entries(warehouse: Warehouse, calls: exp.Select) -> exp.Select:
    """The entries (profile_index, key, value, ts, seq, position, message_id, and `_LAST`) of the
    identify calls `calls` (seq, profile_index, rank: as `latest_by_node` takes them), as
    `refresh_traits` takes them."""
    return _entries(warehouse, calls.subquery(), "profile_index", ranked=True)


def latest_by_node(warehouse: Warehouse, calls: exp.Table) -> exp.Table:
    """The latest entry per (node, key) of the identify calls `calls` (seq, node: the call's top
    node; rank: the calls numbered in (ts, seq) order), in the scratch table `BY_NODE` (node, key,
    value, ts, seq, position, message_id)."""
    # Of a key written twice in one call, the later entry counts (as a JSON parser reads it).
    # Ordered by one number, not by three columns: on the 10M-event bench's 3M entries, on one
    # thread, the grouping took 0.38-0.55 s instead of 0.74-1.1 (DuckDB's `latest_rows`).
    latest = warehouse.latest_rows(_entries(warehouse, calls, "node", ranked=True), ["node", "key"], [_LAST],
                                   _ENTRY)
    return warehouse.scratch(BY_NODE, latest)


def refresh_traits(warehouse: Warehouse, after: int, touched: exp.Select, new_entries: exp.Select,
                   settled: bool, weighed: bool, replaced: bool) -> None:
    """Bring up to date the traits of the `touched` profiles: a query of (profile_index,
    profile_id, weighed) listing those that got identify calls with traits among the events past
    `after`, or absorbed others in this run. `new_entries` holds what those calls wrote:
    (profile_index, key, value, ts, seq, position, message_id): every entry (`call_entries`), or
    the latest ones per top node (`latest_by_node`); `settled`: already one per (profile, key).
    Entries that carry `_LAST` (`call_entries`) are ordered by it, the others by `_ORDER`.

    A `weighed` profile's traits are worked out anew from every identify call it holds, of
    earlier runs too: it absorbed a stored profile (whose calls are now its own), or it got a
    call older than its last activity (which an entry it holds, or a key a `null` removed, may
    outrank). Every other touched profile (`kept`) keeps its stored traits but for the keys its
    new calls wrote: each of those calls is later than every call it held before, so the latest
    new entry per key wins (a `null` removes the key). `weighed`: some profile is weighed;
    `replaced`: some kept profile is a stored one (with rows to replace)."""
    touched_table = warehouse.scratch(TOUCHED, touched)
    scratch = [touched_table]
    order = [_LAST] if _LAST in new_entries.named_selects else _ORDER
    latest_new = new_entries if settled else warehouse.latest_rows(new_entries, ["profile_index", "key"], order, _ENTRY)
    if weighed:
        # Read twice below (for the kept profiles and for the weighed): worked out once.
        new_table = warehouse.scratch(NEW, latest_new)
        scratch.append(new_table)
        latest_new = exp.select("*").from_(new_table)
        warehouse.execute(warehouse.parse("""
            DELETE FROM profile_traits
            WHERE profile_id IN (SELECT profile_id FROM engage_trait_profiles WHERE weighed)"""))
    kept = _with_ids(warehouse, latest_new, weighed=False)
    if replaced:
        # Of a stored profile, only the keys the new calls wrote change: those rows are replaced.
        # (The IN on one column lets DuckDB filter its scan by it, with a bloom filter of the
        # keys' profile ids; the pair is checked on the rows left: 0.03 -> 0.02 s on the 1% run.)
        keys = warehouse.scratch(KEYS, kept)
        scratch.append(keys)
        warehouse.execute(warehouse.parse("""
            DELETE FROM profile_traits
            WHERE profile_id IN (SELECT profile_id FROM engage_trait_keys) AND EXISTS (
                SELECT 1 FROM engage_trait_keys AS k
                WHERE k.profile_id = profile_traits.profile_id AND k.key = profile_traits.key)"""))
        kept = exp.select("*").from_(keys)
    _insert_traits(warehouse, kept)
    if weighed:
        # Their earlier identify calls are found on narrow columns first; only those calls' traits
        # are read (joined on profile_id, every identify call's traits would be read before the
        # join filters). Calls are grouped by profile number, not by id: a number hashes and
        # compares in a fraction of the time text takes. (Touched profiles are materialised
        # first: joined from a table, the identify history is read for those profiles only; an
        # IN (subquery) let DuckDB expand every identify's traits.)
        calls = warehouse.scratch(CALLS, warehouse.parse("""
            SELECT x.seq, p.profile_index FROM events AS x JOIN engage_trait_profiles AS p ON x.profile_id = p.profile_id
            WHERE x.type = 'identify' AND x.seq <= :after AND p.weighed""", after=after))
        scratch.append(calls)
        own_new = warehouse.parse("""
            SELECT n.* FROM :latest AS n JOIN engage_trait_profiles AS p ON p.profile_index = n.profile_index
            WHERE p.weighed""", latest=latest_new.subquery())
        everything = exp.union(own_new, _entries(warehouse, calls, "profile_index"), distinct=False)
        latest = warehouse.latest_rows(everything, ["profile_index", "key"], _ORDER, _ENTRY)
        _insert_traits(warehouse, _with_ids(warehouse, latest, weighed=True))
    for table in scratch:
        warehouse.execute(exp.Drop(tables=[table], kind="TABLE", exists=True))


def _with_ids(warehouse: Warehouse, entries: exp.Select, weighed: bool) -> exp.Select:
    """The entries (profile_index, key, value, ts, …) of the touched profiles that are `weighed`
    (or are not), as (profile_id, key, value, ts, message_id)."""
    return warehouse.parse("""
        SELECT p.profile_id, l.key, l.value, l.ts, l.message_id FROM :entries AS l
        JOIN engage_trait_profiles AS p ON p.profile_index = l.profile_index WHERE p.weighed = :weighed""",
        entries=entries.subquery(), weighed=weighed)


def _insert_traits(warehouse: Warehouse, latest: exp.Select) -> None:
    """Store the entries (profile_id, key, value, ts, message_id) that hold a value."""
    # A JSON null may come back as SQL NULL (DuckDB) or as the JSON `null` (Postgres): both remove.
    warehouse.execute(warehouse.parse("""
        INSERT INTO profile_traits (profile_id, key, value, updated_at, message_id)
        SELECT l.profile_id, l.key, l.value, l.ts, l.message_id FROM :latest AS l
        WHERE l.value IS NOT NULL AND CAST(l.value AS TEXT) <> 'null'""", latest=latest.subquery()))
