"""One-line, human descriptions of condition nodes and computed traits (explain, previews)."""

from __future__ import annotations

from engagectl.config.models import (
    AllCondition,
    AllPredicates,
    AnyCondition,
    AnyPredicates,
    AudienceCondition,
    ComputedTrait,
    EventCondition,
    FunnelStep,
    NotCondition,
    NotPredicate,
    ParentRef,
    PropertyPredicate,
    TraitCondition,
    TraitRef,
)

_WORDS = {
    "eq": "=", "neq": "≠", "gt": ">", "gte": "≥", "lt": "<", "lte": "≤", "one_of": "is one of",
    "none_of": "is none of", "contains": "contains", "omits": "does not contain", "starts_with": "starts with",
    "ends_with": "ends with", "exists": "exists", "absent": "is absent", "before": "is before",
    "after": "is after", "within_last": "is within the last", "within_next": "is within the next",
    "before_last": "is before the last", "after_next": "is after the next",
}


def _operand(value) -> str:
    if isinstance(value, ParentRef):
        return f"the parent's {value.parent}"
    if isinstance(value, TraitRef):
        return f"trait {value.trait}"
    if isinstance(value, list):
        return "[" + ", ".join(_operand(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, str) else str(value)


def _operator(fields) -> str:
    operator = fields.operator
    if operator in ("exists", "absent"):
        return _WORDS[operator]
    return f"{_WORDS[operator]} {_operand(fields.value)}"


def describe_predicate(node) -> str:
    if isinstance(node, AllPredicates):
        return " and ".join(describe_predicate(child) for child in node.all)
    if isinstance(node, AnyPredicates):
        return "(" + " or ".join(describe_predicate(child) for child in node.any) + ")"
    if isinstance(node, NotPredicate):
        return f"not ({describe_predicate(node.not_)})"
    if isinstance(node, PropertyPredicate):
        target = node.property if node.property is not None else f"context.{node.context}"
        return f"{target} {_operator(node)}"
    return str(node)


def _count(comparison) -> str:
    if comparison.operator == "eq" and comparison.value == 0:
        return "never"
    return f"{_WORDS[comparison.operator]} {comparison.value:g} time(s)"


def _event(node: EventCondition | FunnelStep) -> str:
    text = f"{node.event}"
    if node.where is not None:
        text += f" where {describe_predicate(node.where)}"
    if getattr(node, "between", None):
        text += f" between {node.between[0]} and {node.between[1]} ago"
    if node.within is not None:
        text += f" within {node.within}"
    return text


def describe(node) -> str:
    """What a node asks, in words."""
    if isinstance(node, AllCondition):
        return "all of"
    if isinstance(node, AnyCondition):
        return "any of"
    if isinstance(node, NotCondition):
        return "not"
    if isinstance(node, EventCondition):
        aggregate = node.aggregate
        if aggregate is not None:
            name, predicate = aggregate
            text = f"{name} of {predicate.property} over {_event(node)} {_WORDS[predicate.operator]} {predicate.value:g}"
        else:
            text = f"performed {_event(node)} {_count(node.effective_count)}"
        step = node.then or node.then_not
        if step is not None:
            verb = "then did" if node.then is not None else "then did not do"
            text += f", {verb} {_event(step)} after it"
            if step.count is not None:
                text += f" {_count(step.count)}"
        return text
    if isinstance(node, TraitCondition):
        return f"trait {node.trait} {_operator(node)}"
    if isinstance(node, AudienceCondition):
        return f"member of audience {node.audience}"
    if isinstance(node, ComputedTrait):
        value = node.value
        measured = value.type if value.property is None else f"{value.type} of {value.property}"
        return f"{measured} over {_event(node)}"
    return type(node).__name__
