"""An identity run: resolve every event ingested since the last run, incrementally.

1. The identifiers of the new events are read in SQL (`identifiers.py`: those of their JSON
   documents were extracted as they were ingested, into `event_identifiers`) and numbered: the
   distinct identifiers, less blocked values, plus every identifier of the stored profiles they
   touch, get node numbers in priority order, so sorting an event's nodes ranks them.
2. The warehouse hands over the events (seq, timestamp) in time order and their (seq, node)
   pairs as numpy arrays; a compiled pass groups the nodes by event, and every event goes
   through Segment's ordered rules, compiled (`replay.py`), with the stored graph the run
   touches loaded as its starting point. The kernels run on one core; in a run that meets no
   stored profile, the warehouse meanwhile narrows its identify traits to the latest per top
   node on the other.
3. The results go back as arrays and are written set-based: profiles, identities, merges, the
   profile of every event, recency, and identify traits.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlglot import exp

from engagectl.config.models import IdentitySettings
from engagectl.identity.graph import PROFILE_ID_LENGTH
from engagectl.identity.heap import freed_memory_reused
from engagectl.identity.identifiers import (BUILT_IN_TYPES, EXTRACTED, IDENTIFIER_COLUMNS, blocked,
                                            extract_document_identifiers, observations, priority_rank, type_name,
                                            user_id_value)
from engagectl.identity.replay import (MAX_RUN, PERIODS, TOO_LARGE, Replay, by_event, in_seq_order, prepare_rules,
                                       replay, top_nodes, tops_below)
from engagectl.identity.traits import BY_NODE, call_entries, latest_by_node, refresh_traits
from engagectl.warehouse import Warehouse

OBSERVATIONS = "engage_observations"
OBSERVED = "engage_observed"
STORED = "engage_stored_profiles"
STORED_IDS = "engage_stored_identities"
NODES = "engage_nodes"
PROFILE_INDEX = "engage_profile_index"
CREATED = "engage_created_profiles"
PROFILE_IDS = "engage_profile_ids"
NODE_RESULTS = "engage_node_results"
EVENT_PROFILES = "engage_event_profiles"
MERGE_RESULTS = "engage_merge_results"
LATEST = "engage_latest_events"
REFERENCED = "engage_referenced"
EVENT_REFS = "engage_event_refs"
REPOINT = "engage_repoint"
REPOINT_INDEX = "engage_repoint_index"
TOUCHED_INDEX = "engage_touched_index"
IDENTIFY_CALLS = "engage_identify_calls"
CALL_PROFILES = "engage_call_profiles"
USER_PROFILES = "engage_user_profiles"
USER_IDS = "engage_user_ids"
EVENT_IDS = "engage_event_ids"
ABSORBED_RECENCY = "engage_absorbed_recency"
_SCRATCH = (OBSERVATIONS, OBSERVED, STORED, STORED_IDS, NODES, PROFILE_INDEX, CREATED, PROFILE_IDS,
            NODE_RESULTS, EVENT_PROFILES, MERGE_RESULTS, LATEST, REFERENCED, EVENT_REFS, REPOINT, REPOINT_INDEX,
            TOUCHED_INDEX, IDENTIFY_CALLS, CALL_PROFILES, USER_PROFILES, USER_IDS, EVENT_IDS, BY_NODE, ABSORBED_RECENCY)

# Tables whose rows point at profiles; on a merge they are repointed at the survivor.
_PROFILE_TABLES = ("events", "identities", "journey_progress", "changes")


def _profile_id(warehouse: Warehouse, message_id: exp.Expression) -> exp.Expression:
    """The id of a profile created by the message `message_id` (graph.profile_id_for)."""
    return warehouse.digest_text(message_id, PROFILE_ID_LENGTH)


@dataclass
class IdentityReport:
    events: int = 0
    resolved_events: int = 0  # events carrying at least one identifier
    profiles_created: int = 0
    identities_added: int = 0
    merges: int = 0

    def to_json(self) -> dict:
        return dict(self.__dict__)


def _scratch(warehouse: Warehouse, name: str, template: str, **params: Any) -> None:
    warehouse.scratch(name, warehouse.parse(template, **params))


def _drop_scratch(warehouse: Warehouse) -> None:
    for name in _SCRATCH:
        warehouse.drop_scratch(name)


def _scalar(warehouse: Warehouse, template: str, **params: Any) -> Any:
    return warehouse.fetchall(warehouse.parse(template, **params))[0][0]


_BESIDE = ThreadPoolExecutor(max_workers=1, thread_name_prefix="engage-beside-kernels")


@contextmanager
def _beside_kernels(warehouse: Warehouse, work: Callable[[], object]) -> Iterator[None]:
    """Run `work` (warehouse statements) on a thread while the caller runs the compiled kernels.

    The kernels hold one core and neither the GIL nor the warehouse, so the statements get the
    other core, which would otherwise sit idle; the engine is held to one thread fewer meanwhile.
    The caller touches the warehouse again only once `work` is done.
    """
    with warehouse.sharing_cores():
        pending = _BESIDE.submit(work)
        try:
            yield
        except BaseException:
            wait([pending])  # the transaction rolls back once no statement runs
            raise
        pending.result()


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector, paused for the run.

    A run builds a few hundred statement trees (sqlglot nodes point at their parents, so only the
    collector frees them) while, where numba's JIT runs the kernels, numba loads its typing
    registries: together they set off full collections, each a walk over every object the process
    holds, 0.1 s apiece, 0.2-0.25 s of a 1% incremental run. The run's garbage is a few
    megabytes; it is collected once the run is done, by the collections that follow.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def resolve_identities(warehouse: Warehouse, settings: IdentitySettings) -> IdentityReport:
    """Attach every event ingested since the last run to its profile; one transaction."""
    report = IdentityReport()
    with _collector_paused(), freed_memory_reused(), warehouse.transaction():
        after = _scalar(warehouse, "SELECT MAX(last_seq) FROM identity_watermark") or 0
        last = _scalar(warehouse, "SELECT MAX(seq) FROM events") or 0
        if last <= after:
            return report
        if last - after >= MAX_RUN:  # before any work: seq numbers past the watermark go by as int32
            raise ValueError(TOO_LARGE)
        kernels = prepare_rules()
        extract_document_identifiers(warehouse)  # done already, unless events came in by other means
        for table in ("events", EXTRACTED):  # the new events were bulk-loaded since the last look
            warehouse.refresh_statistics(table)
        keyed = _number_nodes(warehouse, settings, after)
        kernels.result()
        replayed = _replay(warehouse, settings, after, keyed)
        report.events = len(replayed.event_seq)  # every event past the watermark went through the rules
        _write(warehouse, replayed, after, report)
        warehouse.execute(warehouse.parse("DELETE FROM identity_watermark"))
        warehouse.execute(warehouse.parse(
            "INSERT INTO identity_watermark (last_seq, updated_at) VALUES (:last, CURRENT_TIMESTAMP)", last=last))
        _drop_scratch(warehouse)
    return report


# ---- 1. identifiers, numbered ------------------------------------------------------------------


def _number_nodes(warehouse: Warehouse, settings: IdentitySettings, after: int) -> bool:
    """Number the run's identifiers (`NODES`). True when the observed ones are told apart by
    their key (`Warehouse.hash_key`), so observations are joined to their nodes on it."""
    # The events' own columns are read twice (for the distinct identifiers, then for each
    # event's) on a column store: storing tens of millions of observations cost DuckDB more than
    # that. A row store stores them.
    if not warehouse.columnar:
        _scratch(warehouse, OBSERVATIONS, "SELECT * FROM :observations AS o",
                 observations=_observation_query(warehouse, after))
    # The distinct identifiers observed, named; blocked values are kept but marked, so the check
    # of keys below covers every value an observation may hold.
    condition = blocked(settings, exp.column("id_type", table="d"), exp.column("id_value", table="d"))
    usable = exp.not_(exp.paren(condition)) if condition is not None else exp.true()
    key = _identifier_key(warehouse, "d")
    _scratch(warehouse, OBSERVED, """
        SELECT d.*, :usable AS usable, :key AS id_key
        FROM (SELECT type_code, custom_type, id_value, :type_name AS id_type
              FROM :observations AS o GROUP BY type_code, custom_type, id_value) AS d""",
             type_name=type_name(exp.column("type_code"), exp.column("custom_type")), usable=usable,
             key=key if key is not None else exp.cast(exp.null(), "BIGINT"),
             observations=_observations(warehouse, after))
    # Joining tens of millions of observations to their nodes on one number instead of the text
    # took 1.12-1.26 s instead of 1.46-1.79 s on 10M events. Should two identifiers ever share a
    # key, the run joins on the text.
    keyed = key is not None and _distinct(warehouse.fetch_arrays(warehouse.parse(
        "SELECT id_key FROM engage_observed"))["id_key"])
    # The stored profiles these identifiers already belong to, numbered from 0.
    # Where their rows lie is kept too (where the engine can say): the writes update those rows.
    # The identities are joined on their value alone, the type checked beside it (written so that
    # it stays a check, not a second key): DuckDB filters the scan by the keys of a join on one
    # column, so of 2M identities some 20k reach the join. On the 1% run: 0.048-0.050 s instead
    # of 0.056-0.057 (5 runs each, taking turns).
    _scratch(warehouse, STORED, """
        SELECT ROW_NUMBER() OVER (ORDER BY p.profile_id) - 1 AS profile_index, p.profile_id, p.created_at,
               p.updated_at, :row AS profile_row
        FROM profiles AS p
        WHERE p.profile_id IN (SELECT i.profile_id FROM identities AS i JOIN engage_observed AS o
                               ON i.id_value = o.id_value AND o.usable
                                  AND CASE WHEN i.id_type = o.id_type THEN TRUE END)""",
             row=_row(warehouse, "p"))
    # Every identifier the run can meet: the observed ones and all those of the touched profiles
    # (they count towards limits). Numbered by (priority, type, value), so node order is priority
    # order. (id_type, id_value) is unique among identities, so no row is listed twice.
    _scratch(warehouse, STORED_IDS, """
        SELECT i.id_type, i.id_value, i.first_seen, s.profile_index, :row AS identity_row
        FROM identities AS i JOIN engage_stored_profiles AS s ON s.profile_id = i.profile_id""",
             row=_row(warehouse, "i"))
    stored = exp.alias_(warehouse.temp_table(STORED_IDS), "s", table=True)
    identifiers = warehouse.parse("""
        SELECT o.id_type, o.id_value, o.type_code, o.custom_type, 1 AS observed, s.profile_index, s.first_seen,
               s.identity_row, o.id_key
        FROM engage_observed AS o LEFT JOIN :stored ON s.id_type = o.id_type AND s.id_value = o.id_value
        WHERE o.usable
        UNION ALL
        SELECT s.id_type, s.id_value, NULL, NULL, 0, s.profile_index, s.first_seen, s.identity_row, NULL FROM :stored
        WHERE NOT EXISTS (SELECT 1 FROM engage_observed AS o
                          WHERE o.id_type = s.id_type AND o.id_value = s.id_value AND o.usable)""", stored=stored)
    warehouse.numbered_scratch(NODES, identifiers, [priority_rank(settings), exp.column("id_type"),
                                                    exp.column("id_value")], "node")
    return keyed


def _distinct(keys: np.ndarray) -> bool:
    """No two of `keys` are equal. (Sorted in numpy: 0.06 s for 2M keys, where COUNT(DISTINCT)
    took 0.23 s.)"""
    keys.sort()
    return not bool(np.any(keys[1:] == keys[:-1]))


def _identifier_key(warehouse: Warehouse, alias: str) -> exp.Expression | None:
    """The key of an identifier (type code, custom type, value) of the table aliased `alias`."""
    return warehouse.hash_key(*[exp.column(c, table=alias) for c in IDENTIFIER_COLUMNS])


def _row(warehouse: Warehouse, alias: str) -> exp.Expression:
    """Where a row of `alias` lies (`Warehouse.row_locator`), or NULL where the engine cannot say."""
    return warehouse.row_locator(alias) or exp.null()


def _same_row(warehouse: Warehouse, table: str, keys: tuple[str, ...], located: str,
              row: str) -> exp.Expression:
    """`table`'s row is the one `located` names: by where it lies (`row`), else by its `keys`."""
    locator = warehouse.row_locator(table)
    if locator is not None:
        return locator.eq(exp.column(row, table=located))
    return exp.and_(*[exp.column(k, table=table).eq(exp.column(k, table=located)) for k in keys])


