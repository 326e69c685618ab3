"""An in-memory copy of what the Profile API's `/traits` reads, kept in step with the warehouse.

Profile data only moves when a transaction of the identity resolution (identities, profiles,
identify traits) or of a run (computed values) commits, and each of those ends by writing its
marker: `identity_watermark` and a row of `runs`. `ProfileReadModel` is every identifier's
profile and every profile's (origin, key, kind, value, updated_at, source) rows, loaded at once
together with the markers' state (the warehouse *version*). `ReadModelReader` answers from it
with no statement at all, and re-reads the version, one small statement, at most once a
`refresh_seconds` and at once after a commit made through its own connection; when the version
moved it loads the model again. It never answers from a model older than the last version it
read, and it reads the version before the rows, so a change committed during a load is never
missed (at worst it is loaded twice).

The other routes (external ids, events, metadata, links) keep querying the warehouse; only the
identifier → profile step comes from the model, so every route agrees on which profile an
identifier holds.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from engagectl.profiles.reader import PROFILE_ID_TYPES, ProfileNotFound, ProfileReader, traits_body
from engagectl.warehouse import Warehouse

# How stale a server's answers may be after another process commits (a run, an apply).
REFRESH_SECONDS = 1.0

_VERSION = """
    SELECT (SELECT MAX(last_seq) FROM identity_watermark), (SELECT MAX(updated_at) FROM identity_watermark),
           (SELECT COUNT(*) FROM runs), (SELECT MAX(finished_at) FROM runs)"""
_PROFILES = "SELECT profile_id FROM profiles"
_IDENTITIES = "SELECT id_type, id_value, profile_id FROM identities"
# Every profile's rows in traits_body's shape. A trait's source is that of the message that set
# it. (Not sorted by profile: DuckDB keeps the memory an ORDER BY took, tens of MB at 100k.)
_ROWS = """
    SELECT t.profile_id, 'trait' AS origin, t.key, NULL AS kind, t.value, t.updated_at, e.source
    FROM profile_traits AS t LEFT JOIN events AS e ON e.message_id = t.message_id
    UNION ALL
    SELECT profile_id, 'computed', computation_key, kind, value, updated_at, NULL FROM computed_values"""
ROW_WIDTH = 6  # (origin, key, kind, value, updated_at, source): see `reader.traits_body`
# Rows fetched at a time while loading: small batches leave fewer freed objects among the model's
# (at 100k profiles, 5,000 instead of 50,000 keeps 20 MB less resident).
_FETCH_BATCH = 5_000


class ServedProfile(NamedTuple):
    """One canonical profile: its id and its `/traits` rows, laid end to end in one tuple (a
    tuple per row would be a third of the model's memory)."""

    profile_id: str
    cells: tuple

    @property
    def rows(self) -> list[tuple]:
        return list(zip(*[iter(self.cells)] * ROW_WIDTH, strict=True))


@dataclass
class ProfileReadModel:
    """Identifiers and profiles as of one warehouse version."""

    version: tuple
    by_profile_id: dict[str, ServedProfile] = field(default_factory=dict)
    by_identifier: dict[str, dict[str, ServedProfile]] = field(default_factory=dict)  # id_type → value → profile

    def find(self, id_type: str, id_value: str) -> ServedProfile:
        """The profile holding `id_type:id_value`, matched as `ProfileReader.profile_id` matches."""
        id_type = id_type.strip().lower()
        if id_type in PROFILE_ID_TYPES:
            found = self.by_profile_id.get(id_value)
        else:
            found = self.by_identifier.get(id_type, {}).get(id_value.strip().lower())
        if found is None:
            raise ProfileNotFound()
        return found


def warehouse_version(warehouse: Warehouse) -> tuple:
    """The state of the markers every profile-changing transaction writes, as one comparable tuple."""
    return tuple(warehouse.prepared("profiles.version", lambda: _VERSION).fetchall()[0])


class _Shared(dict):
    """One object per distinct value, so 100k profiles of one audience hold one `true` (both
    adapters return JSON as text and timestamps as datetimes: hashable)."""

    def __missing__(self, value: Any) -> Any:
        self[value] = value
        return value


def _rows(warehouse: Warehouse, template: str) -> Iterator[tuple]:
    return warehouse.iterate(warehouse.parse(template), batch=_FETCH_BATCH)


def load_read_model(warehouse: Warehouse) -> ProfileReadModel:
    """Everything `/traits` reads, as of the version read first (one transaction on engines that
    give a transaction one snapshot, such as DuckDB)."""
    with warehouse.transaction():
        version = warehouse_version(warehouse)
        shared = _Shared()  # JSON texts and timestamps; keys, kinds and sources are interned
        cells_of: dict[str, Any] = {}  # profile id → its cells: a list while loading, then a tuple
        for profile_id, origin, key, kind, value, updated_at, source in _rows(warehouse, _ROWS):
            cells = cells_of.get(profile_id)
            if cells is None:
                cells = cells_of[profile_id] = []
            cells.extend((sys.intern(origin), sys.intern(key), kind and sys.intern(kind), shared[value],
                          shared[updated_at], source and sys.intern(source)))
        for profile_id, cells in cells_of.items():
            cells_of[profile_id] = tuple(cells)
        del shared
        model = ProfileReadModel(version)
        for (profile_id,) in _rows(warehouse, _PROFILES):
            model.by_profile_id[profile_id] = ServedProfile(profile_id, cells_of.pop(profile_id, ()))
        # An identity whose profile row is missing still shows that profile's rows, as the
        # warehouse reader would; only a lookup by profile id needs the row.
        orphans: dict[str, ServedProfile] = {}
        for id_type, id_value, profile_id in _rows(warehouse, _IDENTITIES):
            served = model.by_profile_id.get(profile_id) or orphans.get(profile_id)
            if served is None:
                served = orphans[profile_id] = ServedProfile(profile_id, cells_of.pop(profile_id, ()))
            values = model.by_identifier.get(id_type)
            if values is None:
                values = model.by_identifier[sys.intern(id_type)] = {}
            values.setdefault(id_value, served)  # the first row wins, as in the warehouse reader
    return model


class ReadModelReader(ProfileReader):
    """A `ProfileReader` whose `/traits` and identifier lookups come from a `ProfileReadModel`.

    A server process answers one request at a time (engagectl/server/context.py), so the model
    is swapped without locks.
    """

    def __init__(self, warehouse: Warehouse, space: str, refresh_seconds: float = REFRESH_SECONDS) -> None:
        super().__init__(warehouse, space)
        self.refresh_seconds = refresh_seconds
        self._model: ProfileReadModel | None = None
        self._checked_at = 0.0
        self._commits_seen = -1

    @property
    def model(self) -> ProfileReadModel:
        """The model, reloaded first when the warehouse may have moved and has."""
        commits = self.warehouse.commits
        if (self._model is None or commits != self._commits_seen
                or time.monotonic() - self._checked_at >= self.refresh_seconds):
            self.refresh()
        return self._model  # type: ignore[return-value]

    def refresh(self) -> bool:
        """Read the warehouse version now and reload the model if it moved; True when it did."""
        self._commits_seen = self.warehouse.commits
        self._checked_at = time.monotonic()
        if self._model is not None and warehouse_version(self.warehouse) == self._model.version:
            return False
        # No request is answered while one loads, so the old model goes first: memory holds one.
        self._model = None
        self._model = load_read_model(self.warehouse)
        # the load's own transaction is not a change
        self._commits_seen = self.warehouse.commits
        return True

    def profile_id(self, id_type: str, id_value: str) -> str:
        return self.model.find(id_type, id_value).profile_id

    def traits(self, id_type: str, id_value: str, include: list[str] | None = None, cls: str | None = None,
               limit: int = 10, next: str | None = None, verbose: bool = False) -> dict:
        profile = self.model.find(id_type, id_value)
        return traits_body(self._url(profile.profile_id, "traits"), profile.rows, include, cls, limit, next,
                           verbose)
