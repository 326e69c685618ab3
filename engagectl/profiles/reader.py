"""Profile reads in the Profile API's shapes (segment-engage-spec.md §4.3).

Every method takes an identifier (`email`, `bob@example.com`), finds the canonical profile that
holds it (lookups use lower-cased values, as Segment's), and returns the route's JSON body.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

from engagectl.diagnostics import EngageError
from engagectl.warehouse import Warehouse

# computed_values.kind values shown by `class=`; every other kind is shown only unfiltered.
CLASSES = ("audience", "computed_trait")
SQL_TRAIT_KIND = "sql_trait"


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


class ProfileReader:
    def __init__(self, warehouse: Warehouse, space: str) -> None:
        self.warehouse = warehouse
        self.space = space

    # ---- lookups -------------------------------------------------------------------------------

    def profile_id(self, id_type: str, id_value: str) -> str:
        """The canonical profile holding `id_type:id_value`; ProfileNotFound otherwise."""
        id_type = id_type.strip().lower()
        if id_type in ("profile_id", "segment_id"):
            rows = self.warehouse.fetchall(self.warehouse.parse(
                "SELECT profile_id FROM profiles WHERE profile_id = :v", v=id_value))
        else:
            rows = self.warehouse.fetchall(self.warehouse.parse(
                "SELECT profile_id FROM identities WHERE id_type = :t AND id_value = :v",
                t=id_type, v=id_value.strip().lower()))
        if not rows:
            raise ProfileNotFound()
        return rows[0][0]

    def _url(self, profile_id: str, route: str) -> str:
        return f"/v1/spaces/{self.space}/collections/users/profiles/{profile_id}/{route}"

    # ---- /traits -------------------------------------------------------------------------------

    def traits(self, id_type: str, id_value: str, include: list[str] | None = None, cls: str | None = None,
               limit: int = 10, next: str | None = None, verbose: bool = False) -> dict:
        profile_id = self.profile_id(id_type, id_value)
        values: dict[str, tuple[Any, str | None, Any]] = {}  # key → (value, source, updated_at)
        if cls is None:
            for key, value, updated_at, source in self.warehouse.fetchall(self.warehouse.parse("""
                    SELECT t.key, t.value, t.updated_at, e.source FROM profile_traits AS t
                    LEFT JOIN events AS e ON e.message_id = t.message_id
                    WHERE t.profile_id = :p""", p=profile_id)):
                values[key] = (_json(value), source, updated_at)
        for key, kind, value, updated_at in self.warehouse.fetchall(self.warehouse.parse(
                "SELECT computation_key, kind, value, updated_at FROM computed_values WHERE profile_id = :p",
                p=profile_id)):
            if cls is not None and kind != cls:
                continue
            value = _json(value)
            if kind == SQL_TRAIT_KIND and isinstance(value, dict):
                for column, column_value in value.items():
                    values[column] = (column_value, "engage", updated_at)
            else:
                values[key] = (value, "engage", updated_at)
        keys = sorted(k for k in values if include is None or k in include)
        page, more, next_key = _page(keys, limit, next)
        if verbose:
            traits = {k: {"value": values[k][0], "source_id": values[k][1], "updated_at": iso(values[k][2])}
                      for k in page}
        else:
            traits = {k: values[k][0] for k in page}
        return {"traits": traits, "cursor": {"url": self._url(profile_id, "traits"), "has_more": more,
                                             "next": next_key, "limit": limit}}

    # ---- /external_ids -------------------------------------------------------------------------

    def external_ids(self, id_type: str, id_value: str, include: list[str] | None = None, limit: int = 25,
                     next: str | None = None, verbose: bool = False) -> dict:
        profile_id = self.profile_id(id_type, id_value)
        rows = self.warehouse.fetchall(self.warehouse.parse("""
            SELECT id_type, id_value, first_seen, first_message_id, source FROM identities
            WHERE profile_id = :p ORDER BY first_seen, id_type, id_value""", p=profile_id))
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
               next: str | None = None, sort: str = "desc") -> dict:
        profile_id = self.profile_id(id_type, id_value)
        rows = self.warehouse.fetch_dicts(self.warehouse.parse("""
            SELECT message_id, source, type, event, user_id, anonymous_id, "timestamp", properties, context
            FROM events WHERE profile_id = :p AND type IN ('track', 'page', 'screen')
            ORDER BY "timestamp", seq""", p=profile_id))
        naive = lambda m: m.astimezone(UTC).replace(tzinfo=None) if m and m.tzinfo else m
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
        row = self.warehouse.fetch_dicts(self.warehouse.parse(
            "SELECT * FROM profiles WHERE profile_id = :p", p=profile_id))[0]
        return {"metadata": {
            "created_at": iso(row["created_at"]), "updated_at": iso(row["updated_at"]), "expires_at": None,
            "first_message_id": row["first_message_id"], "first_source_id": row["first_source"],
            "last_message_id": row["last_message_id"], "last_source_id": row["last_source"],
        }}

    def links(self, id_type: str, id_value: str, limit: int = 20) -> dict:
        profile_id = self.profile_id(id_type, id_value)
        rows = self.warehouse.fetchall(self.warehouse.parse("""
            SELECT id_value, source, first_seen FROM identities
            WHERE profile_id = :p AND id_type = 'group_id' ORDER BY first_seen, id_value""", p=profile_id))
        external_ids = [
            {"id": value, "type": "group_id", "source_id": source, "collection": "accounts",
             "created_at": iso(first_seen), "encoding": "none"}
            for value, source, first_seen in rows[:limit]
        ]
        return {"data": [{"to_collection": "accounts", "external_ids": external_ids}] if external_ids else []}