def _observation_query(warehouse: Warehouse, after: int) -> exp.Subquery:
    return observations(warehouse, after).subquery(copy=False)


def _observations(warehouse: Warehouse, after: int) -> exp.Expression:
    """The run's observations: the query on a column store; on a row store, the table
    `_number_nodes` stores it in."""
    return _observation_query(warehouse, after) if warehouse.columnar else warehouse.temp_table(OBSERVATIONS)


# ---- 2. the ordered rules --------------------------------------------------------------------


@dataclass
class Rows:
    """The rows the writes load into scratch tables, worked out from the results in numpy (while
    the warehouse may still be narrowing traits beside the kernels). Index arrays are marked
    into boolean arrays and listed, not np.unique'd: np.unique took 0.2 s on a million calls."""

    referenced: np.ndarray  # seq of every event the results name (creating, attaching, merging, latest)
    # (node, profile_index) of the user ids seen, when events are written by them (none when user
    # ids are not always their events' top node: `_user_nodes_on_top`)
    users: dict[str, np.ndarray]
    by_seq: dict[str, np.ndarray]  # (seq, profile_index) in seq order of the events written by seq
    gone: dict[str, np.ndarray]  # (old_index, new_index): stored profiles merged away, and their survivor
    calls: dict[str, np.ndarray]  # (node, profile_index): the top nodes of identify calls, and their profile
    touched: dict[str, np.ndarray]  # (profile_index, weighed): profiles that got identify calls or absorbed others
    settled: bool  # `refresh_traits`' settled
    replaced: bool  # `refresh_traits`' replaced
    latest: dict[str, np.ndarray]  # (profile_index, seq): each profile's latest event of the run
    created: dict[str, np.ndarray]  # (profile_index, seq): profiles created in the run (survivors)
    attached: dict[str, np.ndarray]  # (node, profile_index, first_seq, last_us): identifiers attached
    seen: dict[str, np.ndarray]  # (node, last_us): stored identifiers seen again
    merges: dict[str, np.ndarray]  # (merged, into_index, seq)
    resolved: int  # events with a profile


