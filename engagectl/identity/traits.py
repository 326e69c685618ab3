"""Profile traits from identify calls: per key the latest value wins; a `null` removes the key.

Traits are recomputed from the identify history of every profile that received identify calls
or merges in this run, so a merge needs no conflict rules of its own.
"""

from __future__ import annotations

from sqlglot import exp

from engagectl.warehouse import Warehouse

TOUCHED = "engage_trait_profiles"
CALLS = "engage_trait_calls"


def refresh_traits(warehouse: Warehouse, after: int, touched: exp.Select, new_calls: exp.Select) -> None:
    """Recompute the traits of the `touched` profiles (a query of (profile_index, profile_id):
    those that got identify calls with traits among the events past `after`, or absorbed others
    in this run). `new_calls` lists those identify calls as (seq, profile_index)."""
    # The touched profiles are materialised first: joined from a table, the identify history is
    # read for those profiles only (an IN (subquery) let DuckDB expand every identify's traits).
    touched_table = warehouse.scratch(TOUCHED, touched)
    warehouse.execute(warehouse.parse(
        "DELETE FROM profile_traits WHERE profile_id IN (SELECT profile_id FROM engage_trait_profiles)"))
    # Their earlier identify calls are found on narrow columns first; only those calls' traits are
    # read (joined on profile_id, every identify call's traits would be read before the join
    # filters). A call without traits gives no entries below: testing `traits` here would read
    # that column for every event. Calls are grouped by profile number, not by id: a number
    # hashes and compares in a fraction of the time text takes.
    calls = warehouse.scratch(CALLS, warehouse.parse("""
        SELECT c.seq, c.profile_index FROM :calls AS c
        UNION ALL
        SELECT x.seq, p.profile_index FROM events AS x JOIN engage_trait_profiles AS p ON x.profile_id = p.profile_id
        WHERE x.type = 'identify' AND x.seq <= :after""", calls=new_calls.subquery(), after=after))
    identifies = warehouse.parse("""
        SELECT c.profile_index, x."timestamp", x.message_id, x.seq, x.traits
        FROM events AS x JOIN engage_trait_calls AS c ON x.seq = c.seq""")
    entries = warehouse.parse("""
        SELECT e.profile_index, e.key, e.value, e."timestamp" AS ts, e.seq, e.position, e.message_id FROM :e AS e""",
                              e=warehouse.json_entries(identifies, "traits").subquery())
    # Of a key written twice in one call, the later entry counts (as a JSON parser reads it).
    latest = warehouse.latest_rows(entries, ["profile_index", "key"], ["ts", "seq", "position"],
                                   ["value", "ts", "message_id"])
    # A JSON null may come back as SQL NULL (DuckDB) or as the JSON `null` (Postgres): both remove.
    warehouse.execute(warehouse.parse("""
        INSERT INTO profile_traits (profile_id, key, value, updated_at, message_id)
        SELECT p.profile_id, l.key, l.value, l.ts, l.message_id FROM :latest AS l
        JOIN engage_trait_profiles AS p ON p.profile_index = l.profile_index
        WHERE l.value IS NOT NULL AND CAST(l.value AS TEXT) <> 'null'""", latest=latest.subquery()))
    for scratch in (touched_table, calls):
        warehouse.execute(exp.Drop(tables=[scratch], kind="TABLE", exists=True))
