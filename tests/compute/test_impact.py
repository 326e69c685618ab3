"""A plan's impact: how many profiles would enter and exit if the change were applied now."""

from __future__ import annotations

from sqlglot import exp

from compute_fixtures import make_project, ts, values
from engagectl.compute import run_computations
from engagectl.compute.impact import estimate_impact


def buyers(**revenue) -> dict:
    return {"kind": "audience", "key": "buyers",
            "where": {"event": "Order Completed", "where": {"property": "revenue", **revenue}}}


def test_impact_counts_entries_and_exits_without_writing_anything(warehouse, seed, tmp_path):
    bob = seed.profile("prof_bob", user_id="bob")
    amy = seed.profile("prof_amy", user_id="amy")
    seed.track(bob, "Order Completed", "2024-05-30T10:00:00Z", revenue=500)
    seed.track(amy, "Order Completed", "2024-05-30T10:00:00Z", revenue=50)
    applied = make_project(tmp_path, [buyers(gt=100)])
    run_computations(applied, warehouse, ts("2024-06-01T00:00:00Z"))

    changed = make_project(tmp_path, [
        buyers(lt=100),
        {"kind": "computed_trait", "key": "revenue", "event": "Order Completed", "value": {"sum": "revenue"}},
    ])
    impact = estimate_impact(changed, warehouse, ts("2024-06-01T00:00:00Z"), ["audience.buyers", "revenue"])
    assert impact == {
        "buyers": {"entered": 1, "exited": 1, "size": 1, "changed": 0},
        "revenue": {"entered": 2, "exited": 0, "size": 2, "changed": 0},
    }
    assert values(warehouse, "buyers") == {bob: True}
    assert values(warehouse, "revenue") == {}
    runs = warehouse.fetchall(exp.select(exp.func("COUNT", exp.Star())).from_(warehouse.table("runs")))
    assert runs == [(1,)]