def _rows(result: Replay, event_seq: np.ndarray, event_us: np.ndarray, call_nodes: np.ndarray, call_us: np.ndarray,
          stored_updated_us: np.ndarray, user_nodes: int, by_user_id: np.ndarray, narrowed: bool) -> Rows:
    named = np.zeros(len(event_seq), bool)
    for events in (result.created_event, result.attached_event, result.latest_event, result.merge_event):
        named[events[events >= 0]] = True
    users = np.flatnonzero(result.last_event[:user_nodes] >= 0)  # seen in this run
    seqs, profiles = in_seq_order(event_seq, np.where(by_user_id, -1, result.event_profile))
    index = np.arange(len(result.root))
    gone = np.flatnonzero((result.created_event < 0) & (result.root != index))
    # A call belongs to the profile its top node ends in (as every event does).
    called = np.zeros(len(result.owner), bool)
    called[call_nodes] = True
    nodes = np.flatnonzero(called)
    node_profiles = result.root[result.owner[nodes]]
    touched = np.zeros(len(result.root), bool)
    touched[result.root[result.merged_into]] = True
    touched[node_profiles] = True
    # Profiles whose traits are weighed from every call they hold (`refresh_traits`): those that
    # absorbed a stored profile, and stored ones that got a call older than their last activity.
    stored = len(stored_updated_us)
    weighed = np.zeros(len(result.root), bool)
    weighed[result.root[result.merged[result.merged < stored]]] = True
    call_profiles = result.root[result.owner[call_nodes]]
    if stored:
        late = (call_profiles < stored) & (call_us < stored_updated_us[np.minimum(call_profiles, stored - 1)])
        weighed[call_profiles[late]] = True
    touched_index = np.flatnonzero(touched)
    with_latest = np.flatnonzero(result.latest_event >= 0)
    created = np.flatnonzero((result.created_event >= 0) & (result.root == index))
    attached = np.flatnonzero(result.attached_event >= 0)
    seen = np.flatnonzero((result.attached_event < 0) & (result.last_event >= 0) & (result.owner >= 0))
    return Rows(
        referenced=event_seq[named],
        users={"node": users, "profile_index": result.root[result.owner[users]]},
        by_seq={"seq": seqs, "profile_index": profiles},
        gone={"old_index": gone, "new_index": result.root[gone]},
        calls={"node": nodes, "profile_index": node_profiles},
        touched={"profile_index": touched_index, "weighed": weighed[touched_index].astype(np.int64)},
        # The run met no stored profile (whose calls of earlier runs count too), and no profile has
        # calls under two top nodes: the latest per top node is the latest per profile.
        settled=narrowed and bool(np.bincount(node_profiles, minlength=1).max() <= 1),
        replaced=bool(np.any(touched[:stored] & ~weighed[:stored])),
        latest={"profile_index": with_latest, "seq": event_seq[result.latest_event[with_latest]]},
        created={"profile_index": created, "seq": event_seq[result.created_event[created]]},
        attached={"node": attached, "profile_index": result.root[result.owner[attached]],
                  "first_seq": event_seq[result.attached_event[attached]],
                  "last_us": event_us[result.last_event[attached]]},
        seen={"node": seen, "last_us": event_us[result.last_event[seen]]},
        merges={"merged": result.merged, "into_index": result.merged_into, "seq": event_seq[result.merge_event]},
        resolved=int(np.count_nonzero(result.event_profile >= 0)))


