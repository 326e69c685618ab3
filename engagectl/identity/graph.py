"""The identity graph in memory, and Segment's event-by-event matching with merge protection.

Only events that can change the graph come here (those carrying two or more identifiers, the
first time each combination is seen); `resolver.py` resolves every other event with one join.
Per event, in timestamp order (PRODUCT.md §3, segment-engage-spec.md §6.2–6.4):
no profile matches → a new profile; one → attach; several → merge, the oldest surviving; and if
the result would break a per-type limit, the event's lowest-priority identifier is dropped from
matching and matching is retried.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from engagectl.config.models import IdentitySettings

Node = tuple[str, str]  # (id_type, id_value)


# A profile id is the first 72 bits of its creating message id's MD5, in base64url: 12
# characters, the most DuckDB keeps inline in a string's own 16 bytes. Longer ids live out of
# line and every join, hash and update of a profile id pays for it: a 10M-event identity run
# spent a tenth of its time on 29-character ids. At 72 bits, 100M profiles draw the same id
# about once in a million warehouses.
PROFILE_ID_LENGTH = 12


def profile_id_for(message_id: str) -> str:
    """A profile's id, derived from the message that created it: stable across runs and engines."""
    digest = base64.urlsafe_b64encode(hashlib.md5(message_id.encode("utf-8")).digest())
    return digest[:PROFILE_ID_LENGTH].decode("ascii")


def period_bucket(period: str, moment: datetime) -> tuple | None:
    """The calendar period a moment falls in; values first seen in the same one count together."""
    if period == "daily":
        return (moment.year, moment.month, moment.day)
    if period == "weekly":
        return tuple(moment.isocalendar()[:2])
    if period == "monthly":
        return (moment.year, moment.month)
    if period == "annually":
        return (moment.year,)
    return None


@dataclass(slots=True)  # millions of these in a full run: no per-instance dict
class Profile:
    profile_id: str
    created_at: datetime
    first_message_id: str
    first_source: str | None
    members: dict[str, dict[str, datetime]] = field(default_factory=dict)  # type → value → first seen
    stored: bool = False  # already in the warehouse before this run


@dataclass(slots=True)  # millions of these in a full run: no per-instance dict
class Merge:
    merged_profile_id: str
    into_profile_id: str
    message_id: str
    merged_at: datetime


@dataclass(slots=True)  # millions of these in a full run: no per-instance dict
class NewIdentity:
    first_seen: datetime
    message_id: str
    source: str | None


