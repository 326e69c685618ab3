"""Operators of trait conditions and property predicates → boolean sqlglot expressions.

One function serves both: a trait condition and a property predicate each hand over the value
being tested as *text* (NULL when missing) plus the operator fields. The result is never NULL:
every leaf is wrapped in COALESCE(…, FALSE), so `not` is two-valued logic and `neq`/`none_of`/
`omits` never match a missing value while `absent` does (PRODUCT.md §3).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable

from sqlglot import exp

from engagectl.compile.dialects import DialectForms
from engagectl.config.models import OperatorFields, ParentRef, TraitRef, duration_hours
from engagectl.diagnostics import EngageError


class CompileError(EngageError):
    """A definition cannot be turned into SQL (an unknown reference, a misplaced operand)."""


# Resolves `{parent: p}` / `{trait: k}` operands to a text expression.
ReferenceResolver = Callable[[ParentRef | TraitRef], exp.Expression]


@dataclass
class OperatorContext:
    forms: DialectForms
    as_of: datetime
    resolve_reference: ReferenceResolver


def operator_expression(value: exp.Expression, fields: OperatorFields, ctx: OperatorContext) -> exp.Expression:
    """`value` (text) tested by the one operator set in `fields`; never NULL."""
    operator, operand = fields.operator, fields.value
    condition = _OPERATORS[operator](value, operand, ctx)
    return exp.func("COALESCE", exp.paren(condition, copy=False), exp.false())


# ---- value comparisons ----------------------------------------------------------------------


def _compare(kind: type[exp.Binary]) -> Callable:
    def build(value: exp.Expression, operand, ctx: OperatorContext) -> exp.Expression:
        left, right = _comparable(value, operand, ctx, numeric_refs=kind is not exp.EQ)
        return kind(this=left, expression=right)

    return build


def _comparable(value, operand, ctx: OperatorContext, numeric_refs: bool) -> tuple[exp.Expression, exp.Expression]:
    """Both sides of a comparison: numbers compare as numbers, strings and booleans as text."""
    if isinstance(operand, (ParentRef, TraitRef)):
        reference = ctx.resolve_reference(operand)
        if numeric_refs:
            return ctx.forms.to_number(value.copy()), ctx.forms.to_number(reference)
        return value.copy(), reference
    if isinstance(operand, bool):
        return value.copy(), exp.Literal.string("true" if operand else "false")
    if isinstance(operand, (int, float)):
        return ctx.forms.to_number(value.copy()), exp.Literal.number(operand)
    return value.copy(), exp.Literal.string(str(operand))


def _eq(value, operand, ctx):
    return _compare(exp.EQ)(value, operand, ctx)


def _neq(value, operand, ctx):
    # present, and not equal; a present value that is not a number is unequal to a number
    return exp.and_(exp.Not(this=exp.Is(this=value.copy(), expression=exp.null())),
                    exp.not_(exp.func("COALESCE", _eq(value, operand, ctx), exp.false())))


def _one_of(value, operand, ctx):
    if all(isinstance(item, str) for item in operand):
        return exp.In(this=value.copy(), expressions=[exp.Literal.string(item) for item in operand])
    return exp.or_(*(exp.func("COALESCE", _eq(value, item, ctx), exp.false()) for item in operand))


def _none_of(value, operand, ctx):
    return exp.and_(exp.Not(this=exp.Is(this=value.copy(), expression=exp.null())),
                    exp.not_(exp.func("COALESCE", _one_of(value, operand, ctx), exp.false())))


# ---- text -----------------------------------------------------------------------------------


def _contains(value, operand, ctx):
    needles = [operand] if isinstance(operand, str) else list(operand)
    return exp.or_(*(
        exp.GT(this=exp.StrPosition(this=value.copy(), substr=exp.Literal.string(needle)),
               expression=exp.Literal.number(0))
        for needle in needles
    ))


def _omits(value, operand, ctx):
    return exp.and_(exp.Not(this=exp.Is(this=value.copy(), expression=exp.null())),
                    exp.not_(exp.func("COALESCE", _contains(value, operand, ctx), exp.false())))


def _starts_with(value, operand, ctx):
    return exp.EQ(this=exp.Left(this=value.copy(), expression=exp.Literal.number(len(operand))),
                  expression=exp.Literal.string(operand))


def _ends_with(value, operand, ctx):
    return exp.EQ(this=exp.Right(this=value.copy(), expression=exp.Literal.number(len(operand))),
                  expression=exp.Literal.string(operand))


# ---- presence -------------------------------------------------------------------------------


def _exists(value, operand, ctx):
    return exp.Not(this=exp.Is(this=value.copy(), expression=exp.null()))


def _absent(value, operand, ctx):
    return exp.Is(this=value.copy(), expression=exp.null())


# ---- dates ----------------------------------------------------------------------------------


def parse_instant(text: str) -> datetime:
    """An ISO-8601 date or timestamp; naive means UTC."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        raise CompileError(f"invalid date {text!r}: use ISO-8601, e.g. 2024-06-01 or 2024-06-01T12:00:00Z") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _date_operand(operand, ctx: OperatorContext) -> exp.Expression:
    if isinstance(operand, (ParentRef, TraitRef)):
        return ctx.forms.to_timestamp(ctx.resolve_reference(operand))
    return ctx.forms.instant_literal(parse_instant(operand))


def _before(value, operand, ctx):
    return exp.LT(this=ctx.forms.to_timestamp(value.copy()), expression=_date_operand(operand, ctx))


def _after(value, operand, ctx):
    return exp.GT(this=ctx.forms.to_timestamp(value.copy()), expression=_date_operand(operand, ctx))


def _relative(direction: str) -> Callable:
    """within_last/within_next are inclusive ranges; before_last/after_next lie beyond them."""

    def build(value, operand, ctx: OperatorContext) -> exp.Expression:
        instant = ctx.forms.to_timestamp(value.copy())
        hours = timedelta(hours=duration_hours(operand))
        now = ctx.forms.instant_literal(ctx.as_of)
        if direction == "within_last":
            return exp.and_(exp.GTE(this=instant, expression=ctx.forms.instant_literal(ctx.as_of - hours)),
                            exp.LTE(this=instant.copy(), expression=now))
        if direction == "within_next":
            return exp.and_(exp.GTE(this=instant, expression=now),
                            exp.LTE(this=instant.copy(), expression=ctx.forms.instant_literal(ctx.as_of + hours)))
        if direction == "before_last":
            return exp.LT(this=instant, expression=ctx.forms.instant_literal(ctx.as_of - hours))
        return exp.GT(this=instant, expression=ctx.forms.instant_literal(ctx.as_of + hours))

    return build


_OPERATORS: dict[str, Callable] = {
    "eq": _eq,
    "neq": _neq,
    "gt": _compare(exp.GT),
    "gte": _compare(exp.GTE),
    "lt": _compare(exp.LT),
    "lte": _compare(exp.LTE),
    "one_of": _one_of,
    "none_of": _none_of,
    "contains": _contains,
    "omits": _omits,
    "starts_with": _starts_with,
    "ends_with": _ends_with,
    "exists": _exists,
    "absent": _absent,
    "before": _before,
    "after": _after,
    "within_last": _relative("within_last"),
    "within_next": _relative("within_next"),
    "before_last": _relative("before_last"),
    "after_next": _relative("after_next"),
}
