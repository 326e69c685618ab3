"""From a run's changes to deliveries: bindings, fan-out per identifier, id_sync, re-sends.

Reads the warehouse contract tables (`changes`, `identities`, `merges`, `computed_values`,
`runs`) with sqlglot expressions, page by page, and writes deliveries with deterministic
message ids, so enqueueing the same run twice queues nothing new (PRODUCT.md §3).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlglot.expressions as exp

from engagectl.config.models import DestinationBinding, TrackNames
from engagectl.sync import messages as m
from engagectl.sync.provider import ALIAS, LIST_ADD, LIST_REMOVE, Capabilities
from engagectl.sync.queue import DeliveryQueue

PAGE = 5000
# Identifier types sent when a binding has no id_sync (Segment: the default identifiers).
DEFAULT_TYPES = ("user_id", "email", "phone")


@dataclass(frozen=True)
class Route:
    """One computation bound to one destination."""

    computation: m.Computation
    include_anonymous: bool
    binding: DestinationBinding
    destination: str
    capabilities: Capabilities

    @property
    def is_list(self) -> bool:
        return self.capabilities.destination_type == "list"

    @property
    def add_only(self) -> bool:
        """Journey lists are add-only: a profile is never removed from a step's list."""
        return self.computation.kind == "journey_step"


def routes_of(project: Any) -> dict[str, list[Route]]:
    """Every computation key with the destinations it is bound to."""
    from providers.registry import load_provider

    space = project.settings.space
    routes: dict[str, list[Route]] = defaultdict(list)

    def add(key: str, kind: str, include_anonymous: bool, bindings: list[DestinationBinding]) -> None:
        for binding in bindings:
            destination = project.get("destination", binding.to)
            if destination is None or destination.sources:
                continue  # validation reports it; a forwarding destination never receives computations
            capabilities = load_provider(destination.provider).capabilities
            if capabilities.destination_type == "list" and kind in ("computed_trait", "sql_trait"):
                continue  # list destinations take audiences only
            routes[key].append(Route(m.Computation(key, kind, space), include_anonymous, binding,
                                     destination.key, capabilities))

    for resource in project.resources.values():
        kind = resource.kind
        if kind in ("audience", "computed_trait", "sql_trait"):
            # A SQL trait keyed by anonymous_id is about anonymous visitors: send to those ids too.
            anonymous = (resource.identifier == "anonymous_id" if kind == "sql_trait"
                         else resource.include_anonymous)
            add(resource.key, kind, anonymous, resource.bindings())
        elif kind == "journey":
            for step in resource.steps:
                add(resource.step_audience_key(step), "journey_step", resource.include_anonymous, step.bindings())
    return routes


@dataclass
class Identity:
    id_type: str
    id_value: str
    first_seen: Any


