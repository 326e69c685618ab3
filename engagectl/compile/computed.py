"""Computed traits → `SELECT profile_id, value` over the events of one name.

count/sum/avg/min/max/unique_count are one GROUP BY. most_frequent ranks value counts
(at least `min_frequency`, ties to the alphabetically first value). first/last pick the value at
the earliest/latest timestamp (ties by message_id): DuckDB's arg_min/arg_max and Spark's
MIN_BY/MAX_BY in one pass, ROW_NUMBER elsewhere. unique is a sorted list.
"""

from __future__ import annotations

from sqlglot import exp

from engagectl.compile.audience import (
    EVENT_ALIAS,
    KNOWN_ID_TYPES,
    EventWindow,
    MembershipQuery,
    col,
)
from engagectl.config.models import ComputedTrait

# min_frequency of most_frequent when the definition gives none (PRODUCT.md §3).
DEFAULT_MIN_FREQUENCY = 2


def computed_trait_query(trait: ComputedTrait, builder: MembershipQuery) -> exp.Select:
    forms = builder.forms
    value_type = trait.value.type
    window = EventWindow.of(builder.as_of, trait.within)
    conditions = [
        exp.EQ(this=col("event", EVENT_ALIAS), expression=exp.Literal.string(trait.event)),
        *builder._window(col("timestamp", EVENT_ALIAS), window),
    ]
    if trait.where is not None:
        conditions.append(builder.predicate(trait.where, EVENT_ALIAS))
    if not trait.include_anonymous:
        conditions.append(_eligible(builder))
    text = None
    if trait.value.property is not None:
        text = forms.json_text(col("properties", EVENT_ALIAS), trait.value.property.split("."))

    if value_type in ("sum", "avg", "min", "max"):
        number = forms.to_number(text)
        conditions.append(exp.Not(this=exp.Is(this=number.copy(), expression=exp.null())))
        aggregate = {"sum": exp.Sum, "avg": exp.Avg, "min": exp.Min, "max": exp.Max}[value_type](this=number)
        if value_type in ("sum", "avg"):
            aggregate = forms.stable_number(aggregate)
        return _grouped(builder, aggregate, conditions)
    if value_type == "count":
        return _grouped(builder, exp.Count(this=exp.Star()), conditions)
    conditions.append(exp.Not(this=exp.Is(this=text.copy(), expression=exp.null())))
    if value_type == "unique_count":
        return _grouped(builder, exp.Count(this=exp.Distinct(expressions=[text])), conditions)
    if value_type == "unique":
        return _grouped(builder, forms.sorted_distinct_list(text), conditions)
    if value_type == "most_frequent":
        return _most_frequent(builder, text, conditions, trait.value.min_frequency or DEFAULT_MIN_FREQUENCY)
    return _first_or_last(builder, text, conditions, last=value_type == "last")


def _events(builder: MembershipQuery, scan_traits: bool) -> exp.Select:
    query = exp.select().from_(builder.table("events", EVENT_ALIAS))
    if scan_traits:
        for pivot in builder.traits.tables:
            query = query.join(exp.table_(pivot, quoted=True), join_type="left",
                               on=exp.EQ(this=col("profile_id", pivot), expression=col("profile_id", EVENT_ALIAS)))
    return query


def _with_pivots(builder: MembershipQuery, query: exp.Select) -> exp.Select:
    for pivot in builder.traits.tables:
        query = query.with_(exp.to_identifier(pivot, quoted=True), as_=builder.traits.pivot(pivot))
    return query


def _grouped(builder: MembershipQuery, aggregate: exp.Expression, conditions: list[exp.Expression]) -> exp.Select:
    profile = col("profile_id", EVENT_ALIAS)
    query = (_events(builder, builder._scan_needs_traits)
             .select(profile, exp.alias_(aggregate, "value", quoted=True))
             .where(exp.and_(*conditions)).group_by(profile.copy()))
    return _with_pivots(builder, query)


def _most_frequent(builder: MembershipQuery, text: exp.Expression, conditions, min_frequency: int) -> exp.Select:
    profile = col("profile_id", EVENT_ALIAS)
    counted = exp.Count(this=exp.Star())
    # the most frequent value, ties to the alphabetically first: the smallest (-count, value)
    keys = [exp.Neg(this=col("frequency")), col("value")]
    picked = builder.forms.value_at_extreme(col("value"), keys, last=False)
    if picked is not None:
        frequencies = (_events(builder, builder._scan_needs_traits)
                       .select(exp.alias_(profile, "profile_id", quoted=True), exp.alias_(text, "value", quoted=True),
                               exp.alias_(counted, "frequency", quoted=True))
                       .where(exp.and_(*conditions))
                       .group_by(profile.copy(), text.copy())
                       .having(exp.GTE(this=counted.copy(), expression=exp.Literal.number(min_frequency))))
        query = (exp.select(col("profile_id"), exp.alias_(picked, "value", quoted=True))
                 .from_(exp.alias_(exp.Subquery(this=frequencies), "frequencies", table=True))
                 .group_by(col("profile_id")))
        return _with_pivots(builder, query)
    rank = exp.Window(
        this=exp.RowNumber(),
        partition_by=[profile.copy()],
        order=exp.Order(expressions=[exp.Ordered(this=counted.copy(), desc=True), exp.Ordered(this=text.copy())]),
    )
    frequencies = (_events(builder, builder._scan_needs_traits)
                   .select(profile, exp.alias_(text, "value", quoted=True), exp.alias_(rank, "value_rank", quoted=True))
                   .where(exp.and_(*conditions))
                   .group_by(profile.copy(), text.copy())
                   .having(exp.GTE(this=counted, expression=exp.Literal.number(min_frequency))))
    query = (exp.select(col("profile_id"), col("value"))
             .from_(exp.alias_(exp.Subquery(this=frequencies), "frequencies", table=True))
             .where(exp.EQ(this=col("value_rank"), expression=exp.Literal.number(1))))
    return _with_pivots(builder, query)


def _first_or_last(builder: MembershipQuery, text: exp.Expression, conditions, last: bool) -> exp.Select:
    keys = [col("timestamp", EVENT_ALIAS), col("message_id", EVENT_ALIAS)]
    picked = builder.forms.value_at_extreme(text, keys, last)
    if picked is not None:
        return _grouped(builder, picked, conditions)
    profile = col("profile_id", EVENT_ALIAS)
    rank = exp.Window(
        this=exp.RowNumber(),
        partition_by=[profile.copy()],
        order=exp.Order(expressions=[exp.Ordered(this=key, desc=last) for key in keys]),
    )
    ranked = (_events(builder, builder._scan_needs_traits)
              .select(profile, exp.alias_(text, "value", quoted=True), exp.alias_(rank, "value_rank", quoted=True))
              .where(exp.and_(*conditions)))
    query = (exp.select(col("profile_id"), col("value"))
             .from_(exp.alias_(exp.Subquery(this=ranked), "ranked", table=True))
             .where(exp.EQ(this=col("value_rank"), expression=exp.Literal.number(1))))
    return _with_pivots(builder, query)


def _eligible(builder: MembershipQuery) -> exp.Expression:
    """Only profiles with a known identifier (computed traits with `include_anonymous: false`)."""
    identities = builder.table("identities", "ids")
    return exp.Exists(this=exp.select(exp.Literal.number(1)).from_(identities).where(exp.and_(
        exp.EQ(this=col("profile_id", "ids"), expression=col("profile_id", EVENT_ALIAS)),
        exp.In(this=col("id_type", "ids"), expressions=[exp.Literal.string(t) for t in KNOWN_ID_TYPES]),
    )))