@dataclass
class Replayed:
    result: Replay
    event_seq: np.ndarray  # each event's seq, in the order the rules took them (time)
    narrowed: bool  # the run's identify traits were narrowed to the latest per top node (`traits.BY_NODE`)
    rows: Rows


def _replay(warehouse: Warehouse, settings: IdentitySettings, after: int, keyed: bool) -> Replayed:
    """Run the events through the rules. Meanwhile, when the run meets no stored profile, the
    warehouse narrows the run's identify traits down to the latest per top node
    (`traits.latest_by_node`): without calls of earlier runs to weigh, that is often all there is
    to do. A run that meets stored profiles takes every entry of its calls afterwards."""
    # Sorted on the moment as a number, not as a timestamp (the same order): 10M events went
    # 0.87-1.04 -> 0.74-0.75 s.
    events = warehouse.fetch_arrays(warehouse.parse(
        "SELECT seq, us FROM (SELECT seq, :us AS us FROM events WHERE seq > :after) AS e ORDER BY us, seq",
        us=warehouse.epoch_us(exp.column("timestamp", quoted=True)), after=after))
    event_seq, event_us = events["seq"], events["us"]
    types = warehouse.fetchall(warehouse.parse(
        "SELECT id_type, MIN(node), MAX(node) FROM engage_nodes GROUP BY id_type ORDER BY MIN(node)"))
    count = types[-1][2] + 1 if types else 0  # nodes are numbered 0, 1, … with no gap
    if count >= MAX_RUN:
        raise ValueError(TOO_LARGE)
    # Both columns fit int32 (seq counted from the watermark): DuckDB hands 19M such rows over in
    # 0.27 s, against 0.44 s as int64.
    same = (exp.column("id_key", table="n").eq(_identifier_key(warehouse, "o")) if keyed else
            exp.and_(*[exp.column(c, table="n").eq(exp.column(c, table="o")) for c in IDENTIFIER_COLUMNS]))
    observed = warehouse.fetch_arrays(warehouse.parse("""
        SELECT CAST(o.seq - :after AS INTEGER) AS seq, CAST(n.node AS INTEGER) AS node FROM :observations AS o
        JOIN engage_nodes AS n ON :same AND n.observed = 1""",
        after=after, same=same, observations=_observations(warehouse, after)))
    # The identify calls in the order of their moments (ties by seq): a call's place in it, its
    # rank, orders calls as (timestamp, seq) does, in one number (`traits.latest_by_node`).
    calls = warehouse.fetch_arrays(warehouse.parse("""
        SELECT seq, us FROM (SELECT seq, :us AS us FROM events
                             WHERE seq > :after AND type = 'identify' AND traits IS NOT NULL) AS c
        ORDER BY us, seq""", us=warehouse.epoch_us(exp.column("timestamp", quoted=True)), after=after))
    call_nodes = top_nodes(observed["seq"], observed["node"], calls["seq"] - after)
    with_node = call_nodes >= 0  # no identifier: no profile
    calls, call_us, call_nodes = calls["seq"][with_node], calls["us"][with_node], call_nodes[with_node]
    call_rank = np.flatnonzero(with_node)
    node_type = np.empty(count, np.int64)
    for index, (_, low, high) in enumerate(types):  # a type's nodes are contiguous (sorted by type)
        node_type[low:high + 1] = index
    limits = np.array([settings.limit(t) for t, _, _ in types], np.int64)
    periods = np.array([PERIODS.index(settings.period(t)) for t, _, _ in types], np.int64)

    stored = warehouse.fetch_arrays(warehouse.parse(
        "SELECT node, profile_index, :us AS us FROM engage_nodes WHERE profile_index IS NOT NULL",
        us=warehouse.epoch_us(exp.column("first_seen"))))
    owner = np.full(count, -1, np.int64)
    first_us = np.zeros(count, np.int64)
    owner[stored["node"]] = stored["profile_index"]
    first_us[stored["node"]] = stored["us"]
    profiles = warehouse.fetch_arrays(warehouse.parse("""
        SELECT profile_index, :created AS created, :updated AS updated FROM engage_stored_profiles
        ORDER BY profile_index""", created=warehouse.epoch_us(exp.column("created_at")),
        updated=warehouse.epoch_us(exp.column("updated_at"))))
    stored_created = profiles["created"]

    user_nodes = _user_nodes_on_top(warehouse, types, after)
    call_table = warehouse.load_arrays(IDENTIFY_CALLS, {"seq": calls, "node": call_nodes, "rank": call_rank})
    narrowed = not len(stored_created)
    beside = _beside_kernels(warehouse, lambda: latest_by_node(warehouse, call_table)) if narrowed else nullcontext()

    def rows_of(result: Replay) -> Rows:
        return _rows(result, event_seq, event_us, call_nodes, call_us, profiles["updated"], user_nodes, by_user_id,
                     narrowed)

    with beside:
        event_start, obs_node = by_event(event_seq, observed["seq"], observed["node"], offset=after)
        del observed
        args = (event_start, event_us, obs_node, node_type, limits, periods, owner, first_us, stored_created)
        result = replay(*args)
        by_user_id = tops_below(event_start, obs_node, user_nodes)
        if not result.tie:
            # Worked out while the warehouse may still be narrowing traits: 0.15-0.25 s on 10M events.
            rows = rows_of(result)
    if result.tie:
        # Profiles created at the same moment were compared: the older is the smaller profile id.
        # (The results of the first pass are not worked into rows: this pass replaces them.)
        result = replay(*args, keys=_tie_keys(warehouse, result, event_seq))
        rows = rows_of(result)
    return Replayed(result, event_seq, narrowed, rows)


