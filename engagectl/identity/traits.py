"""Profile traits from identify calls: per key the latest value wins; a `null` removes the key.

Traits are recomputed from the identify history of every profile that received identify calls
or merges in this run, so a merge needs no conflict rules of its own.
"""

from __future__ import annotations

from engagectl.warehouse import Warehouse


def refresh_traits(warehouse: Warehouse, after: int) -> None:
    touched = """
        SELECT DISTINCT profile_id FROM events
        WHERE seq > :after AND type = 'identify' AND traits IS NOT NULL AND profile_id IS NOT NULL
        UNION
        SELECT into_profile_id FROM merges WHERE merged_at IS NOT NULL AND message_id IN (
            SELECT message_id FROM events WHERE seq > :after)"""
    warehouse.execute(warehouse.parse(
        f"DELETE FROM profile_traits WHERE profile_id IN ({touched})", after=after))
    warehouse.execute(warehouse.parse(f"""
        INSERT INTO profile_traits (profile_id, key, value, updated_at, message_id)
        SELECT profile_id, key, value, ts, message_id FROM (
            SELECT e.profile_id, t.key, t.value, e."timestamp" AS ts, e.message_id,
                   ROW_NUMBER() OVER (PARTITION BY e.profile_id, t.key ORDER BY e."timestamp" DESC, e.seq DESC) AS k
            FROM events AS e, JSON_EACH(e.traits) AS t
            WHERE e.type = 'identify' AND e.traits IS NOT NULL AND e.profile_id IN ({touched})) AS latest
        WHERE k = 1 AND CAST(value AS TEXT) <> 'null'""", after=after))