class IdentityGraph:
    def __init__(self, settings: IdentitySettings) -> None:
        self.settings = settings
        self.node_profile: dict[Node, str] = {}
        self.profiles: dict[str, Profile] = {}
        self.merges: list[Merge] = []
        self.stored_ids: set[str] = set()
        self.new_identities: dict[Node, NewIdentity] = {}
        self._limits: dict[str, int] = {}
        self._periods: dict[str, str] = {}
        self._rules: dict[str, tuple[int, str]] = {}

    # ---- loading what the warehouse already holds ----------------------------------------------

    def load_profile(self, profile_id: str, created_at: datetime, first_message_id: str,
                     members: Iterable[tuple[str, str, datetime]]) -> None:
        profile = Profile(profile_id, created_at, first_message_id, None, stored=True)
        for id_type, id_value, first_seen in members:
            profile.members.setdefault(id_type, {})[id_value] = first_seen
            self.node_profile[(id_type, id_value)] = profile_id
        self.profiles[profile_id] = profile
        self.stored_ids.add(profile_id)

    # ---- rules ---------------------------------------------------------------------------------

    def _limit(self, id_type: str) -> int:
        limit = self._limits.get(id_type)
        if limit is None:
            limit = self._limits[id_type] = self.settings.limit(id_type)
        return limit

    def _period(self, id_type: str) -> str:
        period = self._periods.get(id_type)
        if period is None:
            period = self._periods[id_type] = self.settings.period(id_type)
        return period

    def _rule(self, id_type: str) -> tuple[int, str]:
        """(limit, period) of a type, looked up once per run: this is on every event's path."""
        rule = self._rules.get(id_type)
        if rule is None:
            rule = self._rules[id_type] = (self._limit(id_type), self._period(id_type))
        return rule

    def _fits(self, matched: list[str], fresh: list[Node], moment: datetime) -> bool:
        """Whether attaching `fresh` and merging `matched` keeps every limit.

        A value belongs to one profile only, so the merged profile's count of a type is the sum of
        the matched profiles' counts plus the fresh values of that type.
        """
        profiles = [self.profiles[p] for p in matched]
        added: dict[str, int] = {}
        for id_type, _ in fresh:
            added[id_type] = added.get(id_type, 0) + 1
        # One profile (or none) keeps what it holds: only the types being added can break a limit.
        types = added.keys() if len(profiles) <= 1 else set(added).union(*(p.members for p in profiles))
        for id_type in types:
            limit, period = self._rule(id_type)
            if period != "ever":
                if not self._fits_in_period(profiles, fresh, id_type, moment):
                    return False
                continue
            if len(profiles) <= 1:
                largest = len(profiles[0].members.get(id_type, ())) if profiles else 0
                count = largest + added.get(id_type, 0)
            else:
                sizes = [len(p.members.get(id_type, ())) for p in profiles]
                count = sum(sizes) + added.get(id_type, 0)
                largest = max(sizes)
            # A profile already past a limit (rules made stricter later) may keep what it has.
            if count > limit and count > largest:
                return False
        return True

    def _fits_in_period(self, profiles: list[Profile], fresh: list[Node], id_type: str, moment: datetime) -> bool:
        """The limit of a type counted over values first seen in the event's calendar period."""
        period = self._period(id_type)
        bucket = period_bucket(period, moment)
        sizes = [
            sum(1 for first_seen in p.members.get(id_type, {}).values() if period_bucket(period, first_seen) == bucket)
            for p in profiles
        ]
        count = sum(sizes) + sum(1 for t, _ in fresh if t == id_type)
        return not (count > self._limit(id_type) and count > max(sizes, default=0))

    # ---- one event -----------------------------------------------------------------------------

    def create(self, node_ids: list[Node], moment: datetime, message_id: str, source: str | None) -> str:
        profile_id = profile_id_for(message_id)
        profile = Profile(profile_id, moment, message_id, source)
        self.profiles[profile_id] = profile
        for node in node_ids:
            self._attach(profile, node, moment, message_id, source)
        return profile_id

    def _attach(self, profile: Profile, node: Node, moment: datetime, message_id: str, source: str | None) -> None:
        profile.members.setdefault(node[0], {})[node[1]] = moment
        self.node_profile[node] = profile.profile_id
        self.new_identities[node] = NewIdentity(moment, message_id, source)

    def observe(self, node_ids: list[Node], moment: datetime, message_id: str, source: str | None) -> str:
        """Resolve one event whose identifiers are given highest priority first; returns its profile."""
        ids = list(node_ids)
        while True:
            matched: list[str] = []
            fresh: list[Node] = []
            for node in ids:
                profile_id = self.node_profile.get(node)
                if profile_id is None:
                    fresh.append(node)
                elif profile_id not in matched:
                    matched.append(profile_id)
            if len(ids) == 1 or (len(matched) <= 1 and not fresh) or self._fits(matched, fresh, moment):
                break
            ids.pop()  # merge protection: drop the lowest-priority identifier and retry
        if not matched:
            return self.create(fresh, moment, message_id, source)
        if len(matched) == 1:
            survivor = self.profiles[matched[0]]
        else:
            survivor = min((self.profiles[p] for p in matched), key=lambda p: (p.created_at, p.profile_id))
        for profile_id in matched:
            if profile_id != survivor.profile_id:
                self._merge(self.profiles.pop(profile_id), survivor, moment, message_id)
        for node in fresh:
            self._attach(survivor, node, moment, message_id, source)
        return survivor.profile_id

    def _merge(self, merged: Profile, survivor: Profile, moment: datetime, message_id: str) -> None:
        for id_type, values in merged.members.items():
            held = survivor.members.setdefault(id_type, {})
            for value, first_seen in values.items():
                if value not in held or first_seen < held[value]:
                    held[value] = first_seen
                self.node_profile[(id_type, value)] = survivor.profile_id
        self.merges.append(Merge(merged.profile_id, survivor.profile_id, message_id, moment))

    # ---- results -------------------------------------------------------------------------------

    def canonical(self) -> dict[str, str]:
        """Every profile merged away in this run → the profile that holds its identifiers now."""
        into = {m.merged_profile_id: m.into_profile_id for m in self.merges}
        resolved: dict[str, str] = {}
        for merged, target in into.items():
            while target in into:
                target = into[target]
            resolved[merged] = target
        return resolved