def _user_nodes_on_top(warehouse: Warehouse, types: list[tuple], after: int) -> int:
    """How many nodes are user ids, when an event carrying one has it as its top node and takes it
    from its user_id column: user_id ranks first, and no document names a user id (an external id
    of type user_id would make a second one, or one without the column). 0 otherwise."""
    if not types or types[0][0] != "user_id":
        return 0
    named = warehouse.fetchall(warehouse.parse(
        "SELECT COUNT(*) FROM event_identifiers WHERE seq > :after AND type_code = :user_id",
        after=after, user_id=BUILT_IN_TYPES.index("user_id")))[0][0]
    return 0 if named else types[0][2] + 1


def _tie_keys(warehouse: Warehouse, result: Replay, event_seq: np.ndarray) -> np.ndarray:
    """Keys ranking, by profile id, every profile that shares its creation moment with another."""
    moments, counts = np.unique(result.created_us, return_counts=True)
    tied = np.flatnonzero(np.isin(result.created_us, moments[counts > 1]))
    _profile_ids(warehouse, result, event_seq, only=tied)
    ids = dict(warehouse.fetchall(warehouse.parse("SELECT profile_index, profile_id FROM engage_profile_ids")))
    keys = np.zeros(len(result.created_us) + len(result.owner) + 1, np.int64)
    for rank, index in enumerate(sorted(ids, key=ids.__getitem__), start=1):
        keys[index] = rank
    return keys


