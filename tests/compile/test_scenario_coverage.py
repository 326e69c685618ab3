"""The conformance scenarios exercise every operator, node and computed-trait type of the language."""

from __future__ import annotations

import yaml

from engagectl.config.models import COMPUTED_VALUE_TYPES, OPERATORS
from tests.compile.conftest import REPO

CONFORMANCE = REPO / "specs" / "conformance"


def _documents(folder: str) -> list[dict]:
    return [doc for path in sorted((CONFORMANCE / folder).glob("*.yaml"))
            for doc in yaml.safe_load_all(path.read_text(encoding="utf-8"))]


def _nodes(item, found: list[dict]) -> list[dict]:
    if isinstance(item, dict):
        found.append(item)
        for value in item.values():
            _nodes(value, found)
    elif isinstance(item, list):
        for value in item:
            _nodes(value, found)
    return found


def test_every_operator_is_used_on_traits_and_on_properties():
    nodes = _nodes([d["project"]["resources"] for d in _documents("audiences")], [])
    trait_operators = {op for n in nodes if "trait" in n and isinstance(n["trait"], str) for op in n if op in OPERATORS}
    property_operators = {op for n in nodes if "property" in n or "context" in n for op in n if op in OPERATORS}
    assert set(OPERATORS) - trait_operators == set()
    assert set(OPERATORS) - property_operators == set()


def test_every_node_and_computed_trait_type_is_used():
    resources = [r for d in _documents("audiences") + _documents("traits") for r in d["project"]["resources"]]
    nodes = _nodes(resources, [])
    for key in ("all", "any", "not", "audience", "then", "then_not", "between", "sum", "avg", "min", "max"):
        assert any(key in n for n in nodes), key
    assert any(n.get("count") == {"eq": 0} for n in nodes)
    assert any(isinstance(n.get("eq"), dict) and "parent" in n["eq"] for n in nodes)
    assert any(isinstance(n.get("gt"), dict) and "trait" in n["gt"] for n in nodes)
    assert any(r.get("include_anonymous") for r in resources)
    value_types = set()
    for r in resources:
        if r["kind"] == "computed_trait":
            value = r["value"]
            value_types.update(["count"] if value == "count" else [k for k in value if k in COMPUTED_VALUE_TYPES])
    assert set(COMPUTED_VALUE_TYPES) - value_types == set()
