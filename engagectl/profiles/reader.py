"""Profile reads in the Profile API's shapes (segment-engage-spec.md §4.3).

Every method takes an identifier (`email`, `bob@example.com`), finds the canonical profile that
holds it (lookups use lower-cased values, as Segment's), and returns the route's JSON body.

The Profile API repeats these few reads for every request, so each is a prepared statement of the
warehouse (rendered once, values bound by the driver), and on Postgres each lookup hits an index
(layout.LOOKUP_INDEXES). A lookup is one equality with a value, the only filter DuckDB answers from
an index: identifiers are found by value alone and their type checked here. The server on DuckDB
answers `/traits` from a read model instead (`read_model.py`); both build the body in
`traits_body`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from engagectl.diagnostics import EngageError
from engagectl.warehouse import Warehouse

# computed_values.kind values shown by `class=`; every other kind is shown only unfiltered.
CLASSES = ("audience", "computed_trait")
SQL_TRAIT_KIND = "sql_trait"
# /events shows only this much history, as Segment's does (segment-engage-spec.md §4.2).
EVENTS_WINDOW = timedelta(days=14)
PROFILE_ID_TYPES = ("profile_id", "segment_id")

# The /traits statements: (origin, key, kind, value, updated_at, source) rows of the profile
# `{profile}` (`:p`, or the profile of an identifier: see `traits`).
_COMPUTED = """
    SELECT 'computed' AS origin, computation_key AS key, kind, value, updated_at, NULL AS source
    FROM computed_values WHERE profile_id = {profile}"""
_TRAITS = """
    SELECT 'trait', key, NULL, value, updated_at, NULL FROM profile_traits WHERE profile_id = {profile}"""
_TRAITS_WITH_SOURCE = """
    SELECT 'trait', t.key, NULL, t.value, t.updated_at, e.source FROM profile_traits AS t
    LEFT JOIN events AS e ON e.message_id = t.message_id WHERE t.profile_id = {profile}"""
_PROFILE_OF_IDENTIFIER = "(SELECT profile_id FROM identities WHERE id_type = :t AND id_value = :v LIMIT 1)"
# The profile itself, first: a row even when it has no values, NULL when no profile holds the id.
_FOUND = """
    SELECT 'profile' AS origin, {profile} AS key, NULL AS kind, NULL AS value, NULL AS updated_at,
    NULL AS source"""


class ProfileNotFound(EngageError):
    """No profile holds the identifier."""

    def __init__(self, message: str = "Profile was not found.") -> None:
        super().__init__(message)


def iso(moment: Any) -> str | None:
    """UTC timestamps as ISO-8601 with a `Z`, the way the Profile API prints them."""
    if moment is None:
        return None
    if isinstance(moment, str):
        return moment
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _json(value: Any) -> Any:
    if value is None or not isinstance(value, str):
        return value
    return json.loads(value)


def _page(keys: list, limit: int, next_key: str | None) -> tuple[list, bool, str]:
    """Keys from `next_key` on, `limit` of them; whether more follow and the next page's key."""
    if next_key:
        keys = [k for k in keys if str(k) >= next_key]
    page = keys[:limit]
    more = len(keys) > limit
    return page, more, (str(keys[limit]) if more else "")


def traits_body(url: str, rows: Sequence[tuple], include: list[str] | None, cls: str | None, limit: int,
                next: str | None, verbose: bool) -> dict:
    """The `/traits` body of one profile from its (origin, key, kind, value, updated_at, source) rows.

    `origin` is `trait` (an identify trait, `source` its message's source) or `computed` (a row of
    `computed_values`, `kind` its class); values are JSON text. Computed values win over identify
    traits of the same name; `class=` shows only computed values of that kind; a SQL trait's value
    is an object whose columns are traits of their own. The warehouse reader and the server's read
    model both answer through here, so their bodies cannot drift apart.
    """
    wanted = None if include is None else set(include)
    values: dict[str, tuple[Any, str | None, Any]] = {}  # key → (value, source, updated_at)
    if cls is None:
        for origin, key, _kind, value, updated_at, source in rows:
            if origin == "trait" and (wanted is None or key in wanted):
                values[key] = (_json(value), source, updated_at)
    for origin, key, kind, value, updated_at, _source in rows:
        if origin != "computed" or (cls is not None and kind != cls):
            continue
        if kind == SQL_TRAIT_KIND and isinstance(parsed := _json(value), dict):
            columns = parsed.items()
        elif wanted is None or key in wanted:
            columns = ((key, _json(value)),)  # parsed only when shown
        else:
            continue
        for column, column_value in columns:
            if wanted is None or column in wanted:
                values[column] = (column_value, "engage", updated_at)
    page, more, next_key = _page(sorted(values), limit, next)
    if verbose:
        traits = {k: {"value": values[k][0], "source_id": values[k][1], "updated_at": iso(values[k][2])}
                  for k in page}
    else:
        traits = {k: values[k][0] for k in page}
    return {"traits": traits, "cursor": {"url": url, "has_more": more, "next": next_key, "limit": limit}}