def _profile_ids(warehouse: Warehouse, result: Replay, event_seq: np.ndarray, only: np.ndarray | None = None,
                 events: exp.Table | None = None) -> None:
    """engage_profile_ids(profile_index, profile_id) of every profile numbered (or of `only`):
    stored ones keep their id, created ones get the id derived from their creating message
    (read from `events`, by default the events table)."""
    indexes = np.arange(len(result.created_event)) if only is None else only
    created = result.created_event[indexes]
    # A stored profile has no creating event: seq -1 matches no event.
    seqs = np.where(created >= 0, event_seq[np.maximum(created, 0)] if len(event_seq) else -1, -1)
    warehouse.load_arrays(PROFILE_INDEX, {"profile_index": indexes, "seq": seqs})
    _scratch(warehouse, PROFILE_IDS, """
        SELECT x.profile_index, :profile_id AS profile_id
        FROM engage_profile_index AS x JOIN :events AS e ON e.seq = x.seq
        UNION ALL
        SELECT s.profile_index, s.profile_id
        FROM engage_stored_profiles AS s JOIN engage_profile_index AS x ON x.profile_index = s.profile_index""",
             events=events or warehouse.table("events"),
             profile_id=_profile_id(warehouse, exp.column("message_id", table="e")))


# ---- 3. writing the results --------------------------------------------------------------------


