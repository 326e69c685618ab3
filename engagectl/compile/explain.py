"""Why a profile is (not) in an audience: every node of the condition tree evaluated for one profile.

The tree is compiled exactly as for the real run, but the candidate set is the one profile, and
the query selects every node's boolean plus its figures (counts, sums, trait values) in one row.
Event nodes also list their matching events (timestamp, message id), and the eligibility check
lists the profile's identifiers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlglot import exp

from engagectl.compile.audience import (
    ANONYMOUS_ID_TYPE,
    EVENT_ALIAS,
    KNOWN_ID_TYPES,
    MembershipQuery,
    col,
)
from engagectl.compile.compiler import Compiler
from engagectl.compile.describe import describe
from engagectl.compile.operators import CompileError
from engagectl.config.models import (
    AllCondition,
    AnyCondition,
    Audience,
    ComputedTrait,
    Journey,
    NotCondition,
)

# Matching events shown per node; enough to answer "why", small enough to read.
EVIDENCE_EVENTS = 20


@dataclass
class ExplainedNode:
    """One node of the tree for one profile: what it asks, whether it holds, and the evidence."""

    kind: str
    description: str
    value: bool
    evidence: dict[str, Any] = field(default_factory=dict)
    children: list["ExplainedNode"] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "description": self.description,
            "value": self.value,
            "evidence": self.evidence,
            "children": [child.to_dict() for child in self.children],
        }


@dataclass
class Explanation:
    key: str
    kind: str
    profile_id: str
    identifier: str
    as_of: datetime
    member: bool
    eligibility: ExplainedNode
    condition: ExplainedNode
    value: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "kind": self.kind,
            "profile_id": self.profile_id,
            "identifier": self.identifier,
            "as_of": self.as_of.isoformat().replace("+00:00", "Z"),
            "member": self.member,
            "value": self.value,
            "eligibility": self.eligibility.to_dict(),
            "condition": self.condition.to_dict(),
        }


def explain(warehouse, project, key: str, id_type: str, id_value: str, as_of: datetime) -> Explanation:
    """Evaluate `key` (an audience, journey step or computed trait) for the profile holding
    `id_type:id_value`; raises ProfileNotFound for an unknown identifier."""
    from engagectl.profiles.reader import ProfileReader

    profile_id = ProfileReader(warehouse, project.settings.space).profile_id(id_type, id_value)
    compiler = Compiler(warehouse.dialect, warehouse.schema, as_of, project)
    condition, include_anonymous, kind = _definition(project, key)
    identifier = f"{id_type}:{id_value}"
    eligibility = _eligibility(warehouse, profile_id, include_anonymous)

    if isinstance(condition, ComputedTrait):
        return _explain_trait(warehouse, compiler, condition, profile_id, identifier, eligibility)

    builder = MembershipQuery(compiler.forms, compiler.schema, compiler.as_of, project, explaining=True)
    builder.condition(condition)
    nodes = _walk(condition)
    selections = []
    for index, node in enumerate(nodes):
        evidence = builder.evidence[id(node)]
        selections.append(exp.alias_(evidence.value.copy(), f"n_{index}", quoted=True))
        for name, figure in evidence.figures.items():
            selections.append(exp.alias_(figure.copy(), f"n_{index}_{name}", quoted=True))
    base = exp.select(exp.alias_(exp.Literal.string(profile_id), "profile_id", quoted=True))
    row = warehouse.fetch_dicts(builder.assemble(base, selections, None))[0]

    def explained(node) -> ExplainedNode:
        index = nodes.index(node)
        evidence = builder.evidence[id(node)]
        figures = {name: _plain(row[f"n_{index}_{name}"], decode=name == "value") for name in evidence.figures}
        if evidence.events is not None:
            figures["events"] = _events(warehouse, builder, evidence.events, evidence.events_alias, profile_id)
        children = [explained(child) for child in _children(node)]
        return ExplainedNode(_kind(node), describe(node), bool(row[f"n_{index}"]), figures, children)

    tree = explained(condition)
    if kind == "journey_step":
        tree = _with_journey_progress(warehouse, key, profile_id, tree)
    return Explanation(key, kind, profile_id, identifier, compiler.as_of,
                       eligibility.value and tree.value, eligibility, tree)


def _with_journey_progress(warehouse, key: str, profile_id: str, tree: ExplainedNode) -> ExplainedNode:
    """A step's members reached the step (stored progress, forward-only) and meet its condition now."""
    journey_key, _, step_key = key.partition("__")
    rows = warehouse.fetchall(
        exp.select(col("step_key"), col("joined_at")).from_(warehouse.table("journey_progress"))
        .where(exp.and_(
            exp.EQ(this=col("journey_key"), expression=exp.Literal.string(journey_key)),
            exp.EQ(this=col("profile_id"), expression=exp.Literal.string(profile_id)),
            exp.In(this=col("step_key"), expressions=[exp.Literal.string(step_key), exp.Literal.string(_EXIT_STEP)]))))
    joined = {step: _plain(at) for step, at in rows}
    reached = ExplainedNode("journey", f"reached step {step_key} of journey {journey_key} (as of the last run)",
                            step_key in joined, {"joined_at": joined[step_key]} if step_key in joined else {})
    children = [reached]
    if _EXIT_STEP in joined:
        children.append(ExplainedNode("journey", f"has not left journey {journey_key} (exit_after)", False,
                                      {"exited_at": joined[_EXIT_STEP]}))
    holds = reached.value and _EXIT_STEP not in joined and tree.value
    return ExplainedNode("all", f"in journey step {key}", holds, {}, children + [tree])