class Identities:
    """A profile's identifiers, oldest first."""

    def __init__(self, rows: list[Identity]):
        self.rows = rows

    def values(self, id_type: str) -> list[str]:
        return [r.id_value for r in self.rows if r.id_type == id_type]

    def by_type(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = defaultdict(list)
        for row in self.rows:
            out[row.id_type].append(row.id_value)
        return dict(out)

    def recipients(self, route: Route, exiting: bool, only: set[tuple[str, str]] | None = None) -> list[m.Recipient]:
        """One recipient per identifier value, by the binding's id_sync (exits go to all)."""
        user_ids, anonymous_ids = self.values("user_id"), self.values("anonymous_id")
        chosen: list[tuple[str, str]] = []
        types = list(DEFAULT_TYPES) + (["anonymous_id"] if route.include_anonymous else [])
        id_sync = route.binding.id_sync
        if id_sync and not exiting:
            for id_type, strategy in id_sync.items():
                values = self.values(id_type)
                picked = values[:1] if strategy == "first" else values[-1:] if strategy == "last" else values
                chosen += [(id_type, v) for v in picked]
        else:
            if id_sync:
                types += [t for t in id_sync if t not in types]
            chosen = [(r.id_type, r.id_value) for r in self.rows if r.id_type in types]
        if only is not None:
            chosen = [c for c in chosen if c in only]
        first_user = user_ids[0] if user_ids else None
        first_anonymous = anonymous_ids[0] if anonymous_ids else None
        return [m.Recipient(t, v, first_user, first_anonymous) for t, v in dict.fromkeys(chosen)]


def _value(text: Any) -> Any:
    if text is None:
        return None
    if isinstance(text, str):
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def _naive(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, datetime) and value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


class RunEnqueuer:
    """Turns one run into deliveries."""

    def __init__(self, project: Any, queue: DeliveryQueue, warehouse: Any, run_id: str, now: datetime):
        self.project = project
        self.queue = queue
        self.warehouse = warehouse
        self.run_id = run_id
        self.now = now
        self.routes = routes_of(project)

    # ---------------------------------------------------------------- warehouse reads

    def table(self, name: str) -> exp.Table:
        return self.warehouse.table(name)

    def identities(self, profile_ids: Iterable[str]) -> dict[str, Identities]:
        ids = sorted(set(profile_ids))
        out: dict[str, list[Identity]] = defaultdict(list)
        for start in range(0, len(ids), 1000):
            chunk = ids[start:start + 1000]
            query = (
                exp.select("profile_id", "id_type", "id_value", "first_seen")
                .from_(self.table("identities"))
                .where(exp.column("profile_id").isin(*[exp.Literal.string(p) for p in chunk]))
                .order_by("profile_id", "first_seen", "id_value")
            )
            for profile_id, id_type, id_value, first_seen in self.warehouse.fetchall(query):
                out[profile_id].append(Identity(id_type, id_value, first_seen))
        return {p: Identities(rows) for p, rows in out.items()}

    def changes(self) -> Iterator[list[tuple]]:
        """The run's changes of bound computations, a page at a time (keyset on change_id)."""
        keys = sorted(self.routes)
        if not keys:
            return
        last = None
        while True:
            query = (
                exp.select("change_id", "profile_id", "computation_key", "change", "new_value", "as_of")
                .from_(self.table("changes"))
                .where(exp.column("run_id").eq(exp.convert(self.run_id)))
                .where(exp.column("computation_key").isin(*[exp.Literal.string(k) for k in keys]))
                .order_by("change_id")
                .limit(PAGE)
            )
            if last is not None:
                query = query.where(exp.column("change_id") > exp.convert(last))
            rows = self.warehouse.fetchall(query)
            if not rows:
                return
            yield rows
            last = rows[-1][0]

    def run_as_of(self) -> tuple[datetime | None, datetime | None]:
        """This run's as-of and the previous run's (new identifiers appeared in between)."""
        runs = self.table("runs")
        row = self.warehouse.fetchall(
            exp.select("as_of").from_(runs).where(exp.column("run_id").eq(exp.convert(self.run_id))))
        if not row:
            return None, None
        as_of = row[0][0]
        previous = self.warehouse.fetchall(
            exp.select(exp.func("max", exp.column("as_of"))).from_(runs).where(exp.column("as_of") < exp.convert(as_of)))
        return _naive(as_of), _naive(previous[0][0]) if previous and previous[0][0] is not None else None

    # ---------------------------------------------------------------- building deliveries

    def messages_for(self, route: Route, value: Any, exiting: bool, recipients: list[m.Recipient],
                     at: datetime, id_parts: tuple) -> Iterator[dict[str, Any]]:
        binding = route.binding
        caps = route.capabilities
        identify_on = binding.identify and caps.identify
        track_names: TrackNames | None = binding.track_names if caps.track else None
        builder = m.audience_messages if route.computation.kind in ("audience", "journey_step") else m.trait_messages
        for recipient in recipients:
            for kind, payload in builder(route.computation, value, recipient, identify_on, track_names, at, id_parts):
                yield self.row(route, kind, payload["messageId"], payload)

    def row(self, route: Route, kind: str, message_id: str, payload: dict) -> dict[str, Any]:
        return {"message_id": message_id, "destination": route.destination, "computation_key": route.computation.key,
                "run_id": self.run_id, "kind": kind, "payload": json.dumps(payload, separators=(",", ":"), default=str)}

    def list_row(self, route: Route, action: str, profile_id: str, identities: Identities, at: datetime,
                 id_parts: tuple) -> dict[str, Any] | None:
        ids = identities.by_type()
        if not any(ids.get(t) for t in ("email", "phone", "user_id")):
            return None
        payload = m.list_member(route.computation, action, profile_id, ids, at)
        kind = LIST_ADD if action == "add" else LIST_REMOVE
        return self.row(route, kind, m.message_id(*id_parts, action), payload)

    def first_list_syncs(self) -> set[tuple[str, str]]:
        """List bindings never synced before: they get every current member, not the changes."""
        pending = set()
        for key, routes in self.routes.items():
            for route in routes:
                first_run = self.queue.list_binding_first_run(route.destination, key) if route.is_list else ""
                if route.is_list and first_run in (None, self.run_id):
                    pending.add((route.destination, key))
        return pending

    def change_rows(self, full_sync: set[tuple[str, str]]) -> Iterator[dict[str, Any]]:
        for page in self.changes():
            identities = self.identities(row[1] for row in page)
            for change_id, profile_id, key, change, new_value, as_of in page:
                profile = identities.get(profile_id)
                if profile is None:
                    continue
                at = _naive(as_of)
                for route in self.routes.get(key, []):
                    parts = (route.destination, key, profile_id, change_id)
                    if route.is_list:
                        if (route.destination, key) in full_sync or change == "changed":
                            continue
                        if change == "exited" and route.add_only:
                            continue
                        row = self.list_row(route, "add" if change == "entered" else "remove", profile_id, profile,
                                            at, parts)
                        if row is not None:
                            yield row
                        continue
                    exiting = change == "exited"
                    if route.computation.kind in ("audience", "journey_step"):
                        value: Any = not exiting
                    else:
                        value = _value(new_value)
                    yield from self.messages_for(route, value, exiting, profile.recipients(route, exiting), at, parts)

    def current_members(self, key: str) -> Iterator[list[tuple[str, Any]]]:
        """Current (profile_id, value) of a computation, a page at a time."""
        last = None
        while True:
            query = (
                exp.select("profile_id", "value").from_(self.table("computed_values"))
                .where(exp.column("computation_key").eq(exp.Literal.string(key)))
                .order_by("profile_id").limit(PAGE)
            )
            if last is not None:
                query = query.where(exp.column("profile_id") > exp.Literal.string(last))
            rows = self.warehouse.fetchall(query)
            if not rows:
                return
            yield rows
            last = rows[-1][0]

    def full_sync_rows(self, destination: str, key: str, at: datetime) -> Iterator[dict[str, Any]]:
        route = next(r for r in self.routes[key] if r.destination == destination)
        for page in self.current_members(key):
            members = [p for p, v in page if _value(v) is True]
            identities = self.identities(members)
            for profile_id in members:
                if profile_id in identities:
                    row = self.list_row(route, "add", profile_id, identities[profile_id], at,
                                        (destination, key, profile_id, "first_sync"))
                    if row is not None:
                        yield row

    def current_value(self, key: str, profile_id: str) -> tuple[bool, Any]:
        rows = self.warehouse.fetchall(
            exp.select("value").from_(self.table("computed_values"))
            .where(exp.column("computation_key").eq(exp.Literal.string(key)))
            .where(exp.column("profile_id").eq(exp.Literal.string(profile_id))))
        return (bool(rows), _value(rows[0][0]) if rows else None)

    def resend_rows(self, profile_id: str, identities: Identities, reason: tuple, at: datetime,
                    only: set[tuple[str, str]] | None = None) -> Iterator[dict[str, Any]]:
        """The profile's current values again, after a merge or for newly seen identifiers."""
        for key, routes in self.routes.items():
            found, value = self.current_value(key, profile_id)
            if not found:
                continue
            is_audience = routes[0].computation.kind in ("audience", "journey_step")
            if is_audience and value is not True:
                continue
            for route in routes:
                parts = (route.destination, key, profile_id, *reason)
                if route.is_list:
                    row = self.list_row(route, "add", profile_id, identities, at, parts)
                    if row is not None:
                        yield row
                    continue
                recipients = identities.recipients(route, exiting=False, only=only)
                yield from self.messages_for(route, True if is_audience else value, False, recipients, at, parts)

    def merge_rows(self, at: datetime | None) -> Iterator[dict[str, Any]]:
        merges = self.warehouse.fetchall(
            exp.select("merged_profile_id", "into_profile_id", "message_id", "merged_at")
            .from_(self.table("merges")).where(exp.column("run_id").eq(exp.convert(self.run_id)))
            .order_by("merged_at", "message_id"))
        if not merges:
            return
        identities = self.identities(row[1] for row in merges)
        alias_destinations = sorted({r.destination for routes in self.routes.values() for r in routes
                                     if r.capabilities.alias})
        for merged, into, merge_message, merged_at in merges:
            profile = identities.get(into)
            if profile is None:
                continue
            when = at or _naive(merged_at)
            user_ids = profile.values("user_id")
            if user_ids:
                previous = user_ids[1:] + profile.values("anonymous_id")
                for destination in alias_destinations:
                    for previous_id in previous:
                        mid = m.message_id(destination, "alias", merge_message, into, previous_id)
                        payload = m.alias(mid, user_ids[0], previous_id, self.project.settings.space, when)
                        yield {"message_id": mid, "destination": destination, "computation_key": None,
                               "run_id": self.run_id, "kind": ALIAS,
                               "payload": json.dumps(payload, separators=(",", ":"))}
            yield from self.resend_rows(into, profile, ("merge", merge_message, merged), when)

    def new_identifier_rows(self, as_of: datetime | None, previous: datetime | None) -> Iterator[dict[str, Any]]:
        """Identifiers first seen since the previous run get the profile's current values."""
        if as_of is None or previous is None:
            return
        changes, identities_t = self.table("changes"), self.table("identities")
        changed = exp.select("profile_id").from_(changes).where(exp.column("run_id").eq(exp.convert(self.run_id)))
        merged = exp.select("into_profile_id").from_(self.table("merges")).where(
            exp.column("run_id").eq(exp.convert(self.run_id)))
        query = (
            exp.select("profile_id", "id_type", "id_value").from_(identities_t)
            .where(exp.column("first_seen") > exp.cast(exp.Literal.string(previous.isoformat(sep=" ")), "timestamp"))
            .where(exp.column("first_seen") <= exp.cast(exp.Literal.string(as_of.isoformat(sep=" ")), "timestamp"))
            .where(exp.not_(exp.column("profile_id").isin(query=changed)))
            .where(exp.not_(exp.column("profile_id").isin(query=merged)))
            .order_by("profile_id")
        )
        fresh: dict[str, set[tuple[str, str]]] = defaultdict(set)
        for profile_id, id_type, id_value in self.warehouse.fetchall(query):
            fresh[profile_id].add((id_type, id_value))
        if not fresh:
            return
        identities = self.identities(fresh)
        for profile_id, new_ids in fresh.items():
            if profile_id in identities:
                yield from self.resend_rows(profile_id, identities[profile_id], ("identifier", self.run_id), as_of,
                                            only=new_ids)

    def steps(self) -> list[tuple[str, Callable[[], Iterator[dict[str, Any]]]]]:
        """The enqueue task's steps, in order; each is idempotent (deterministic message ids)."""
        full_sync = self.first_list_syncs()
        as_of, previous = self.run_as_of()

        def full_syncs() -> Iterator[dict[str, Any]]:
            for destination, key in sorted(full_sync):
                yield from self.full_sync_rows(destination, key, as_of or self.now)

        return [
            ("changes", lambda: self.change_rows(full_sync)),
            ("list_first_syncs", full_syncs),
            ("merges", lambda: self.merge_rows(as_of)),
            ("new_identifiers", lambda: self.new_identifier_rows(as_of, previous)),
        ]


def enqueue_run(project: Any, state: Any, warehouse: Any, run_id: str, clock: Any = None) -> int:
    """Queue the deliveries of a run's changes; the number newly queued (0 when repeated).

    The work is a task of steps (changes, list first syncs, merges, new identifiers) recorded in
    the state, so a `sync` after a crash finishes an interrupted enqueue (`resume_enqueues`).
    """
    from engagectl.sync.clock import SystemClock
    from engagectl.sync.queue import open_queue

    now = (clock or SystemClock()).now()
    queue = open_queue(state, project.directory)
    try:
        enqueuer = RunEnqueuer(project, queue, warehouse, run_id, now)
        full_sync = enqueuer.first_list_syncs()
        steps = enqueuer.steps()
        task_id = queue.open_enqueue_task(run_id, [name for name, _ in steps], now)
        done = queue.completed_steps(task_id)
        count = 0
        for name, rows in steps:
            if name in done:
                continue
            count += queue.enqueue(rows(), now)
            with queue.engine.begin() as conn:
                queue.complete_step(conn, task_id, name, now)
        for destination, key in full_sync:
            queue.mark_list_binding(destination, key, run_id, now)
        queue.finish_task(task_id, now)
        return count
    finally:
        queue.close()


def resume_enqueues(project: Any, state: Any, open_warehouse: Callable[[], Any], clock: Any = None) -> int:
    """Finish every enqueue a crash interrupted; the number of deliveries it queued."""
    from engagectl.sync.queue import open_queue

    queue = open_queue(state, project.directory)
    try:
        runs = queue.open_enqueue_runs()
    finally:
        queue.close()
    if not runs:
        return 0
    warehouse = open_warehouse()
    try:
        return sum(enqueue_run(project, state, warehouse, run_id, clock) for run_id in runs)
    finally:
        warehouse.close()
