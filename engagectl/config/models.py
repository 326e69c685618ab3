"""Pydantic models of the engagectl language: engage.yaml and every resource kind.

These models are the single source of truth for the language: the loader validates YAML with
them, the planner hashes their canonical form, the compiler walks their condition trees, and
`specs/schema/` is generated from them. Keep field names exactly as PRODUCT.md §1–2 spells them.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

KEY_PATTERN = r"^[a-z][a-z0-9_]{0,254}$"
DURATION_PATTERN = r"^[1-9][0-9]*[hdw]$"
_DURATION_RE = re.compile(DURATION_PATTERN)
_HOURS_PER_UNIT = {"h": 1, "d": 24, "w": 24 * 7}

Key = Annotated[str, Field(pattern=KEY_PATTERN, description="Lower-case key: ^[a-z][a-z0-9_]{0,254}$")]
Duration = Annotated[
    str, Field(pattern=DURATION_PATTERN, description="A duration in hours, days or weeks: 12h, 90d, 2w")
]


def duration_hours(duration: str) -> int:
    """Hours in a duration string; windows are hour-precise, so `90d` is 2,160 hours."""
    if not _DURATION_RE.match(duration):
        raise ValueError(f"invalid duration {duration!r}: use Nh, Nd or Nw")
    return int(duration[:-1]) * _HOURS_PER_UNIT[duration[-1]]


class Model(BaseModel):
    """Base of every language model: unknown fields are errors, never silently ignored."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# --------------------------------------------------------------------------------------------
# Comparisons and operators
# --------------------------------------------------------------------------------------------

COMPARISON_OPERATORS = ("gte", "gt", "eq", "lte", "lt")


class Comparison(Model):
    """`{gte|gt|eq|lte|lt: N}`: exactly one operator with a number (counts, aggregates)."""

    gte: int | float | None = None
    gt: int | float | None = None
    eq: int | float | None = None
    lte: int | float | None = None
    lt: int | float | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> "Comparison":
        set_ops = [op for op in COMPARISON_OPERATORS if getattr(self, op) is not None]
        if len(set_ops) != 1:
            raise ValueError(f"give exactly one of {', '.join(COMPARISON_OPERATORS)} (got {len(set_ops)})")
        return self

    @property
    def operator(self) -> str:
        return next(op for op in COMPARISON_OPERATORS if getattr(self, op) is not None)

    @property
    def value(self) -> float:
        return getattr(self, self.operator)


class ParentRef(Model):
    """`{parent: product_id}`: the value of a property on the funnel's parent event."""

    parent: str


class TraitRef(Model):
    """`{trait: avg_spend}`: the value of a trait on the same profile."""

    trait: str


Scalar = Union[str, int, float, bool]
# A predicate value: a literal, or a reference resolved per row/profile.
Operand = Union[ParentRef, TraitRef, Scalar]

# Every operator a trait condition or a property predicate may use, with the value it takes.
VALUE_OPERATORS = ("eq", "neq", "gt", "gte", "lt", "lte")
LIST_OPERATORS = ("one_of", "none_of")
TEXT_OPERATORS = ("contains", "omits", "starts_with", "ends_with")
PRESENCE_OPERATORS = ("exists", "absent")
DATE_OPERATORS = ("before", "after")
RELATIVE_DATE_OPERATORS = ("within_last", "within_next", "before_last", "after_next")
OPERATORS = (
    VALUE_OPERATORS + LIST_OPERATORS + TEXT_OPERATORS + PRESENCE_OPERATORS + DATE_OPERATORS
    + RELATIVE_DATE_OPERATORS
)