# journey_progress's reserved step key for a profile's exit (engagectl.compute.journeys.EXIT_STEP)
_EXIT_STEP = "_exit"


def _definition(project, key: str):
    audience = project.get("audience", key)
    if isinstance(audience, Audience):
        return audience.where, audience.include_anonymous, "audience"
    trait = project.get("computed_trait", key)
    if isinstance(trait, ComputedTrait):
        return trait, trait.include_anonymous, "computed_trait"
    journey_key, _, step_key = key.partition("__")
    journey = project.get("journey", journey_key)
    if isinstance(journey, Journey):
        if not step_key:
            return journey.entry, journey.include_anonymous, "journey"
        for step in journey.steps:
            if step.key == step_key and step.where is not None:
                return step.where, journey.include_anonymous, "journey_step"
    raise CompileError(f"no audience, computed trait, journey or journey step with key {key!r} in the project")


def _walk(node) -> list:
    found = [node]
    for child in _children(node):
        found.extend(_walk(child))
    return found


def _children(node) -> list:
    if isinstance(node, AllCondition):
        return list(node.all)
    if isinstance(node, AnyCondition):
        return list(node.any)
    if isinstance(node, NotCondition):
        return [node.not_]
    return []


def _kind(node) -> str:
    from engagectl.config.models import _CONDITION_CLASSES

    return _CONDITION_CLASSES.get(type(node), type(node).__name__)


def _eligibility(warehouse, profile_id: str, include_anonymous: bool) -> ExplainedNode:
    rows = warehouse.fetchall(
        exp.select(col("id_type"), col("id_value")).from_(warehouse.table("identities"))
        .where(exp.EQ(this=col("profile_id"), expression=exp.Literal.string(profile_id)))
        .order_by(col("id_type"), col("id_value")))
    allowed = KNOWN_ID_TYPES + ((ANONYMOUS_ID_TYPE,) if include_anonymous else ())
    identifiers: dict[str, list[str]] = {}
    for id_type, id_value in rows:
        identifiers.setdefault(id_type, []).append(id_value)
    eligible = any(id_type in allowed for id_type in identifiers)
    return ExplainedNode("eligibility", f"has a {' or '.join(allowed)} identifier", eligible,
                         {"identifiers": identifiers})


def _events(warehouse, builder: MembershipQuery, query: exp.Select, alias: str, profile_id: str) -> list[dict]:
    query = (query.copy()
             .where(exp.EQ(this=col("profile_id", alias), expression=exp.Literal.string(profile_id)))
             .order_by(col("timestamp", alias), col("message_id", alias))
             .limit(EVIDENCE_EVENTS))
    for pivot in builder.traits.tables:
        query = query.with_(exp.to_identifier(pivot, quoted=True), as_=builder.traits.pivot(pivot))
    return [{name: _plain(value) for name, value in row.items()} for row in warehouse.fetch_dicts(query)]


def _explain_trait(warehouse, compiler: Compiler, trait: ComputedTrait, profile_id: str, identifier: str,
                   eligibility: ExplainedNode) -> Explanation:
    query = compiler.compile_computed_trait(trait)
    rows = warehouse.fetchall(
        exp.select(col("value")).from_(exp.alias_(exp.Subquery(this=query), "trait_values", table=True))
        .where(exp.EQ(this=col("profile_id"), expression=exp.Literal.string(profile_id))))
    value = _plain(rows[0][0]) if rows else None
    builder = MembershipQuery(compiler.forms, compiler.schema, compiler.as_of, compiler.project, explaining=True)
    from engagectl.config.models import EventCondition

    node = EventCondition(event=trait.event, where=trait.where, within=trait.within)
    builder.condition(node)
    events = _events(warehouse, builder, builder.evidence[id(node)].events, EVENT_ALIAS, profile_id)
    tree = ExplainedNode("computed_trait", describe(trait), value is not None,
                         {"value": value, "events": events})
    return Explanation(trait.key, "computed_trait", profile_id, identifier, compiler.as_of,
                       eligibility.value and value is not None, eligibility, tree, value)


def _plain(value: Any, decode: bool = False) -> Any:
    """Warehouse values as JSON-ready values; `decode` reads trait text as the JSON it was stored as."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, str) and (decode or value[:1] in ("[", "{")):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value
