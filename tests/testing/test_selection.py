"""Selection by impact: `--select KEY` and `--changed` pick the tests touching what changed."""

from __future__ import annotations

import textwrap

from engagectl.config import load_project
from engagectl.testing import load_test_files
from engagectl.testing.selection import changed_tests, select_tests

DEFINITIONS = {
    "engage.yaml": "space: spa_test\n",
    "traits/revenue.yaml": """\
        kind: computed_trait
        key: revenue_365d
        event: Order Completed
        within: 365d
        value: {sum: revenue}
        """,
    "audiences/high_value.yaml": """\
        kind: audience
        key: high_value_users
        where: {trait: revenue_365d, gte: 400}
        """,
    "audiences/newsletter.yaml": """\
        kind: audience
        key: newsletter
        where: {event: Newsletter Subscribed}
        """,
    "journeys/winback.yaml": """\
        kind: journey
        key: winback
        entry: {audience: high_value_users}
        steps:
          - key: emailed
            where: {event: Email Opened}
        """,
    "tests/cases.yaml": """\
        name: high value
        as_of: "2024-06-01T00:00:00Z"
        expect: {members: {high_value_users: ["user_id:u1"]}}
        ---
        name: newsletter
        as_of: "2024-06-01T00:00:00Z"
        expect: {sizes: {newsletter: 0}}
        ---
        name: winback step
        as_of: "2024-06-01T00:00:00Z"
        expect: {non_members: {winback__emailed: ["user_id:u1"]}}
        ---
        name: inline
        as_of: "2024-06-01T00:00:00Z"
        project:
          resources: [{kind: audience, key: newsletter, where: {event: Subscribed}}]
        expect: {sizes: {newsletter: 0}}
        """,
}


def make_project(root):
    for name, text in DEFINITIONS.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return load_project(root), load_test_files([root / "tests" / "cases.yaml"], shown_relative_to=root)


def names(cases) -> list[str]:
    return [c.name for c in cases]


def test_select_a_trait_picks_the_tests_of_what_is_built_on_it(tmp_path):
    project, cases = make_project(tmp_path)
    assert names(select_tests(cases, ["revenue_365d"], project)) == ["high value", "winback step"]
    assert names(select_tests(cases, ["winback"], project)) == ["winback step"]
    assert names(select_tests(cases, ["newsletter"], project)) == ["newsletter", "inline"]


def apply(project) -> None:
    from engagectl.plan.apply import apply_plan
    from engagectl.plan.planner import make_plan
    from engagectl.state.store import open_state

    store = open_state(project.settings.state, str(project.directory))
    try:
        apply_plan(store, make_plan(project, store.snapshot()), project.directory)
    finally:
        store.close()


def test_changed_selects_tests_touching_definitions_changed_since_the_last_apply(tmp_path):
    project, cases = make_project(tmp_path)
    # never applied: every definition is new, so every test on the project's definitions runs
    assert names(changed_tests(cases, project)) == ["high value", "newsletter", "winback step"]
    assert not (tmp_path / ".engage" / "state.db").exists()  # reading the state did not create it

    apply(project)
    assert names(changed_tests(cases, load_project(tmp_path))) == []

    trait = tmp_path / "traits" / "revenue.yaml"
    trait.write_text(trait.read_text().replace("365d", "180d"), encoding="utf-8")
    assert names(changed_tests(cases, load_project(tmp_path))) == ["high value", "winback step"]
