"""What is sent: Segment-spec Identify/Track/Alias messages and list-member changes.

Every message carries `context.personas` and a deterministic `messageId`, so a retried or
resumed delivery is recognisably the same message downstream (PRODUCT.md §3).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engagectl.config.models import TrackNames

COMPUTATION_CLASSES = {"audience": "audience", "computed_trait": "trait", "sql_trait": "trait",
                       "journey_step": "journey_step"}
ID_PREFIXES = {"audience": "aud_", "trait": "tra_", "journey_step": "jou_"}


def message_id(*parts: Any) -> str:
    """`personas_` and a hash of what makes the message unique; the same inputs, the same id."""
    digest = hashlib.sha256("\x1f".join(str(part) for part in parts).encode()).hexdigest()
    return f"personas_{digest[:32]}"


@dataclass(frozen=True)
class Computation:
    """The computation a message is about, as `context.personas` names it."""

    key: str
    kind: str  # audience | computed_trait | sql_trait | journey_step
    space: str

    @property
    def computation_class(self) -> str:
        return COMPUTATION_CLASSES.get(self.kind, "trait")

    def personas(self) -> dict[str, str]:
        digest = hashlib.sha256(f"{self.space}:{self.key}".encode()).hexdigest()[:20]
        return {
            "computation_class": self.computation_class,
            "computation_id": ID_PREFIXES[self.computation_class] + digest,
            "computation_key": self.key,
            "namespace": self.space,
            "space_id": self.space,
        }


@dataclass(frozen=True)
class Recipient:
    """Who one message is addressed to: one identifier value, plus the profile's userId."""

    id_type: str
    id_value: str
    user_id: str | None
    anonymous_id: str | None

    def address(self) -> dict[str, str]:
        """userId / anonymousId of the message (an email rides in traits)."""
        if self.id_type == "user_id":
            return {"userId": self.id_value}
        if self.id_type == "anonymous_id":
            fields = {"anonymousId": self.id_value}
            if self.user_id:
                fields["userId"] = self.user_id
            return fields
        fields = {}
        if self.user_id:
            fields["userId"] = self.user_id
        elif self.anonymous_id:
            fields["anonymousId"] = self.anonymous_id
        return fields

    def identifying_traits(self) -> dict[str, str]:
        """Identifiers other than userId/anonymousId travel as traits (`email`, `phone`, …)."""
        if self.id_type in ("user_id", "anonymous_id"):
            return {}
        return {self.id_type: self.id_value}


def _timestamp(at: datetime) -> str:
    """ISO-8601 UTC with milliseconds, as Segment's libraries write it (the run's as-of)."""
    return at.isoformat(timespec="milliseconds") + "Z"


def identify(message_id_: str, recipient: Recipient, computation: Computation, traits: dict[str, Any],
             at: datetime) -> dict[str, Any]:
    """Identify: `traits.<key>` (true/false for audiences), email in `traits.email`."""
    return {
        "type": "identify",
        "messageId": message_id_,
        **recipient.address(),
        "traits": {**recipient.identifying_traits(), **traits},
        "context": {"personas": computation.personas()},
        "timestamp": _timestamp(at),
    }


def track(message_id_: str, recipient: Recipient, computation: Computation, event: str,
          properties: dict[str, Any], at: datetime) -> dict[str, Any]:
    """Track: the event name of the binding, email in `context.traits.email`."""
    context: dict[str, Any] = {"personas": computation.personas()}
    if recipient.identifying_traits():
        context["traits"] = recipient.identifying_traits()
    return {
        "type": "track",
        "messageId": message_id_,
        **recipient.address(),
        "event": event,
        "properties": properties,
        "context": context,
        "timestamp": _timestamp(at),
    }


def alias(message_id_: str, user_id: str, previous_id: str, space: str, at: datetime) -> dict[str, Any]:
    """Alias sent on a merge to destinations that support it (Mixpanel)."""
    return {
        "type": "alias",
        "messageId": message_id_,
        "userId": user_id,
        "previousId": previous_id,
        "context": {"personas": {"namespace": space, "space_id": space}},
        "timestamp": _timestamp(at),
    }


def audience_messages(
    computation: Computation, value: bool, recipient: Recipient, identify_on: bool,
    track_names: TrackNames | None, at: datetime, id_parts: tuple,
) -> list[tuple[str, dict[str, Any]]]:
    """An audience (or journey step) change for one identifier: Identify and/or Track."""
    out: list[tuple[str, dict[str, Any]]] = []
    ident = (recipient.id_type, recipient.id_value)
    if identify_on:
        mid = message_id(*id_parts, "identify", *ident)
        out.append(("identify", identify(mid, recipient, computation, {computation.key: value}, at)))
    if track_names is not None:
        mid = message_id(*id_parts, "track", *ident)
        event = track_names.enter if value else track_names.exit
        properties = {"audience_key": computation.key, computation.key: value}
        out.append(("track", track(mid, recipient, computation, event, properties, at)))
    return out


def trait_messages(
    computation: Computation, value: Any, recipient: Recipient, identify_on: bool,
    track_names: TrackNames | None, at: datetime, id_parts: tuple,
) -> list[tuple[str, dict[str, Any]]]:
    """A trait change for one identifier: Identify `traits.<key>` and/or Track `Trait Computed`.

    A SQL trait's value is an object of columns, sent as traits of their own names.
    """
    out: list[tuple[str, dict[str, Any]]] = []
    values = value if computation.kind == "sql_trait" and isinstance(value, dict) else {computation.key: value}
    ident = (recipient.id_type, recipient.id_value)
    if identify_on:
        mid = message_id(*id_parts, "identify", *ident)
        out.append(("identify", identify(mid, recipient, computation, values, at)))
    if track_names is not None:
        mid = message_id(*id_parts, "track", *ident)
        properties = {"trait_key": computation.key, **values}
        out.append(("track", track(mid, recipient, computation, track_names.event, properties, at)))
    return out


def list_member(computation: Computation, action: str, profile_id: str,
                identifiers: dict[str, list[str]], at: datetime) -> dict[str, Any]:
    """One member added to or removed from a list destination, with all its identifiers."""
    return {
        "type": "audience_membership",
        "action": action,  # add | remove
        "audience_key": computation.key,
        "profile_id": profile_id,
        "identifiers": identifiers,
        "context": {"personas": computation.personas()},
        "timestamp": _timestamp(at),
    }
