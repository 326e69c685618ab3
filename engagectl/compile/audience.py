"""Condition trees → one membership query.

Shape of the query (one scan of `events` for every non-funnel event condition):

    WITH identify_traits AS (pivot of profile_traits), computed_traits AS (pivot of computed_values),
         event_stats AS (SELECT profile_id, COUNT(CASE WHEN <cond 0> THEN 1 END) AS e_0, SUM(…) AS e_1
                         FROM events WHERE event IN (…) AND <widest window> GROUP BY profile_id),
         funnel_0 AS (SELECT parent.profile_id, COUNT(*) AS candidates FROM events AS parent
                      WHERE <parent> AND [NOT] EXISTS (<child after parent>) GROUP BY 1),
         eligible AS (SELECT DISTINCT profile_id FROM identities WHERE id_type IN (…))
    SELECT eligible.profile_id FROM eligible LEFT JOIN … WHERE <the tree as booleans>

Every leaf is a non-NULL boolean, so `not` and profiles without events behave (`count: {eq: 0}`
matches a profile that never sent anything).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlglot import exp

from engagectl.compile.dialects import DialectForms
from engagectl.compile.operators import (
    CompileError,
    OperatorContext,
    operator_expression,
)
from engagectl.compile.traits import (
    COMPUTED_TRAITS,
    IDENTIFY_TRAITS,
    TraitColumns,
    TraitSource,
    resolve_trait,
)
from engagectl.config.models import (
    AllCondition,
    AllPredicates,
    AnyCondition,
    AnyPredicates,
    AudienceCondition,
    EventCondition,
    FunnelStep,
    NotCondition,
    NotPredicate,
    ParentRef,
    PropertyPredicate,
    TraitCondition,
    TraitRef,
    duration_hours,
)

EVENT_STATS = "event_stats"
ELIGIBLE = "eligible"
EVENT_ALIAS = "ev"
PARENT_ALIAS = "parent"
CHILD_ALIAS = "child"

# Identifier types that make a profile eligible (PRODUCT.md §2, `include_anonymous`).
KNOWN_ID_TYPES = ("user_id", "email")
ANONYMOUS_ID_TYPE = "anonymous_id"

_AGGREGATES = {"sum": exp.Sum, "avg": exp.Avg, "min": exp.Min, "max": exp.Max}
_COMPARISON_CLASSES = {"gte": exp.GTE, "gt": exp.GT, "eq": exp.EQ, "lte": exp.LTE, "lt": exp.LT}


def col(name: str, table: str | None = None) -> exp.Column:
    return exp.column(name, table=table, quoted=True)


def compare(left: exp.Expression, operator: str, value: float) -> exp.Expression:
    return _COMPARISON_CLASSES[operator](this=left, expression=exp.Literal.number(value))


def holds_for_zero(operator: str, value: float) -> bool:
    """Whether a count or sum of 0 (a profile without matching events) satisfies the comparison."""
    return {"gte": 0 >= value, "gt": 0 > value, "eq": value == 0, "lte": 0 <= value, "lt": 0 < value}[operator]


@dataclass
class EventWindow:
    """The judged time range of an event condition: (start, end], hour-precise, relative to as-of."""

    start: datetime | None
    end: datetime

    @classmethod
    def of(cls, as_of: datetime, within: str | None = None, between: tuple[str, str] | None = None) -> "EventWindow":
        if within is not None:
            return cls(as_of - timedelta(hours=duration_hours(within)), as_of)
        if between is not None:
            return cls(as_of - timedelta(hours=duration_hours(between[1])),
                       as_of - timedelta(hours=duration_hours(between[0])))
        return cls(None, as_of)


@dataclass
class EventColumn:
    """One column of `event_stats`: a count or an aggregate of one event condition."""

    name: str
    aggregate: str  # count | sum | avg | min | max
    match: exp.Expression  # which events count
    value: exp.Expression | None = None  # the number aggregated (None for count)

    def expression(self, filtered: bool) -> exp.Expression:
        """The aggregate; `filtered` when the scan's WHERE already keeps only matching events."""
        if self.aggregate == "count":
            return exp.Count(this=exp.Star()) if filtered else \
                exp.Count(this=exp.Case(ifs=[exp.If(this=self.match.copy(), true=exp.Literal.number(1))]))
        value = self.value.copy() if filtered else exp.Case(ifs=[exp.If(this=self.match.copy(), true=self.value.copy())])
        return _AGGREGATES[self.aggregate](this=value)


