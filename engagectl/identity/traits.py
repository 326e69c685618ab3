"""Profile traits from identify calls: per key the latest value wins; a `null` removes the key.

Traits are recomputed from the identify history of every profile that received identify calls
or merges in this run, so a merge needs no conflict rules of its own.
"""

from __future__ import annotations

from sqlglot import exp

from engagectl.warehouse import Warehouse

TOUCHED = "engage_trait_profiles"
CALLS = "engage_trait_calls"


def refresh_traits(warehouse: Warehouse, after: int, survivors: exp.Select) -> None:
    """Recompute the traits of the profiles that got identify calls among the events past `after`,
    and of `survivors` (a query of profile ids: those that absorbed others in this run)."""
    # The touched profiles are materialised first: joined from a table, the identify history is
    # read for those profiles only (an IN (subquery) let DuckDB expand every identify's traits).
    touched = warehouse.scratch(TOUCHED, warehouse.parse("""
        SELECT DISTINCT profile_id FROM events
        WHERE seq > :after AND type = 'identify' AND traits IS NOT NULL AND profile_id IS NOT NULL
        UNION
        SELECT profile_id FROM :survivors AS s""", after=after, survivors=survivors.subquery()))
    warehouse.execute(warehouse.parse(
        "DELETE FROM profile_traits WHERE profile_id IN (SELECT profile_id FROM engage_trait_profiles)"))
    # Their identify calls are found on narrow columns first; only those calls' traits are read
    # (joined on profile_id, every identify call's traits would be read before the join filters).
    # A call without traits gives no entries below: testing `traits` here would read that column
    # for every event.
    calls = warehouse.scratch(CALLS, warehouse.parse("""
        SELECT x.seq, x.profile_id FROM events AS x JOIN engage_trait_profiles AS p ON x.profile_id = p.profile_id
        WHERE x.type = 'identify'"""))
    identifies = warehouse.parse("""
        SELECT c.profile_id, x."timestamp", x.message_id, x.seq, x.traits
        FROM events AS x JOIN engage_trait_calls AS c ON x.seq = c.seq""")
    entries = warehouse.parse("""
        SELECT e.profile_id, e.key, e.value, e."timestamp" AS ts, e.seq, e.position, e.message_id FROM :e AS e""",
                              e=warehouse.json_entries(identifies, "traits").subquery())
    # Of a key written twice in one call, the later entry counts (as a JSON parser reads it).
    latest = warehouse.latest_rows(entries, ["profile_id", "key"], ["ts", "seq", "position"],
                                   ["value", "ts", "message_id"])
    # A JSON null may come back as SQL NULL (DuckDB) or as the JSON `null` (Postgres): both remove.
    warehouse.execute(warehouse.parse("""
        INSERT INTO profile_traits (profile_id, key, value, updated_at, message_id)
        SELECT profile_id, key, value, ts, message_id FROM :latest AS l
        WHERE value IS NOT NULL AND CAST(value AS TEXT) <> 'null'""", latest=latest.subquery()))
    for scratch in (touched, calls):
        warehouse.execute(exp.Drop(tables=[scratch], kind="TABLE", exists=True))
