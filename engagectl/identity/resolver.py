"""An identity run: resolve every event ingested since the last run, incrementally.

The work is split by what can change the graph:
1. identifiers of the new events are extracted in SQL (`identifiers.py`);
2. events carrying two or more identifiers — the first time each combination is seen — go
   through the ordered, event-by-event logic (`graph.py`), with only the part of the stored
   graph they touch loaded;
3. everything else is set-based: an event's profile is the profile holding its
   highest-priority identifier (merge protection only ever drops lower-priority ones), so one
   join resolves all events, and identifiers seen alone get their profiles with one insert.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlglot import exp

from engagectl.config.models import IdentitySettings
from engagectl.identity.graph import IdentityGraph
from engagectl.identity.identifiers import observations, priority_rank
from engagectl.identity.traits import refresh_traits
from engagectl.warehouse import Warehouse

RANKED = "engage_ranked"
LINKING = "engage_linking"
LINKING_NODES = "engage_linking_nodes"
EVENT_PROFILES = "engage_event_profiles"
REPOINT = "engage_repoint"
TOUCHED = "engage_touched_profiles"
LAST_SEEN = "engage_last_seen"
LATEST = "engage_latest"
_TYPE_SEP = "\x1f"
_ID_SEP = "\x1e"
_BATCH = 200_000

# Tables whose rows point at profiles; on a merge they are repointed at the survivor.
_PROFILE_TABLES = ("events", "identities", "journey_progress", "changes")


@dataclass
class IdentityReport:
    events: int = 0
    linking_events: int = 0
    profiles_created: int = 0
    identities_added: int = 0
    merges: int = 0

    def to_json(self) -> dict:
        return dict(self.__dict__)


def _scratch(warehouse: Warehouse, name: str, template: str, **params: Any) -> None:
    table = warehouse.temp_table(name)
    warehouse.execute(exp.Drop(tables=[table], kind="TABLE", exists=True))
    warehouse.execute(exp.Create(this=table, kind="TABLE", expression=warehouse.parse(template, **params),
                                 properties=exp.Properties(expressions=[exp.TemporaryProperty()])))


def _drop_scratch(warehouse: Warehouse) -> None:
    for name in (RANKED, LINKING, LINKING_NODES, REPOINT, TOUCHED, EVENT_PROFILES, LAST_SEEN, LATEST):
        warehouse.execute(exp.Drop(tables=[warehouse.temp_table(name)], kind="TABLE", exists=True))


def _watermark(warehouse: Warehouse) -> int:
    rows = warehouse.fetchall(warehouse.parse("SELECT MAX(last_seq) FROM identity_watermark"))
    return rows[0][0] or 0


def _finest_period(settings: IdentitySettings) -> str | None:
    periods = {settings.period(t) for t in settings.identifiers}
    for period, unit in (("daily", "day"), ("weekly", "week"), ("monthly", "month"), ("annually", "year")):
        if period in periods:
            return unit
    return None


def resolve_identities(warehouse: Warehouse, settings: IdentitySettings) -> IdentityReport:
    """Attach every event ingested since the last run to its profile; one transaction."""
    report = IdentityReport()
    with warehouse.transaction():
        after = _watermark(warehouse)
        last = warehouse.fetchall(warehouse.parse("SELECT MAX(seq) FROM events"))[0][0] or 0
        if last <= after:
            return report
        report.events = warehouse.fetchall(warehouse.parse(
            "SELECT COUNT(*) FROM events WHERE seq > :after", after=after))[0][0]
        # Every identifier of every new event, ranked within its event (pos 1 = highest priority).
        _scratch(warehouse, RANKED, """
            SELECT seq, ts, message_id, source, id_type, id_value,
                   ROW_NUMBER() OVER (PARTITION BY seq ORDER BY id_rank, id_type, id_value) AS pos,
                   COUNT(*) OVER (PARTITION BY seq) AS n
            FROM (SELECT o.*, :rank AS id_rank FROM :observations AS o) AS o""",
                 rank=priority_rank(settings), observations=observations(warehouse, settings, after).subquery())
        _resolve_linking(warehouse, settings, report)
        _create_single_profiles(warehouse, report)
        _assign_events(warehouse, after)
        refresh_traits(warehouse, after)
        warehouse.execute(warehouse.parse("DELETE FROM identity_watermark"))
        warehouse.execute(warehouse.parse(
            "INSERT INTO identity_watermark (last_seq, updated_at) VALUES (:last, CURRENT_TIMESTAMP)", last=last))
        _drop_scratch(warehouse)
    return report


def _resolve_linking(warehouse: Warehouse, settings: IdentitySettings, report: IdentityReport) -> None:
    """Run the ordered logic over first occurrences of multi-identifier combinations."""
    unit = _finest_period(settings)
    # With per-period limits the same combination may resolve differently in a new period.
    bucket = f", DATE_TRUNC('{unit}', ts)" if unit else ""
    # An event's signature is its identifiers in priority order. Most events carry two or three:
    # their signature is pivoted with plain MAX aggregates; only the rare longer ones pay for an
    # ordered STRING_AGG. The first event of each signature is found by aggregation and a join,
    # not a window partitioned by the (long, text) signature: far cheaper on both engines.
    node = "id_type || :tsep || id_value"
    _scratch(warehouse, LINKING, f"""
        WITH signed AS (
            SELECT seq, n, MIN(ts) AS ts,
                   MAX(CASE WHEN pos = 1 THEN {node} END) || :isep || MAX(CASE WHEN pos = 2 THEN {node} END)
                   || :isep || COALESCE(MAX(CASE WHEN pos = 3 THEN {node} END), '') AS signature
            FROM engage_ranked WHERE n > 1 AND n <= 3 GROUP BY seq, n
            UNION ALL
            SELECT seq, n, MIN(ts) AS ts, STRING_AGG({node}, :isep ORDER BY pos) AS signature
            FROM engage_ranked WHERE n > 3 GROUP BY seq, n),
        first_seen AS (
            SELECT signature, n, MIN(ts) AS ts FROM signed GROUP BY signature, n{bucket})
        SELECT MIN(s.seq) AS seq
        FROM signed AS s JOIN first_seen AS f ON s.signature = f.signature AND s.n = f.n AND s.ts = f.ts
        GROUP BY s.signature, s.n, s.ts""", tsep=_TYPE_SEP, isep=_ID_SEP)
    _scratch(warehouse, LINKING_NODES, """
        SELECT DISTINCT r.id_type, r.id_value FROM engage_ranked AS r JOIN engage_linking AS l ON r.seq = l.seq""")
    graph = IdentityGraph(settings)
    stored = warehouse.fetchall(warehouse.parse("""
        SELECT i.profile_id, p.created_at, p.first_message_id, i.id_type, i.id_value, i.first_seen
        FROM identities AS i JOIN profiles AS p ON p.profile_id = i.profile_id
        WHERE i.profile_id IN (SELECT x.profile_id FROM identities AS x JOIN engage_linking_nodes AS n
                               ON x.id_type = n.id_type AND x.id_value = n.id_value)
        ORDER BY i.profile_id"""))
    by_profile: dict[str, list] = {}
    for row in stored:
        by_profile.setdefault(row[0], []).append(row)
    for profile_id, rows in by_profile.items():
        graph.load_profile(profile_id, rows[0][1], rows[0][2], [(r[3], r[4], r[5]) for r in rows])
    del stored, by_profile
    # An identifier first seen alone had its own profile before any linking event met it.
    singles = {
        (r[0], r[1]): (r[2], r[3], r[4], r[5])
        for r in warehouse.iterate(warehouse.parse("""
            SELECT id_type, id_value, ts, seq, message_id, source FROM (
                SELECT r.*, ROW_NUMBER() OVER (PARTITION BY r.id_type, r.id_value ORDER BY r.ts, r.seq) AS k
                FROM engage_ranked AS r JOIN engage_linking_nodes AS n
                  ON r.id_type = n.id_type AND r.id_value = n.id_value
                WHERE r.n = 1) AS s
            WHERE k = 1"""))
    }
    rows = warehouse.iterate(warehouse.parse("""
        SELECT r.seq, r.ts, r.message_id, r.source, r.id_type, r.id_value
        FROM engage_ranked AS r JOIN engage_linking AS l ON r.seq = l.seq
        ORDER BY r.ts, r.seq, r.pos"""))
    _replay(graph, rows, singles, report)
    del singles  # peak memory: the graph is all that is needed from here on
    _write_graph(warehouse, graph, report)


def _replay(graph: IdentityGraph, rows: Iterable[tuple], singles: dict, report: IdentityReport) -> None:
    """Feed the graph one event at a time; rows come ordered by (ts, seq, pos), one per identifier."""
    node_profile = graph.node_profile
    current: tuple | None = None
    nodes: list[tuple[str, str]] = []

    def flush() -> None:
        seq, moment, message_id, source = current
        for node in nodes:
            if node not in node_profile:
                single = singles.get(node)
                if single is not None and (single[0], single[1]) < (moment, seq):
                    graph.create([node], single[0], single[2], single[3])
                    del singles[node]  # used once; dropped for peak memory
        graph.observe(nodes, moment, message_id, source)
        report.linking_events += 1

    for seq, moment, message_id, source, id_type, id_value in rows:
        if current is None or current[0] != seq:
            if current is not None:
                flush()
            current = (seq, moment, message_id, source)
            nodes = []
        nodes.append((id_type, id_value))
    if current is not None:
        flush()


def _write_graph(warehouse: Warehouse, graph: IdentityGraph, report: IdentityReport) -> None:
    canonical = graph.canonical()
    repoint = [(old, new) for old, new in canonical.items() if old in graph.stored_ids]
    if repoint:
        warehouse.execute(warehouse.parse(
            "CREATE TEMPORARY TABLE engage_repoint (old_id TEXT, new_id TEXT)"))
        warehouse.insert_rows(warehouse.temp_table(REPOINT), ["old_id", "new_id"], repoint)
        for table in _PROFILE_TABLES:
            warehouse.execute(warehouse.parse(
                f"UPDATE {table} SET profile_id = r.new_id FROM engage_repoint AS r WHERE {table}.profile_id = r.old_id"))
        # Computed values and traits of a merged profile are recomputed on the survivor.
        for table in ("computed_values", "profile_traits", "profiles"):
            warehouse.execute(warehouse.parse(
                f"DELETE FROM {table} WHERE profile_id IN (SELECT old_id FROM engage_repoint)"))
    new_profiles = [p for p in graph.profiles.values() if not p.stored]
    warehouse.insert_rows(
        warehouse.table("profiles"),
        ["profile_id", "created_at", "updated_at", "first_message_id", "last_message_id", "first_source", "last_source"],
        [(p.profile_id, p.created_at, p.created_at, p.first_message_id, p.first_message_id, p.first_source,
          p.first_source) for p in new_profiles],
    )
    identities = (
        (graph.node_profile[node], node[0], node[1], new.first_seen, new.first_seen, new.message_id, new.source)
        for node, new in graph.new_identities.items()
    )
    _insert_batches(warehouse, "identities",
                    ["profile_id", "id_type", "id_value", "first_seen", "last_seen", "first_message_id", "source"],
                    identities)
    warehouse.insert_rows(
        warehouse.table("merges"),
        ["merged_profile_id", "into_profile_id", "message_id", "merged_at"],
        [(m.merged_profile_id, m.into_profile_id, m.message_id, m.merged_at) for m in graph.merges],
    )
    report.profiles_created += len(new_profiles)
    report.identities_added += len(graph.new_identities)
    report.merges += len(graph.merges)


def _insert_batches(warehouse: Warehouse, table: str, columns: list[str], rows: Iterable[tuple]) -> None:
    """Insert rows a batch at a time, so a full run never holds every row twice (peak memory)."""
    batch: list[tuple] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= _BATCH:
            warehouse.insert_rows(warehouse.table(table), columns, batch)
            batch = []
    if batch:
        warehouse.insert_rows(warehouse.table(table), columns, batch)


def _create_single_profiles(warehouse: Warehouse, report: IdentityReport) -> None:
    """Identifiers seen only alone (and not yet known) each get a profile, set-based."""
    _scratch(warehouse, TOUCHED, """
        SELECT id_type, id_value, ts, message_id, source FROM (
            SELECT r.id_type, r.id_value, r.ts, r.message_id, r.source,
                   ROW_NUMBER() OVER (PARTITION BY r.id_type, r.id_value ORDER BY r.ts, r.seq) AS k
            FROM engage_ranked AS r
            WHERE r.pos = 1 AND NOT EXISTS (
                SELECT 1 FROM identities AS i WHERE i.id_type = r.id_type AND i.id_value = r.id_value)) AS s
        WHERE k = 1""")
    profile_id = "'prof_' || SUBSTRING(MD5(message_id), 1, 24)"
    warehouse.execute(warehouse.parse(f"""
        INSERT INTO profiles (profile_id, created_at, updated_at, first_message_id, last_message_id,
                              first_source, last_source)
        SELECT {profile_id}, ts, ts, message_id, message_id, source, source FROM engage_touched_profiles"""))
    warehouse.execute(warehouse.parse(f"""
        INSERT INTO identities (profile_id, id_type, id_value, first_seen, last_seen, first_message_id, source)
        SELECT {profile_id}, id_type, id_value, ts, ts, message_id, source FROM engage_touched_profiles"""))
    created = warehouse.fetchall(warehouse.parse("SELECT COUNT(*) FROM engage_touched_profiles"))[0][0]
    report.profiles_created += created
    report.identities_added += created


def _assign_events(warehouse: Warehouse, after: int) -> None:
    """Each new event → the profile holding its highest-priority identifier; then profile recency."""
    _scratch(warehouse, EVENT_PROFILES, """
        SELECT r.seq, r.ts, r.message_id, r.source, i.profile_id
        FROM engage_ranked AS r JOIN identities AS i ON i.id_type = r.id_type AND i.id_value = r.id_value
        WHERE r.pos = 1""")
    warehouse.execute(warehouse.parse("""
        UPDATE events SET profile_id = p.profile_id FROM engage_event_profiles AS p
        WHERE events.seq = p.seq AND events.seq > :after""", after=after))
    # Aggregates go to scratch tables first: DuckDB runs an UPDATE … FROM (aggregate) far slower
    # than the same UPDATE from a materialised table.
    _scratch(warehouse, LAST_SEEN, "SELECT id_type, id_value, MAX(ts) AS ts FROM engage_ranked GROUP BY id_type, id_value")
    warehouse.execute(warehouse.parse("""
        UPDATE identities SET last_seen = s.ts FROM engage_last_seen AS s
        WHERE identities.id_type = s.id_type AND identities.id_value = s.id_value
          AND (identities.last_seen IS NULL OR identities.last_seen < s.ts)"""))
    # The latest event per profile, by aggregation (cheaper than ranking every event).
    _scratch(warehouse, LATEST, """
        SELECT profile_id, MAX(ts) AS ts, :last_message AS message_id, :last_source AS source
        FROM engage_event_profiles GROUP BY profile_id""",
        last_message=warehouse.arg_max(exp.column("message_id"), exp.column("ts")),
        last_source=warehouse.arg_max(exp.column("source"), exp.column("ts")))
    warehouse.execute(warehouse.parse("""
        UPDATE profiles SET updated_at = s.ts, last_message_id = s.message_id, last_source = s.source
        FROM engage_latest AS s
        WHERE profiles.profile_id = s.profile_id AND profiles.updated_at <= s.ts"""))
