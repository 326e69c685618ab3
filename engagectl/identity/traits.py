"""Profile traits from identify calls: per key the latest value wins; a `null` removes the key.

Traits are recomputed from the identify history of every profile that received identify calls
or merges in this run, so a merge needs no conflict rules of its own.

A run that meets no stored profile does it in two stages. The run's calls are narrowed while the
rules run, before anyone knows which profile a call ends in (`latest_by_node`): each call belongs
to the profile its top node ends in, so the latest entry per key of all calls sharing a top node
is the only one of them that can win for that profile. Then, with the profiles known,
`refresh_traits` takes the latest of those. A run that meets stored profiles weighs its calls
(`call_entries`) with theirs from earlier runs, once.
"""

from __future__ import annotations

from sqlglot import exp

from engagectl.warehouse import Warehouse

TOUCHED = "engage_trait_profiles"
CALLS = "engage_trait_calls"
BY_NODE = "engage_traits_by_node"
_ORDER = ["ts", "seq", "position"]  # the last write: latest moment, then message, then place in it
_ENTRY = ["value", "ts", "seq", "position", "message_id"]


def _entries(warehouse: Warehouse, calls: exp.Expression, owner: str) -> exp.Select:
    """The entries (owner, key, value, ts, seq, position, message_id) of the identify calls listed
    in `calls` (seq, `owner`). A call without traits gives none."""
    identifies = warehouse.parse("""
        SELECT :owner, x."timestamp", x.message_id, x.seq, x.traits
        FROM events AS x JOIN :calls AS c ON x.seq = c.seq""", owner=exp.column(owner, table="c"), calls=calls)
    return warehouse.parse("""
        SELECT :owner, e.key, e.value, e."timestamp" AS ts, e.seq, e.position, e.message_id FROM :e AS e""",
                           owner=exp.column(owner, table="e"), e=warehouse.json_entries(identifies, "traits").subquery())


def call_entries(warehouse: Warehouse, calls: exp.Select) -> exp.Select:
    """The entries (profile_index, key, value, ts, seq, position, message_id) of the identify calls
    `calls` (seq, profile_index), as `refresh_traits` takes them."""
    return _entries(warehouse, calls.subquery(), "profile_index")


def latest_by_node(warehouse: Warehouse, calls: exp.Table) -> exp.Table:
    """The latest entry per (node, key) of the identify calls `calls` (seq, node: the call's top
    node), in the scratch table `BY_NODE` (node, key, value, ts, seq, position, message_id)."""
    # Of a key written twice in one call, the later entry counts (as a JSON parser reads it).
    latest = warehouse.latest_rows(_entries(warehouse, calls, "node"), ["node", "key"], _ORDER, _ENTRY)
    return warehouse.scratch(BY_NODE, latest)


def refresh_traits(warehouse: Warehouse, after: int, touched: exp.Select, new_entries: exp.Select,
                   settled: bool) -> None:
    """Recompute the traits of the `touched` profiles (a query of (profile_index, profile_id):
    those that got identify calls with traits among the events past `after`, or absorbed others
    in this run). `new_entries` holds what those calls wrote: (profile_index, key, value, ts, seq,
    position, message_id): every entry (`call_entries`), or the latest ones per top node
    (`latest_by_node`). `settled`: they are already one per (profile, key), and no touched
    profile has calls from earlier runs."""
    # The touched profiles are materialised first: joined from a table, the identify history is
    # read for those profiles only (an IN (subquery) let DuckDB expand every identify's traits).
    touched_table = warehouse.scratch(TOUCHED, touched)
    warehouse.execute(warehouse.parse(
        "DELETE FROM profile_traits WHERE profile_id IN (SELECT profile_id FROM engage_trait_profiles)"))
    latest: exp.Expression = new_entries
    scratch = [touched_table]
    if not settled:
        # Their earlier identify calls are found on narrow columns first; only those calls' traits
        # are read (joined on profile_id, every identify call's traits would be read before the
        # join filters). Calls are grouped by profile number, not by id: a number hashes and
        # compares in a fraction of the time text takes.
        calls = warehouse.scratch(CALLS, warehouse.parse("""
            SELECT x.seq, p.profile_index FROM events AS x JOIN engage_trait_profiles AS p ON x.profile_id = p.profile_id
            WHERE x.type = 'identify' AND x.seq <= :after""", after=after))
        scratch.append(calls)
        everything = exp.union(new_entries, _entries(warehouse, calls, "profile_index"), distinct=False)
        latest = warehouse.latest_rows(everything, ["profile_index", "key"], _ORDER, _ENTRY)
    # A JSON null may come back as SQL NULL (DuckDB) or as the JSON `null` (Postgres): both remove.
    warehouse.execute(warehouse.parse("""
        INSERT INTO profile_traits (profile_id, key, value, updated_at, message_id)
        SELECT p.profile_id, l.key, l.value, l.ts, l.message_id FROM :latest AS l
        JOIN engage_trait_profiles AS p ON p.profile_index = l.profile_index
        WHERE l.value IS NOT NULL AND CAST(l.value AS TEXT) <> 'null'""", latest=latest.subquery()))
    for table in scratch:
        warehouse.execute(exp.Drop(tables=[table], kind="TABLE", exists=True))