class ProfileReader:
    def __init__(self, warehouse: Warehouse, space: str) -> None:
        self.warehouse = warehouse
        self.space = space

    # ---- lookups -------------------------------------------------------------------------------

    def _query(self, name: str, template: str, **params: Any) -> list[tuple]:
        """Rows of one of the reader's statements (Postgres syntax, `:name` placeholders)."""
        return self.warehouse.prepared(f"profiles.{name}", lambda: self.warehouse.parse(template)).fetchall(**params)

    def _query_dicts(self, name: str, template: str, **params: Any) -> list[dict]:
        return self.warehouse.prepared(f"profiles.{name}", lambda: self.warehouse.parse(template)).fetch_dicts(
            **params)

    def profile_id(self, id_type: str, id_value: str) -> str:
        """The canonical profile holding `id_type:id_value`; ProfileNotFound otherwise."""
        id_type = id_type.strip().lower()
        if id_type in PROFILE_ID_TYPES:
            rows = self._query("profile", "SELECT profile_id FROM profiles WHERE profile_id = :v", v=id_value)
        else:
            # By value alone, the indexed column; the type is checked here (few values share one).
            rows = [(profile_id,) for profile_id, kind in self._query(
                "identity", "SELECT profile_id, id_type FROM identities WHERE id_value = :v",
                v=id_value.strip().lower()) if kind == id_type]
        if not rows:
            raise ProfileNotFound()
        return rows[0][0]

    def _url(self, profile_id: str, route: str) -> str:
        return f"/v1/spaces/{self.space}/collections/users/profiles/{profile_id}/{route}"

    # ---- /traits -------------------------------------------------------------------------------

    def traits(self, id_type: str, id_value: str, include: list[str] | None = None, cls: str | None = None,
               limit: int = 10, next: str | None = None, verbose: bool = False) -> dict:
        # One statement for both tables (each branch an indexed lookup): on DuckDB a statement's
        # fixed cost is most of a lookup's. Only a verbose body needs a trait's source, which is
        # the source of the message that set it, so only it joins `events`.
        if cls is not None:
            name, template = "computed_values", _COMPUTED
        elif verbose:
            name, template = "traits_with_source", f"{_COMPUTED} UNION ALL {_TRAITS_WITH_SOURCE}"
        else:
            name, template = "traits", f"{_COMPUTED} UNION ALL {_TRAITS}"
        if self.warehouse.wants_indexes and id_type.strip().lower() not in PROFILE_ID_TYPES:
            # An engine that keeps indexes (Postgres) follows the identifier to the profile's rows
            # through them within the statement: one round trip. DuckDB uses an index only for an
            # equality with a value, so there the profile is looked up first.
            template = f"{_FOUND} UNION ALL {template}".format(profile=_PROFILE_OF_IDENTIFIER)
            rows = self._query(f"{name}_by_identifier", template, t=id_type.strip().lower(),
                               v=id_value.strip().lower())
            found = [key for origin, key, *_ in rows if origin == "profile" and key is not None]
            if not found:
                raise ProfileNotFound()
            profile_id = found[0]
        else:
            profile_id = self.profile_id(id_type, id_value)
            rows = self._query(name, template.format(profile=":p"), p=profile_id)
        return traits_body(self._url(profile_id, "traits"), rows, include, cls, limit, next, verbose)

    # ---- /external_ids -------------------------------------------------------------------------

    def external_ids(self, id_type: str, id_value: str, include: list[str] | None = None, limit: int = 25,
                     next: str | None = None, verbose: bool = False) -> dict:
        profile_id = self.profile_id(id_type, id_value)
        rows = self._query("external_ids", """
            SELECT id_type, id_value, first_seen, first_message_id, source FROM identities
            WHERE profile_id = :p ORDER BY first_seen, id_type, id_value""", p=profile_id)
        rows = [r for r in rows if include is None or r[0] in include]
        start = int(next[4:]) if next and next.startswith("map_") and next[4:].isdigit() else 0
        page = rows[start:start + limit]
        more = start + limit < len(rows)
        data = [
            {"source_id": source, "collection": "users", "id": value, "type": kind,
             "created_at": iso(first_seen), "encoding": "none", "first_message_id": message_id}
            for kind, value, first_seen, message_id, source in page
        ]
        return {"data": data, "cursor": {"url": self._url(profile_id, "external_ids"), "has_more": more,
                                         "next": f"map_{start + limit}" if more else "", "limit": limit}}

    # ---- /events -------------------------------------------------------------------------------

    def events(self, id_type: str, id_value: str, start: datetime | None = None, end: datetime | None = None,
               include: list[str] | None = None, exclude: list[str] | None = None, limit: int = 10,
               next: str | None = None, sort: str = "desc", now: datetime | None = None) -> dict:
        """A profile's events of the last 14 days before `now` (default: the current time)."""
        profile_id = self.profile_id(id_type, id_value)
        naive = lambda m: m.astimezone(UTC).replace(tzinfo=None) if m and m.tzinfo else m
        since = naive(now or datetime.now(UTC)) - EVENTS_WINDOW
        rows = self._query_dicts("events", """
            SELECT message_id, source, type, event, user_id, anonymous_id, "timestamp", properties, context
            FROM events WHERE profile_id = :p AND type IN ('track', 'page', 'screen') AND "timestamp" >= :since
            ORDER BY "timestamp", seq""", p=profile_id, since=since)
        rows = [
            r for r in rows
            if (start is None or r["timestamp"] >= naive(start)) and (end is None or r["timestamp"] < naive(end))
            and (include is None or r["event"] in include) and (exclude is None or r["event"] not in exclude)
        ]
        if sort == "desc":
            rows.reverse()
        cursors = [self._event_cursor(r) for r in rows]
        offset = cursors.index(next) if next in cursors else 0
        page = rows[offset:offset + limit]
        more = offset + limit < len(rows)
        data = [self._event_body(r, profile_id) for r in page]
        return {"data": data, "cursor": {"url": self._url(profile_id, "events"), "has_more": more,
                                         "next": cursors[offset + limit] if more else "", "limit": limit}}

    @staticmethod
    def _event_cursor(row: dict) -> str:
        moment = row["timestamp"].replace(tzinfo=UTC)
        nanos = int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000
        return base64.b64encode(f"{nanos}::{row['message_id']}".encode()).decode()

    @staticmethod
    def _event_body(row: dict, profile_id: str) -> dict:
        external_ids = [
            {"collection": "users", "type": kind, "id": row[column], "encoding": "none"}
            for kind, column in (("user_id", "user_id"), ("anonymous_id", "anonymous_id")) if row[column]
        ]
        return {
            "external_ids": external_ids, "context": _json(row["context"]) or {}, "type": row["type"],
            "message_id": row["message_id"], "source_id": row["source"], "timestamp": iso(row["timestamp"]),
            "properties": _json(row["properties"]) or {}, "event": row["event"],
            "related": {"users": profile_id},
        }

    # ---- /metadata and /links ------------------------------------------------------------------

    def metadata(self, id_type: str, id_value: str, verbose: bool = False) -> dict:
        profile_id = self.profile_id(id_type, id_value)
        row = self._query_dicts("metadata", "SELECT * FROM profiles WHERE profile_id = :p", p=profile_id)[0]
        return {"metadata": {
            "created_at": iso(row["created_at"]), "updated_at": iso(row["updated_at"]), "expires_at": None,
            "first_message_id": row["first_message_id"], "first_source_id": row["first_source"],
            "last_message_id": row["last_message_id"], "last_source_id": row["last_source"],
        }}

    def links(self, id_type: str, id_value: str, limit: int = 20) -> dict:
        profile_id = self.profile_id(id_type, id_value)
        rows = self._query("links", """
            SELECT id_value, source, first_seen FROM identities
            WHERE profile_id = :p AND id_type = 'group_id' ORDER BY first_seen, id_value""", p=profile_id)
        external_ids = [
            {"id": value, "type": "group_id", "source_id": source, "collection": "accounts",
             "created_at": iso(first_seen), "encoding": "none"}
            for value, source, first_seen in rows[:limit]
        ]
        return {"data": [{"to_collection": "accounts", "external_ids": external_ids}] if external_ids else []}