def _write(warehouse: Warehouse, replayed: Replayed, after: int, report: IdentityReport) -> None:
    result, rows = replayed.result, replayed.rows
    # The events the results name (creating, attaching, merging, latest), read once: every write
    # below joins this instead of the whole events table.
    warehouse.load_arrays(REFERENCED, {"seq": rows.referenced})
    _scratch(warehouse, EVENT_REFS, """
        SELECT e.seq, e."timestamp", e.message_id, e.source FROM events AS e
        JOIN engage_referenced AS r ON e.seq = r.seq""")
    _profile_ids(warehouse, result, replayed.event_seq, events=warehouse.temp_table(EVENT_REFS))
    # Each event belongs to the profile holding its highest-priority identifier (its final
    # profile: never one merged away, so the repointing below leaves these rows alone). Written
    # first: as the first write of a 10M-event run this UPDATE took 1.7 s, as the last 2.2-2.4 s
    # (though the run as a whole was no faster for it).
    # An event whose top identifier is its user_id belongs to that user id's profile: those events
    # are found by their user_id column, joined to the run's user ids (half a million on the
    # 10M-event run) rather than by seq to a row per event; the rest by seq. The hash joins build
    # on half a million and two million rows instead of ten million: on the 10M-event run the
    # UPDATEs went 1.25-1.4 -> 0.65-0.7 s, and the commit 0.85-0.9 -> 0.7 s.
    # Each UPDATE joins one scratch table holding the new ids, smaller than the run's events: the
    # engine builds on it and meets the events in the order they are stored in, which DuckDB
    # updates many times faster than rows met at random (with a second join in the UPDATE, a
    # small run was met profile by profile: 0.01 -> 0.4 s for 100k events).
    if len(rows.users["node"]):
        warehouse.load_arrays(USER_PROFILES, rows.users)
        _scratch(warehouse, USER_IDS, """
            SELECT n.id_value, ids.profile_id FROM engage_user_profiles AS u
            JOIN engage_nodes AS n ON n.node = u.node
            JOIN engage_profile_ids AS ids ON ids.profile_index = u.profile_index""")
        warehouse.execute(warehouse.parse("""
            UPDATE events SET profile_id = u.profile_id FROM engage_user_ids AS u
            WHERE u.id_value = :user_id AND events.seq > :after""", user_id=user_id_value("events"), after=after))
    warehouse.load_arrays(EVENT_PROFILES, rows.by_seq)
    _scratch(warehouse, EVENT_IDS, """
        SELECT x.seq, ids.profile_id FROM engage_event_profiles AS x
        JOIN engage_profile_ids AS ids ON ids.profile_index = x.profile_index""")
    warehouse.execute(warehouse.parse("""
        UPDATE events SET profile_id = x.profile_id FROM engage_event_ids AS x
        WHERE events.seq = x.seq AND events.seq > :after""", after=after))

    # Stored profiles merged away: every row of theirs now belongs to the survivor.
    gone = len(rows.gone["old_index"])
    if gone:
        warehouse.load_arrays(REPOINT_INDEX, rows.gone)
        _scratch(warehouse, REPOINT, """
            SELECT o.profile_id AS old_id, n.profile_id AS new_id FROM engage_repoint_index AS r
            JOIN engage_profile_ids AS o ON o.profile_index = r.old_index
            JOIN engage_profile_ids AS n ON n.profile_index = r.new_index""")
        repoint = exp.From(this=exp.alias_(warehouse.temp_table(REPOINT), "r", table=True))
        for table in _PROFILE_TABLES:
            warehouse.execute(exp.update(
                warehouse.table(table), {"profile_id": exp.column("new_id", table="r")}, from_=repoint.copy(),
                where=exp.column("profile_id", table=table).eq(exp.column("old_id", table="r"))))
        # The survivor's last activity is the latest of its own and of those it absorbed (set
        # once the survivor's row is written: it may be a profile created in this run).
        absorbed = warehouse.parse("""
            SELECT r.new_id AS profile_id, p.updated_at, p.last_message_id, p.last_source
            FROM engage_repoint AS r JOIN profiles AS p ON p.profile_id = r.old_id""")
        # (Message ids break ties between absorbed profiles: no two are equal.)
        latest = warehouse.latest_rows(absorbed, ["profile_id"], ["updated_at", "last_message_id"],
                                       ["updated_at", "last_message_id", "last_source"])
        warehouse.scratch(ABSORBED_RECENCY, latest)
        # Computed values and traits of a merged profile are recomputed on the survivor.
        merged_away = exp.select("old_id").from_(warehouse.temp_table(REPOINT))
        for table in ("computed_values", "profile_traits", "profiles"):
            warehouse.execute(exp.delete(warehouse.table(table),
                                         where=exp.column("profile_id").isin(query=merged_away.copy())))

    # Identify traits, of the profiles that got identify calls or absorbed others: once the
    # events' profiles are written and merged profiles' rows repointed, which is all they read.
    warehouse.load_arrays(CALL_PROFILES, rows.calls)
    warehouse.load_arrays(TOUCHED_INDEX, rows.touched)
    if replayed.narrowed:
        new_entries = warehouse.parse("""
            SELECT c.profile_index, t.key, t.value, t.ts, t.seq, t.position, t.message_id
            FROM engage_traits_by_node AS t JOIN engage_call_profiles AS c ON c.node = t.node""")
    else:
        new_entries = call_entries(warehouse, warehouse.parse("""
            SELECT x.seq, x.rank, c.profile_index FROM engage_identify_calls AS x
            JOIN engage_call_profiles AS c ON c.node = x.node"""))
    refresh_traits(warehouse, after, touched=warehouse.parse("""
        SELECT ids.profile_index, ids.profile_id, t.weighed = 1 AS weighed FROM engage_touched_index AS t
        JOIN engage_profile_ids AS ids ON ids.profile_index = t.profile_index"""), new_entries=new_entries,
                   settled=rows.settled, weighed=bool(rows.touched["weighed"].any()), replaced=rows.replaced)

    # Each profile's latest event of the run, for recency (roots only carry one).
    warehouse.load_arrays(LATEST, rows.latest)
    warehouse.load_arrays(CREATED, rows.created)
    warehouse.execute(warehouse.parse("""
        INSERT INTO profiles (profile_id, created_at, updated_at, first_message_id, last_message_id,
                              first_source, last_source)
        SELECT ids.profile_id, c."timestamp", l."timestamp", c.message_id, l.message_id, c.source, l.source
        FROM engage_created_profiles AS x
        JOIN engage_profile_ids AS ids ON ids.profile_index = x.profile_index
        JOIN engage_event_refs AS c ON c.seq = x.seq
        JOIN engage_latest_events AS y ON y.profile_index = x.profile_index
        JOIN engage_event_refs AS l ON l.seq = y.seq"""))
    # Stored profiles keep their id, and their rows were located when they were read.
    warehouse.execute(warehouse.parse("""
        UPDATE profiles SET updated_at = l."timestamp", last_message_id = l.message_id, last_source = l.source
        FROM engage_latest_events AS y
        JOIN engage_stored_profiles AS s ON s.profile_index = y.profile_index
        JOIN engage_event_refs AS l ON l.seq = y.seq
        WHERE :same_row AND profiles.updated_at <= l."timestamp" """,
        same_row=_same_row(warehouse, "profiles", ("profile_id",), "s", "profile_row")))
    if gone:
        # On the same moment the survivor's own activity stands.
        warehouse.execute(warehouse.parse("""
            UPDATE profiles SET updated_at = a.updated_at, last_message_id = a.last_message_id,
                                last_source = a.last_source
            FROM engage_absorbed_recency AS a
            WHERE profiles.profile_id = a.profile_id AND profiles.updated_at < a.updated_at"""))

    # Identifiers attached in this run, and the latest sighting of stored ones.
    warehouse.load_arrays(NODE_RESULTS, rows.attached)
    warehouse.execute(warehouse.parse("""
        INSERT INTO identities (profile_id, id_type, id_value, first_seen, last_seen, first_message_id, source)
        SELECT ids.profile_id, n.id_type, n.id_value, f."timestamp", :last_seen, f.message_id, f.source
        FROM engage_node_results AS r
        JOIN engage_nodes AS n ON n.node = r.node
        JOIN engage_profile_ids AS ids ON ids.profile_index = r.profile_index
        JOIN engage_event_refs AS f ON f.seq = r.first_seq""",
        last_seen=warehouse.from_epoch_us(exp.column("last_us", table="r"))))
    if len(rows.seen["node"]):
        warehouse.load_arrays(NODE_RESULTS, rows.seen)
        warehouse.execute(warehouse.parse("""
            UPDATE identities SET last_seen = s.ts
            FROM (SELECT n.id_type, n.id_value, n.identity_row, :last_seen AS ts FROM engage_node_results AS r
                  JOIN engage_nodes AS n ON n.node = r.node) AS s
            WHERE :same_row AND (identities.last_seen IS NULL OR identities.last_seen < s.ts)""",
            last_seen=warehouse.from_epoch_us(exp.column("last_us", table="r")),
            same_row=_same_row(warehouse, "identities", ("id_type", "id_value"), "s", "identity_row")))

    # Every merge, with the message that caused it (deliveries re-send and alias on merge).
    warehouse.load_arrays(MERGE_RESULTS, rows.merges)
    warehouse.execute(warehouse.parse("""
        INSERT INTO merges (merged_profile_id, into_profile_id, message_id, merged_at)
        SELECT a.profile_id, b.profile_id, e.message_id, e."timestamp"
        FROM engage_merge_results AS m
        JOIN engage_profile_ids AS a ON a.profile_index = m.merged
        JOIN engage_profile_ids AS b ON b.profile_index = m.into_index
        JOIN engage_event_refs AS e ON e.seq = m.seq"""))

    report.resolved_events += rows.resolved
    report.profiles_created += len(rows.created["profile_index"])
    report.identities_added += len(rows.attached["node"])
    report.merges += len(result.merged)