class OperatorFields(Model):
    """The operator half of a trait condition or property predicate: exactly one is set.

    - eq/neq/gt/gte/lt/lte: a scalar or a `{parent: p}` / `{trait: k}` reference
    - one_of/none_of: a list of scalars
    - contains/omits/starts_with/ends_with: a string (contains/omits also take a list: any of)
    - exists/absent: `true`
    - before/after: an ISO-8601 date or timestamp (or a reference)
    - within_last/within_next/before_last/after_next: a duration relative to the run's as-of
    `neq`, `none_of` and `omits` never match a missing value; `absent` does (PRODUCT.md §3).
    """

    eq: Operand | None = None
    neq: Operand | None = None
    gt: Operand | None = None
    gte: Operand | None = None
    lt: Operand | None = None
    lte: Operand | None = None
    one_of: list[Scalar] | None = None
    none_of: list[Scalar] | None = None
    contains: str | list[str] | None = None
    omits: str | list[str] | None = None
    starts_with: str | None = None
    ends_with: str | None = None
    exists: Literal[True] | None = None
    absent: Literal[True] | None = None
    before: str | ParentRef | TraitRef | None = None
    after: str | ParentRef | TraitRef | None = None
    within_last: Duration | None = None
    within_next: Duration | None = None
    before_last: Duration | None = None
    after_next: Duration | None = None

    @model_validator(mode="after")
    def _exactly_one_operator(self):
        set_ops = [op for op in OPERATORS if getattr(self, op) is not None]
        if len(set_ops) != 1:
            found = ", ".join(set_ops) if set_ops else "none"
            raise ValueError(f"give exactly one operator (found: {found}); operators: {', '.join(OPERATORS)}")
        return self

    @property
    def operator(self) -> str:
        return next(op for op in OPERATORS if getattr(self, op) is not None)

    @property
    def value(self) -> Any:
        return getattr(self, self.operator)


# --------------------------------------------------------------------------------------------
# Property predicates (inside an event's `where`)
# --------------------------------------------------------------------------------------------


class PropertyPredicate(OperatorFields):
    """`{property: revenue, gt: 100}` or `{context: page.url, contains: pricing}`.

    `property` and `context` are dotted paths into the event's properties / context.
    """

    property: str | None = None
    context: str | None = None

    @model_validator(mode="after")
    def _one_target(self):
        if (self.property is None) == (self.context is None):
            raise ValueError("a property predicate names exactly one of `property` or `context`")
        return self


class AllPredicates(Model):
    all: list["Predicate"] = Field(min_length=1)


class AnyPredicates(Model):
    any: list["Predicate"] = Field(min_length=1)


class NotPredicate(Model):
    not_: "Predicate" = Field(alias="not")


