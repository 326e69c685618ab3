"""Canonical specs: what counts as the same definition."""

from __future__ import annotations

from pydantic import TypeAdapter

from engagectl.config.models import ResourceModel
from engagectl.plan import canonical_spec, spec_hash

_adapter = TypeAdapter(ResourceModel)


def _spec(data: dict) -> dict:
    return canonical_spec(_adapter.validate_python(data))


def test_binding_forms_and_order_do_not_change_the_hash():
    short = _spec({"kind": "audience", "key": "a", "where": {"event": "X"}, "destinations": ["b_dest", "a_dest"]})
    long = _spec({"kind": "audience", "key": "a", "where": {"event": "X"},
                  "destinations": [{"to": "a_dest", "identify": True}, {"to": "b_dest", "track": False}]})
    assert spec_hash(short) == spec_hash(long)


def test_protect_is_not_part_of_the_spec_but_the_definition_is():
    plain = _spec({"kind": "audience", "key": "a", "where": {"event": "X"}})
    protected = _spec({"kind": "audience", "key": "a", "where": {"event": "X"}, "protect": True})
    other = _spec({"kind": "audience", "key": "a", "where": {"event": "Y"}})
    assert "protect" not in protected and spec_hash(plain) == spec_hash(protected)
    assert spec_hash(plain) != spec_hash(other)


def test_journey_step_bindings_are_normalised_too():
    def journey(destinations):
        return _spec({"kind": "journey", "key": "j", "entry": {"event": "S"},
                      "steps": [{"key": "s", "where": {"event": "T"}, "destinations": destinations}]})

    assert journey(["x"]) == journey([{"to": "x"}])