@dataclass
class NodeEvidence:
    """Expressions that show *why* a node is true or false for one profile (used by explain)."""

    value: exp.Expression
    figures: dict[str, exp.Expression] = field(default_factory=dict)
    # the matching events (`timestamp`, `message_id`[, `value`]) of every profile; explain filters it
    events: exp.Select | None = None
    events_alias: str = EVENT_ALIAS


class MembershipQuery:
    """Builds the membership query of one condition tree; one instance per query."""

    def __init__(self, forms: DialectForms, schema: str, as_of: datetime, project=None, explaining: bool = False) -> None:
        self.explaining = explaining
        self.forms = forms
        self.schema = schema
        self.as_of = as_of
        self.project = project
        self.traits = TraitColumns(schema, forms)
        self.event_columns: dict[str, EventColumn] = {}
        self.event_filters: list[tuple[str, EventWindow]] = []
        self.funnels: dict[str, exp.Select] = {}
        self.evidence: dict[int, NodeEvidence] = {}
        self._scan_needs_traits = False
        self._funnel_keys: dict[str, str] = {}
        # per node: CTEs that must hold a row for the profile whenever the node is true
        self.requires: dict[int, set[str]] = {}

    # ---- tables ------------------------------------------------------------------------------

    def table(self, name: str, alias: str | None = None) -> exp.Table:
        table = exp.table_(name, db=self.schema, quoted=True)
        return exp.alias_(table, alias, table=True, quoted=True) if alias else table

    # ---- the tree ----------------------------------------------------------------------------

    def condition(self, node) -> exp.Expression:
        """The node as a non-NULL boolean over the joined profile row."""
        if isinstance(node, AllCondition):
            result = exp.and_(*(self.condition(child) for child in node.all))
            self.requires[id(node)] = set().union(*(self.requires.get(id(child), set()) for child in node.all))
        elif isinstance(node, AnyCondition):
            result = exp.or_(*(self.condition(child) for child in node.any))
            self.requires[id(node)] = set.intersection(*(self.requires.get(id(child), set()) for child in node.any))
        elif isinstance(node, NotCondition):
            result = exp.not_(self.condition(node.not_))
        elif isinstance(node, EventCondition):
            result = self._funnel(node) if (node.then or node.then_not) else self._event(node)
        elif isinstance(node, TraitCondition):
            source = resolve_trait(node.trait, self.project)
            value = self.traits.value(source)
            result = operator_expression(value, node, self._operator_context(parent=None))
            self.evidence[id(node)] = NodeEvidence(result, {"value": value})
            if node.operator != "absent":
                self.requires[id(node)] = {IDENTIFY_TRAITS if source.table == "profile_traits" else COMPUTED_TRAITS}
        elif isinstance(node, AudienceCondition):
            value = self.traits.value(TraitSource("computed_values", node.audience))
            result = exp.func("COALESCE", exp.EQ(this=value, expression=exp.Literal.string("true")), exp.false())
            self.evidence[id(node)] = NodeEvidence(result, {"value": value})
            self.requires[id(node)] = {COMPUTED_TRAITS}
        else:
            raise CompileError(f"unknown condition node {type(node).__name__}")
        self.evidence.setdefault(id(node), NodeEvidence(result))
        self.evidence[id(node)].value = result
        return exp.paren(result, copy=False)

    # ---- event conditions: one column each in the single events scan --------------------------

    def _event(self, node: EventCondition) -> exp.Expression:
        window = EventWindow.of(self.as_of, node.within, node.between)
        match = exp.and_(
            exp.EQ(this=col("event", EVENT_ALIAS), expression=exp.Literal.string(node.event)),
            *self._window(col("timestamp", EVENT_ALIAS), window, upper_checked=window.end == self.as_of),
            *([self.predicate(node.where, EVENT_ALIAS)] if node.where is not None else []),
        )
        self.event_filters.append((node.event, window))
        aggregate = node.aggregate
        if aggregate is None:
            column = self._event_column("count", match)
            measured = exp.func("COALESCE", col(column, EVENT_STATS), exp.Literal.number(0))
            comparison = node.effective_count
            result = compare(measured, comparison.operator, comparison.value)
            figures = {"count": measured}
            if not holds_for_zero(comparison.operator, comparison.value):
                self.requires[id(node)] = {EVENT_STATS}
        else:
            name, predicate = aggregate
            number = self.forms.to_number(self.forms.json_text(col("properties", EVENT_ALIAS), predicate.property.split(".")))
            column = self._event_column(name, match, number)
            measured = col(column, EVENT_STATS)
            if name == "sum":
                # a profile without matching events has spent nothing
                measured = exp.func("COALESCE", measured, exp.Literal.number(0))
            if name != "sum" or not holds_for_zero(predicate.operator, predicate.value):
                self.requires[id(node)] = {EVENT_STATS}
            result = exp.func("COALESCE", compare(measured, predicate.operator, predicate.value), exp.false())
            figures = {name: measured}
            if self.explaining:
                # only explain pays for the extra count of an aggregated condition
                count_column = self._event_column("count", match.copy())
                figures["count"] = exp.func("COALESCE", col(count_column, EVENT_STATS), exp.Literal.number(0))
        self.evidence[id(node)] = NodeEvidence(result, figures)
        if self.explaining:
            measured_value = None
            if aggregate is not None:
                measured_value = self.forms.json_text(col("properties", EVENT_ALIAS), aggregate[1].property.split("."))
            self.evidence[id(node)].events = self._matching_events(
                EVENT_ALIAS, [match.copy(), exp.LTE(this=col("timestamp", EVENT_ALIAS), expression=self.forms.timestamp_literal(self.as_of))],
                measured_value)
        return result

    def _matching_events(self, alias: str, conditions: list[exp.Expression], value: exp.Expression | None = None) -> exp.Select:
        selections = [col("timestamp", alias), col("message_id", alias)]
        if value is not None:
            selections.append(exp.alias_(value, "value", quoted=True))
        query = exp.select(*selections).from_(self.table("events", alias))
        return self._join_pivots(query, conditions, alias).where(exp.and_(*conditions))

    def _event_column(self, aggregate: str, match: exp.Expression, value: exp.Expression | None = None) -> str:
        """A column of `event_stats`; identical conditions share one column."""
        column = EventColumn("", aggregate, match, value)
        fingerprint = column.expression(filtered=False).sql(dialect=self.forms.name)
        if fingerprint not in self.event_columns:
            column.name = f"e_{len(self.event_columns)}"
            self.event_columns[fingerprint] = column
        return self.event_columns[fingerprint].name

    def _window(self, timestamp: exp.Expression, window: EventWindow, upper_checked: bool = False) -> list[exp.Expression]:
        """`start < timestamp <= end`; the as-of bound is left out where the scan already applies it."""
        bounds = []
        if window.start is not None:
            bounds.append(exp.GT(this=timestamp.copy(), expression=self.forms.timestamp_literal(window.start)))
        if not upper_checked:
            bounds.append(exp.LTE(this=timestamp.copy(), expression=self.forms.timestamp_literal(window.end)))
        return bounds

    # ---- funnels: every parent event is a candidate ---------------------------------------------

    def _funnel(self, node: EventCondition) -> exp.Expression:
        """Parents (the event with its own where and window) followed, or not, by the child.

        Every parent event is a candidate; the parent's `count` (default: at least one) counts the
        candidates that qualify, so Product Added → Order Completed → Product Added still leaves
        one abandoned cart (PRODUCT.md §3).
        """
        if node.aggregate is not None:
            raise CompileError(f"event `{node.event}`: a funnel parent takes a `count`, not `{node.aggregate[0]}`")
        step: FunnelStep = node.then or node.then_not
        window = EventWindow.of(self.as_of, node.within, node.between)
        parent_ts = col("timestamp", PARENT_ALIAS)
        child_ts = col("timestamp", CHILD_ALIAS)
        child_conditions = [
            exp.EQ(this=col("profile_id", CHILD_ALIAS), expression=col("profile_id", PARENT_ALIAS)),
            exp.EQ(this=col("event", CHILD_ALIAS), expression=exp.Literal.string(step.event)),
            exp.GT(this=child_ts.copy(), expression=parent_ts.copy()),
        ]
        if step.within is not None:
            child_conditions.append(exp.LTE(this=child_ts.copy(),
                                            expression=self.forms.add_hours(parent_ts.copy(), duration_hours(step.within))))
        child_conditions.append(exp.LTE(this=child_ts.copy(), expression=self.forms.timestamp_literal(self.as_of)))
        if step.where is not None:
            child_conditions.append(self.predicate(step.where, CHILD_ALIAS, parent=PARENT_ALIAS))
        children = self.table("events", CHILD_ALIAS)
        if step.count is None:
            followed = exp.Exists(this=exp.select(exp.Literal.number(1)).from_(children).where(exp.and_(*child_conditions)))
        else:
            counted = exp.Subquery(this=exp.select(exp.Count(this=exp.Star())).from_(children).where(exp.and_(*child_conditions)))
            followed = compare(counted, step.count.operator, step.count.value)
        qualifies = followed if node.then is not None else exp.not_(followed)

        parent_conditions = [
            exp.EQ(this=col("event", PARENT_ALIAS), expression=exp.Literal.string(node.event)),
            *self._window(parent_ts, window),
        ]
        if node.where is not None:
            parent_conditions.append(self.predicate(node.where, PARENT_ALIAS))
        parent_conditions.append(qualifies)

        query = (exp.select(col("profile_id", PARENT_ALIAS), exp.alias_(exp.Count(this=exp.Star()), "candidates", quoted=True))
                 .from_(self.table("events", PARENT_ALIAS)))
        fingerprint = json.dumps(node.model_dump(mode="json", by_alias=True, exclude_none=True), sort_keys=True)
        name = self._funnel_keys.get(fingerprint)
        if name is None:
            name = f"funnel_{len(self.funnels)}"
            self._funnel_keys[fingerprint] = name
            self.funnels[name] = self._finish_funnel(query, parent_conditions)
        if self.explaining:
            self.evidence.setdefault(id(node), NodeEvidence(exp.true()))
            self.evidence[id(node)].events = self._matching_events(PARENT_ALIAS, [c.copy() for c in parent_conditions])
            self.evidence[id(node)].events_alias = PARENT_ALIAS
        comparison = node.effective_count
        measured = exp.func("COALESCE", col("candidates", name), exp.Literal.number(0))
        result = compare(measured, comparison.operator, comparison.value)
        if not holds_for_zero(comparison.operator, comparison.value):
            self.requires[id(node)] = {name}
        events = self.evidence[id(node)].events if id(node) in self.evidence else None
        self.evidence[id(node)] = NodeEvidence(result, {"qualifying_parents": measured}, events, PARENT_ALIAS)
        return result

    def _finish_funnel(self, query: exp.Select, conditions: list[exp.Expression]) -> exp.Select:
        query = self._join_pivots(query, conditions, PARENT_ALIAS)
        return query.where(exp.and_(*conditions)).group_by(col("profile_id", PARENT_ALIAS))

    @staticmethod
    def _join_pivots(query: exp.Select, conditions: list[exp.Expression], alias: str) -> exp.Select:
        """Trait references in event predicates read the trait pivots, joined to the event row."""
        for pivot in (IDENTIFY_TRAITS, COMPUTED_TRAITS):
            if any(column.table == pivot for c in conditions for column in c.find_all(exp.Column)):
                query = query.join(exp.table_(pivot, quoted=True), join_type="left",
                                   on=exp.EQ(this=col("profile_id", pivot), expression=col("profile_id", alias)))
        return query

    # ---- property predicates --------------------------------------------------------------------

    def predicate(self, node, alias: str, parent: str | None = None) -> exp.Expression:
        """A property predicate tree over the event row `alias` (funnel children also see `parent`)."""
        if isinstance(node, AllPredicates):
            return exp.and_(*(self.predicate(child, alias, parent) for child in node.all))
        if isinstance(node, AnyPredicates):
            return exp.paren(exp.or_(*(self.predicate(child, alias, parent) for child in node.any)))
        if isinstance(node, NotPredicate):
            return exp.not_(self.predicate(node.not_, alias, parent))
        if isinstance(node, PropertyPredicate):
            column, path = ("properties", node.property) if node.property is not None else ("context", node.context)
            value = self.forms.json_text(col(column, alias), path.split("."))
            return operator_expression(value, node, self._operator_context(parent, scan=alias == EVENT_ALIAS))
        raise CompileError(f"unknown predicate {type(node).__name__}")

    def _operator_context(self, parent: str | None, scan: bool = False) -> OperatorContext:
        def resolve(reference):
            if isinstance(reference, ParentRef):
                if parent is None:
                    raise CompileError(f"`{{parent: {reference.parent}}}` only works inside a funnel's `then`/`then_not`")
                return self.forms.json_text(col("properties", parent), reference.parent.split("."))
            if isinstance(reference, TraitRef):
                if scan:
                    self._scan_needs_traits = True
                return self.traits.value(resolve_trait(reference.trait, self.project))
            raise CompileError(f"unknown reference {reference!r}")

        return OperatorContext(self.forms, self.as_of, resolve)

    # ---- assembly --------------------------------------------------------------------------------

    def event_stats(self) -> exp.Select:
        """One GROUP BY over events with a conditional aggregate per event condition."""
        timestamp = col("timestamp", EVENT_ALIAS)
        names = sorted({name for name, _ in self.event_filters})
        filters = [
            exp.In(this=col("event", EVENT_ALIAS), expressions=[exp.Literal.string(n) for n in names]),
            exp.LTE(this=timestamp.copy(), expression=self.forms.timestamp_literal(self.as_of)),
        ]
        starts = [window.start for _, window in self.event_filters]
        if all(start is not None for start in starts):
            filters.append(exp.GT(this=timestamp.copy(), expression=self.forms.timestamp_literal(min(starts))))
        columns = list(self.event_columns.values())
        # one condition (the common case): its match goes into WHERE, as a hand-written query would
        filtered = len({c.match.sql(dialect=self.forms.name) for c in columns}) == 1
        if filtered:
            filters = [filters[1], columns[0].match.copy()]  # the match names the event and window
        query = exp.select(
            col("profile_id", EVENT_ALIAS),
            *(exp.alias_(column.expression(filtered), column.name, quoted=True) for column in columns),
        ).from_(self.table("events", EVENT_ALIAS))
        if self._scan_needs_traits:
            for pivot in self.traits.tables:
                query = query.join(exp.table_(pivot, quoted=True), join_type="left",
                                   on=exp.EQ(this=col("profile_id", pivot), expression=col("profile_id", EVENT_ALIAS)))
        return query.where(exp.and_(*filters)).group_by(col("profile_id", EVENT_ALIAS))

    def eligible(self, include_anonymous: bool, distinct: bool = True) -> exp.Select:
        id_types = KNOWN_ID_TYPES + ((ANONYMOUS_ID_TYPE,) if include_anonymous else ())
        query = exp.select(col("profile_id")).from_(self.table("identities")).where(
            exp.In(this=col("id_type"), expressions=[exp.Literal.string(t) for t in id_types]))
        return query.distinct() if distinct else query

    def membership(self, root, where: exp.Expression, include_anonymous: bool) -> exp.Select:
        """The members: profiles where `where` holds, eligible by their identifiers.

        When the tree cannot hold without a row in one of the CTEs (e.g. "did X at least once"),
        that CTE drives the query and eligibility is a semi-join; otherwise every eligible profile
        is a candidate (e.g. "never did X").
        """
        required = self.requires.get(id(root), set())
        ctes = self._ctes()
        # prefer driving from the events (the most selective), then funnels, then trait pivots
        preference = [EVENT_STATS, *self.funnels, *self.traits.tables]
        anchor = next((name for name in preference if name in required), None)
        if anchor is None:
            return self.assemble(self.eligible(include_anonymous), [col("profile_id", ELIGIBLE)], where)
        query = exp.select(col("profile_id", anchor)).from_(exp.table_(anchor, quoted=True))
        for name, _ in ctes:
            if name != anchor:
                query = query.join(exp.table_(name, quoted=True), join_type="left",
                                   on=exp.EQ(this=col("profile_id", name), expression=col("profile_id", anchor)))
        eligible = col("profile_id", anchor).isin(query=self.eligible(include_anonymous, distinct=False))
        query = query.where(exp.and_(where, eligible))
        for name, cte in ctes:
            query = query.with_(exp.to_identifier(name, quoted=True), as_=cte)
        return query

    def _ctes(self) -> list[tuple[str, exp.Select]]:
        # the trait pivots come first: event scans and funnels may read them
        ctes: list[tuple[str, exp.Select]] = [(pivot, self.traits.pivot(pivot)) for pivot in self.traits.tables]
        if self.event_columns:
            ctes.append((EVENT_STATS, self.event_stats()))
        ctes.extend(self.funnels.items())
        return ctes

    def assemble(self, base: exp.Select, selections: list[exp.Expression], where: exp.Expression | None) -> exp.Select:
        """`base` (the candidate profiles, CTE `eligible`) joined to every CTE the tree used."""
        ctes = self._ctes()
        ctes.append((ELIGIBLE, base))
        query = exp.select(*selections).from_(exp.table_(ELIGIBLE, quoted=True))
        for name, _ in ctes[:-1]:
            query = query.join(exp.table_(name, quoted=True), join_type="left",
                               on=exp.EQ(this=col("profile_id", name), expression=col("profile_id", ELIGIBLE)))
        if where is not None:
            query = query.where(where)
        for name, cte in ctes:
            query = query.with_(exp.to_identifier(name, quoted=True), as_=cte)
        return query