def _predicate_tag(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        return {AllPredicates: "all", AnyPredicates: "any", NotPredicate: "not"}.get(type(value), "leaf")
    if isinstance(value, dict):
        for tag in ("all", "any", "not"):
            if tag in value:
                return tag
        return "leaf"
    return None


Predicate = Annotated[
    Union[
        Annotated[AllPredicates, Tag("all")],
        Annotated[AnyPredicates, Tag("any")],
        Annotated[NotPredicate, Tag("not")],
        Annotated[PropertyPredicate, Tag("leaf")],
    ],
    Discriminator(_predicate_tag),
]


# --------------------------------------------------------------------------------------------
# Condition nodes (the `where` of an audience, a journey entry or a step)
# --------------------------------------------------------------------------------------------


class AggregatePredicate(Model):
    """`sum: {property: revenue, gte: 500}`: an aggregate of a numeric property, compared."""

    property: str
    gte: int | float | None = None
    gt: int | float | None = None
    eq: int | float | None = None
    lte: int | float | None = None
    lt: int | float | None = None

    @model_validator(mode="after")
    def _exactly_one(self):
        set_ops = [op for op in COMPARISON_OPERATORS if getattr(self, op) is not None]
        if len(set_ops) != 1:
            raise ValueError(f"give exactly one of {', '.join(COMPARISON_OPERATORS)}")
        return self

    @property
    def operator(self) -> str:
        return next(op for op in COMPARISON_OPERATORS if getattr(self, op) is not None)

    @property
    def value(self) -> float:
        return getattr(self, self.operator)


AGGREGATES = ("sum", "avg", "min", "max")


class FunnelStep(Model):
    """A `then` / `then_not` child: an event within `within` after each parent event."""

    event: str
    where: Predicate | None = None
    within: Duration | None = None
    count: Comparison | None = None


class EventCondition(Model):
    """Did (or did not) perform an event, optionally filtered, windowed, counted or aggregated."""

    event: str
    where: Predicate | None = None
    within: Duration | None = None
    between: tuple[Duration, Duration] | None = None
    count: Comparison | None = None
    sum: AggregatePredicate | None = None
    avg: AggregatePredicate | None = None
    min: AggregatePredicate | None = None
    max: AggregatePredicate | None = None
    then: FunnelStep | None = None
    then_not: FunnelStep | None = None

    @model_validator(mode="after")
    def _consistent(self):
        if self.within is not None and self.between is not None:
            raise ValueError("use either `within` or `between`, not both")
        if self.between is not None and duration_hours(self.between[0]) >= duration_hours(self.between[1]):
            raise ValueError("`between: [from, to]` needs from < to (e.g. [30d, 90d])")
        aggregates = [name for name in AGGREGATES if getattr(self, name) is not None]
        if len(aggregates) > 1:
            raise ValueError(f"use at most one aggregate (found {', '.join(aggregates)})")
        if aggregates and self.count is not None:
            raise ValueError(f"use either `count` or `{aggregates[0]}`, not both")
        if self.then is not None and self.then_not is not None:
            raise ValueError("use either `then` or `then_not`, not both")
        return self

    @property
    def aggregate(self) -> tuple[str, AggregatePredicate] | None:
        for name in AGGREGATES:
            if getattr(self, name) is not None:
                return name, getattr(self, name)
        return None

    @property
    def effective_count(self) -> Comparison:
        """The count comparison, with the default `gte: 1`."""
        return self.count if self.count is not None else Comparison(gte=1)


class TraitCondition(OperatorFields):
    """`{trait: plan, one_of: [pro, enterprise]}`: a profile trait (custom, computed, SQL or audience)."""

    trait: str


class AudienceCondition(Model):
    """`{audience: churned_users}`: member of another audience."""

    audience: str


class AllCondition(Model):
    all: list["Condition"] = Field(min_length=1)


class AnyCondition(Model):
    any: list["Condition"] = Field(min_length=1)


class NotCondition(Model):
    not_: "Condition" = Field(alias="not")


_CONDITION_TAGS = ("all", "any", "not", "event", "trait", "audience")
_CONDITION_CLASSES = {
    AllCondition: "all",
    AnyCondition: "any",
    NotCondition: "not",
    EventCondition: "event",
    TraitCondition: "trait",
    AudienceCondition: "audience",
}


def _condition_tag(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        return _CONDITION_CLASSES.get(type(value))
    if isinstance(value, dict):
        for tag in _CONDITION_TAGS:
            if tag in value:
                return tag
    return None


Condition = Annotated[
    Union[
        Annotated[AllCondition, Tag("all")],
        Annotated[AnyCondition, Tag("any")],
        Annotated[NotCondition, Tag("not")],
        Annotated[EventCondition, Tag("event")],
        Annotated[TraitCondition, Tag("trait")],
        Annotated[AudienceCondition, Tag("audience")],
    ],
    Discriminator(
        _condition_tag,
        custom_error_type="unknown_condition",
        custom_error_message="a condition is one of all, any, not, event, trait or audience",
    ),
]


# --------------------------------------------------------------------------------------------
# Destination bindings
# --------------------------------------------------------------------------------------------


class TrackNames(Model):
    """Track event names for a binding: audiences use enter/exit, traits use event."""

    enter: str = "Audience Entered"
    exit: str = "Audience Exited"
    event: str = "Trait Computed"


IdSyncStrategy = Literal["first", "last", "all"]


class DestinationBinding(Model):
    """Long form of a binding: `{to: braze_us, identify: true, track: {...}, id_sync: {...}}`."""

    to: Key
    identify: bool = True
    track: bool | TrackNames = False
    id_sync: dict[str, IdSyncStrategy] | None = None

    @property
    def track_names(self) -> TrackNames | None:
        if self.track is False:
            return None
        return TrackNames() if self.track is True else self.track


def _binding_tag(value: Any) -> str:
    return "short" if isinstance(value, str) else "long"


Binding = Annotated[
    Union[Annotated[Key, Tag("short")], Annotated[DestinationBinding, Tag("long")]],
    Discriminator(_binding_tag),
]


def normalise_binding(binding: str | DestinationBinding) -> DestinationBinding:
    """The short form `- braze_us` means `{to: braze_us}` with the defaults."""
    return DestinationBinding(to=binding) if isinstance(binding, str) else binding


# --------------------------------------------------------------------------------------------
# Resources
# --------------------------------------------------------------------------------------------


class Resource(Model):
    """Fields every resource has."""

    key: Key
    name: str | None = None
    description: str | None = None
    protect: bool = False

    @property
    def address(self) -> str:
        return f"{self.kind}.{self.key}"  # type: ignore[attr-defined]


class BoundResource(Resource):
    destinations: list[Binding] = Field(default_factory=list)

    def bindings(self) -> list[DestinationBinding]:
        return [normalise_binding(b) for b in self.destinations]


class Audience(BoundResource):
    kind: Literal["audience"]
    include_anonymous: bool = False
    where: Condition


class ComputedValue(Model):
    """`value:` of a computed trait; `count` may be written as the bare string `count`."""

    count: Literal[True] | None = None
    sum: str | None = None
    avg: str | None = None
    min: str | None = None
    max: str | None = None
    most_frequent: str | None = None
    min_frequency: int | None = Field(default=None, ge=1)
    first: str | None = None
    last: str | None = None
    unique: str | None = None
    unique_count: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _bare_count(cls, value: Any) -> Any:
        if value == "count":
            return {"count": True}
        return value

    @model_validator(mode="after")
    def _exactly_one(self):
        set_types = [t for t in COMPUTED_VALUE_TYPES if getattr(self, t) is not None]
        if len(set_types) != 1:
            raise ValueError(f"give exactly one of {', '.join(COMPUTED_VALUE_TYPES)}")
        if self.min_frequency is not None and self.most_frequent is None:
            raise ValueError("`min_frequency` only goes with `most_frequent`")
        return self

    @property
    def type(self) -> str:
        return next(t for t in COMPUTED_VALUE_TYPES if getattr(self, t) is not None)

    @property
    def property(self) -> str | None:
        return None if self.type == "count" else getattr(self, self.type)


COMPUTED_VALUE_TYPES = (
    "count", "sum", "avg", "min", "max", "most_frequent", "first", "last", "unique", "unique_count",
)


class ComputedTrait(BoundResource):
    kind: Literal["computed_trait"]
    event: str
    where: Predicate | None = None
    within: Duration | None = None
    value: ComputedValue
    include_anonymous: bool = True


class SqlTrait(BoundResource):
    kind: Literal["sql_trait"]
    identifier: Literal["user_id", "email", "anonymous_id"]
    sql: str


class JourneyStep(Model):
    key: Key
    name: str | None = None
    wait: Duration | None = None
    where: Condition | None = None
    destinations: list[Binding] = Field(default_factory=list)

    def bindings(self) -> list[DestinationBinding]:
        return [normalise_binding(b) for b in self.destinations]


class Journey(Resource):
    kind: Literal["journey"]
    include_anonymous: bool = False
    entry: Condition
    exit_after: Duration | None = None
    steps: list[JourneyStep] = Field(min_length=1)

    def step_audience_key(self, step: JourneyStep) -> str:
        """Each step is an audience named `<journey>__<step>`."""
        return f"{self.key}__{step.key}"


class Destination(Resource):
    kind: Literal["destination"]
    provider: str
    settings: dict[str, Any] = Field(default_factory=dict)
    sources: list[str] = Field(
        default_factory=list,
        description="Sources whose raw events this destination forwards; it then cannot receive audiences or traits.",
    )


ResourceModel = Annotated[
    Union[Audience, ComputedTrait, SqlTrait, Journey, Destination],
    Field(discriminator="kind"),
]
RESOURCE_KINDS = ("audience", "computed_trait", "sql_trait", "journey", "destination")
KIND_MODELS: dict[str, type[Resource]] = {
    "audience": Audience,
    "computed_trait": ComputedTrait,
    "sql_trait": SqlTrait,
    "journey": Journey,
    "destination": Destination,
}


# --------------------------------------------------------------------------------------------
# engage.yaml
# --------------------------------------------------------------------------------------------


class Source(Model):
    """Where Segment-spec events come from: files to ingest, or an existing warehouse table."""

    key: Key
    path: str | list[str] | None = None
    table: str | None = None
    write_key: str | None = None

    @model_validator(mode="after")
    def _path_or_table(self):
        if self.path is not None and self.table is not None:
            raise ValueError("a source has either `path` or `table`, not both")
        return self

    @property
    def paths(self) -> list[str]:
        if self.path is None:
            return []
        return [self.path] if isinstance(self.path, str) else list(self.path)


class BlockedRegex(Model):
    regex: str

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regular expression: {exc}") from exc
        return value


BlockedValue = Union[str, BlockedRegex]
Period = Literal["ever", "daily", "weekly", "monthly", "annually"]


class IdentifierRule(Model):
    """Per identifier type: how many values a profile may hold (per period) and its priority."""

    limit: int | None = Field(default=None, ge=1)
    priority: int | None = Field(default=None, ge=1)
    period: Period = "ever"
    blocked_values: list[BlockedValue] = Field(default_factory=list)


DEFAULT_LIMITS = {"user_id": 1}
DEFAULT_LIMIT = 5


class IdentitySettings(Model):
    identifiers: dict[str, IdentifierRule] = Field(default_factory=dict)
    blocked_values: list[BlockedValue] = Field(default_factory=list)

    def limit(self, id_type: str) -> int:
        rule = self.identifiers.get(id_type)
        if rule is not None and rule.limit is not None:
            return rule.limit
        return DEFAULT_LIMITS.get(id_type, DEFAULT_LIMIT)

    def period(self, id_type: str) -> str:
        rule = self.identifiers.get(id_type)
        return rule.period if rule is not None else "ever"

    def priority_order(self, id_types: list[str]) -> list[str]:
        """Identifier types from highest to lowest priority.

        Explicit priorities first (ascending), then user_id, email, then alphabetical.
        """

        def rank(id_type: str) -> tuple:
            rule = self.identifiers.get(id_type)
            if rule is not None and rule.priority is not None:
                return (0, rule.priority, id_type)
            default = {"user_id": 0, "email": 1}.get(id_type, 2)
            return (1, default, id_type)

        return sorted(set(id_types), key=rank)


class ProjectSettings(Model):
    """engage.yaml."""

    space: str = "spa_default"
    warehouse: str = "duckdb:///.engage/warehouse.duckdb"
    state: str = "sqlite:///.engage/state.db"
    sources: list[Source] = Field(default_factory=list)
    identity: IdentitySettings = Field(default_factory=IdentitySettings)
    vars: dict[str, Any] = Field(default_factory=dict, description="Values for {{ var('x') }} in SQL traits.")
    tests: list[str] = Field(default_factory=lambda: ["tests/*.yaml", "tests/*.yml"])


for _model in (AllPredicates, AnyPredicates, NotPredicate, AllCondition, AnyCondition, NotCondition):
    _model.model_rebuild()
