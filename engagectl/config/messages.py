"""pydantic's validation errors in the language's own words, each located in its file.

pydantic reports `Extra inputs are not permitted` at a path full of union tags; users should read
`unknown operator `foo` (operators: …)` at `file:line:col`. This module turns one into the other:
it collapses the errors of every union branch into one, names operators as operators, says what a
missing required field is for, and suggests the field a typo meant.
"""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import ValidationError

from engagectl.config import models
from engagectl.config.models import COMPARISON_OPERATORS, DURATION_PATTERN, KEY_PATTERN, OPERATORS
from engagectl.config.yaml_nodes import Document, resolve_path
from engagectl.diagnostics import Diagnostic


def pydantic_diagnostics(exc: ValidationError, document: Document, prefix: str = "") -> list[Diagnostic]:
    """Turn pydantic's errors into located diagnostics that read like the language, not like Python."""
    diagnostics = []
    for error in _collapse_union_errors(exc.errors(include_url=False), document):
        loc = tuple(error.get("loc", ()))
        kind = error.get("type", "")
        if kind == "extra_forbidden":
            location = document.key_location(loc)
            message = _unknown_field_message(document, loc)
        else:
            location = document.location(loc)
            field_path = _field_path(document, loc)
            message = error.get("msg", "invalid value")
            if message.startswith("Value error, "):
                message = message[len("Value error, "):]
            if kind == "string_pattern_mismatch":
                message = _pattern_message(error)
            elif kind == "literal_error" and loc and loc[-1] in ("exists", "absent"):
                other = "absent" if loc[-1] == "exists" else "exists"
                message = f"`{loc[-1]}` only takes `true` (for the opposite use `{other}: true`)"
            elif kind == "model_type" and loc[:1] == ("computed_trait",) and loc[-1:] == ("value",):
                message = (f"expected `count` or a mapping such as {{sum: revenue}} or {{last: url}}, "
                           f"not {error.get('input')!r}")
            elif kind in _TYPE_ERRORS:
                message = f"expected {_TYPE_ERRORS[kind]}, not {error.get('input')!r}"
            elif kind == "literal_error":
                message = f"{_expected(error)}, not {error.get('input')!r}"
            if kind == "missing":
                message = _missing_message(document, loc)
                field_path = _field_path(document, loc[:-1])
            if field_path:
                message = f"`{field_path}`: {message}"
        diagnostics.append(
            Diagnostic(prefix + message, file=location.file, line=location.line, column=location.column)
        )
    # pydantic reports each branch of a union; keep one message per position and text
    unique: dict[tuple, Diagnostic] = {}
    for d in diagnostics:
        unique.setdefault((d.line, d.column, d.message), d)
    return list(unique.values())


# pydantic names the branches of a union in error paths; what each branch means to a user
_UNION_BRANCHES = {
    "str": "text",
    "int": "a number",
    "float": "a number",
    "bool": "true or false",
    "list[str]": "a list of text",
    "ParentRef": "{parent: <property>}",
    "TraitRef": "{trait: <key>}",
    "BlockedRegex": "{regex: <pattern>}",
}


def _branch_index(loc: tuple) -> int | None:
    for index, element in enumerate(loc):
        if index > 0 and isinstance(element, str) and element in _UNION_BRANCHES:
            return index
    return None


def _collapse_union_errors(errors: list[dict], document: Document) -> list[dict]:
    """One error per union value instead of one per branch tried.

    When the value is a mapping that names a field of one branch (`{parent: x, y: 1}`), that
    branch's own errors are kept; otherwise one error says which forms are accepted.
    """
    groups: dict[tuple, dict[str, list[dict]]] = {}
    kept: list[dict] = []
    for error in errors:
        loc = tuple(error.get("loc", ()))
        index = _branch_index(loc)
        if index is None:
            kept.append(error)
            continue
        groups.setdefault(loc[:index], {}).setdefault(loc[index], []).append(error)
    for position, branches in groups.items():
        value = _value_at(document, position)
        chosen = None
        if isinstance(value, dict):
            for branch in branches:
                model = getattr(models, branch, None)
                fields = set(getattr(model, "model_fields", {}) or {})
                if fields & set(value):
                    chosen = branch
                    break
        if chosen is not None:
            kept.extend({**e, "loc": position + tuple(e["loc"])[len(position) + 1:]} for e in branches[chosen])
            continue
        order = list(_UNION_BRANCHES)
        expected = list(dict.fromkeys(_UNION_BRANCHES[b] for b in sorted(branches, key=order.index)))
        if len(branches) == 1 and len(next(iter(branches.values()))) == 1:
            # a single failing branch of an optional value: its own message is the precise one
            only = next(iter(branches.values()))[0]
            kept.append({**only, "loc": position + tuple(only["loc"])[len(position) + 1:]})
            continue
        kept.append({"type": "union_mismatch", "loc": position,
                     "msg": f"expected {_one_of(expected)}, not {value!r}", "input": value})
    return kept


def _one_of(options: list[str]) -> str:
    return options[0] if len(options) == 1 else ", ".join(options[:-1]) + " or " + options[-1]


# pydantic's type errors, as the kind of value the language expected
_TYPE_ERRORS = {
    "string_type": "text",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}


def _value_at(document: Document, loc: tuple) -> Any:
    value = document.data
    for element in resolve_path(document.data, loc):
        value = value[element]
    return value


def _expected(error: dict) -> str:
    expected = (error.get("ctx") or {}).get("expected")
    return f"expected {expected}" if expected else error.get("msg", "invalid value")


def _language_fields() -> set[str]:
    """Every field name of the language, for did-you-mean suggestions."""
    names: set[str] = set()
    for value in vars(models).values():
        if isinstance(value, type) and issubclass(value, models.Model):
            for name, info in value.model_fields.items():
                names.add(info.alias or name)
    return names


def _unknown_field_message(document: Document, loc: tuple) -> str:
    name = loc[-1]
    tag = loc[-2] if len(loc) > 1 else None
    # the loc interleaves union tags with keys; the field itself is in the data, so resolve it
    parent_path = resolve_path(document.data, loc)[:-1]
    parent = _value_at(document, parent_path)
    # `{trait: plan, foo: 1}` / `{property: p, foo: 1}`: the field is an operator
    if isinstance(parent, dict) and tag in ("trait", "leaf") and ("trait" in parent or "property" in parent
                                                                     or "context" in parent):
        return f"unknown operator `{name}` (operators: {', '.join(OPERATORS)})" + _did_you_mean(name, OPERATORS)
    if isinstance(parent, dict) and tag in ("count", "sum", "avg", "min", "max"):
        return (f"unknown operator `{name}` (operators: {', '.join(COMPARISON_OPERATORS)})"
                + _did_you_mean(name, COMPARISON_OPERATORS))
    message = f"unknown field `{name}`"
    if parent_path:
        message += f" in `{'.'.join(str(p) for p in parent_path)}`"
    return message + _did_you_mean(name, _language_fields())


def _did_you_mean(name: Any, candidates: Any) -> str:
    close = difflib.get_close_matches(str(name), sorted(candidates), n=1, cutoff=0.75)
    return f" (did you mean `{close[0]}`?)" if close else ""


# What a resource cannot do without, said in its own terms
_REQUIRED_FIELD_HINTS = {
    ("audience", "where"): "an audience needs `where`: the condition its members meet",
    ("computed_trait", "event"): "a computed trait needs `event`: the event it reads",
    ("computed_trait", "value"): "a computed trait needs `value`: count, sum, avg, min, max, most_frequent, "
                                 "first, last, unique or unique_count",
    ("sql_trait", "sql"): "a SQL trait needs `sql`: the query that returns its columns",
    ("sql_trait", "identifier"): "a SQL trait needs `identifier`: user_id, email or anonymous_id",
    ("journey", "entry"): "a journey needs `entry`: the condition that starts it",
    ("journey", "steps"): "a journey needs `steps`: at least one",
    ("destination", "provider"): "a destination needs `provider`: the provider it delivers through",
}


def _missing_message(document: Document, loc: tuple) -> str:
    field_name = loc[-1]
    if len(loc) == 2 and isinstance(document.data, dict):
        hint = _REQUIRED_FIELD_HINTS.get((loc[0], field_name))
        if hint:
            return hint
    return f"missing required field `{field_name}`"


def _pattern_message(error: dict) -> str:
    pattern = (error.get("ctx") or {}).get("pattern")
    value = error.get("input")
    if pattern == DURATION_PATTERN:
        return f"invalid duration {value!r}: write a whole number of hours, days or weeks (12h, 90d, 2w)"
    if pattern == KEY_PATTERN:
        return (f"invalid key {value!r}: keys are lower-case letters, digits and _, starting with a letter "
                "(^[a-z][a-z0-9_]{0,254}$)")
    return error.get("msg", "invalid value")


def _field_path(document: Document, loc: tuple) -> str:
    return ".".join(str(p) for p in resolve_path(document.data, loc))
