"""The cross-resource rules of `engagectl validate`, each with the place it points at."""

from __future__ import annotations

import pytest

from engagectl.config import load_project
from engagectl.config.validate import available_provider_names as real_available_provider_names
from engagectl.config.validate import parse_iso_datetime
from engagectl.diagnostics import DiagnosticsError

FILE_DESTINATION = """
kind: destination
key: out_file
provider: file
settings: {path: out/x.jsonl}
"""


def only(lines: list[str], needle: str) -> str:
    matching = [line for line in lines if needle in line]
    assert len(matching) == 1, f"expected one diagnostic with {needle!r} in:\n" + "\n".join(lines)
    return matching[0]


def test_a_valid_project_has_no_diagnostics(problems):
    assert problems({
        "audiences/a.yaml": """
            kind: audience
            key: buyers
            where: {event: Order Completed, within: 30d}
            destinations: [out_file]
        """,
        "destinations/out.yaml": FILE_DESTINATION,
    }) == []


def test_audience_and_trait_keys_share_one_namespace(problems):
    lines = problems({
        "audiences/a.yaml": """
            kind: audience
            key: buyers
            where: {event: Order Completed}
        """,
        "traits/t.yaml": """
            kind: computed_trait
            key: buyers
            event: Order Completed
            value: count
        """,
    })
    line = only(lines, "namespace")
    # the second claim is reported at its key, and names the first one's place
    assert line.startswith("traits/t.yaml:2:6: computed_trait buyers: key `buyers`")
    assert "audience buyers (audiences/a.yaml:2)" in line


def test_a_journey_step_audience_key_clashes_with_an_audience(problems):
    lines = problems({
        "audiences/a.yaml": """
            kind: audience
            key: onboarding__added_card
            where: {event: Credit Card Added}
        """,
        "journeys/j.yaml": """
            kind: journey
            key: onboarding
            entry: {event: Signed Up}
            steps:
              - key: added_card
                where: {event: Credit Card Added}
        """,
    })
    line = only(lines, "namespace")
    assert line.startswith("journeys/j.yaml:5:10: journey onboarding: key `onboarding__added_card`")
    assert "audience onboarding__added_card (audiences/a.yaml:2)" in line


def test_a_journey_key_clashes_with_a_sql_trait(problems):
    lines = problems({
        "a.yaml": """
            kind: sql_trait
            key: onboarding
            identifier: user_id
            sql: select user_id, 1 as x from t
            ---
            kind: journey
            key: onboarding
            entry: {event: Signed Up}
            steps: [{key: s}]
        """,
    })
    assert only(lines, "namespace").startswith("a.yaml:7:6: journey onboarding: key `onboarding`")


def test_references_to_missing_audiences_and_destinations(problems):
    lines = problems({
        "audiences/a.yaml": """
            kind: audience
            key: winback
            where:
              all:
                - event: Order Completed
                - not: {audience: churned_users}
            destinations:
              - out_file
              - to: braze_us
        """,
        "journeys/j.yaml": """
            kind: journey
            key: onboarding
            entry: {audience: new_users}
            steps:
              - key: s
                destinations: [out_fle]
        """,
        "destinations/out.yaml": FILE_DESTINATION,
    })
    assert only(lines, "churned_users") == "audiences/a.yaml:6:23: audience winback: unknown audience `churned_users`"
    assert only(lines, "braze_us") == "audiences/a.yaml:9:9: audience winback: unknown destination `braze_us`"
    assert only(lines, "new_users").startswith("journeys/j.yaml:3:19: journey onboarding: unknown audience")
    assert only(lines, "out_fle") == ("journeys/j.yaml:6:20: journey onboarding: unknown destination `out_fle` "
                                      "(did you mean `out_file`?)")
    assert len(lines) == 4


def test_journeys_and_their_steps_are_audiences_to_refer_to(problems):
    lines = problems({
        "j.yaml": """
            kind: journey
            key: onboarding
            entry: {event: Signed Up}
            steps: [{key: added_card, where: {event: Credit Card Added}}]
            ---
            kind: audience
            key: carded
            where: {audience: onboarding__added_card}
            ---
            kind: audience
            key: onboarded
            where:
              all:
                - {audience: onboarding}
                - {audience: onboarding__added_crd}
        """,
    })
    assert lines == ["j.yaml:15:18: audience onboarded: unknown audience `onboarding__added_crd` "
                     "(did you mean `onboarding__added_card`?)"]


def test_traits_may_be_identify_traits_but_sql_columns_need_their_sql_trait(problems):
    lines = problems({
        "a.yaml": """
            kind: sql_trait
            key: support
            identifier: user_id
            sql: select user_id, count(*) as open_tickets from tickets group by 1
            ---
            kind: audience
            key: a
            where:
              all:
                - {trait: plan, eq: pro}
                - {trait: support.open_tickets, gt: 0}
                - {trait: suport.open_tickets, gt: 0}
                - {event: Order Completed, where: {property: revenue, gte: {trait: billing.avg}}}
        """,
    })
    assert len(lines) == 2
    assert only(lines, "suport").startswith("a.yaml:12:15: audience a: trait `suport.open_tickets`: no sql_trait")
    assert "(did you mean `support`?)" in only(lines, "suport")
    assert only(lines, "billing").startswith("a.yaml:13:72: audience a: trait `billing.avg`: no sql_trait")


def test_cycles_between_audiences_are_named(problems):
    lines = problems({
        "audiences/a.yaml": """
            kind: audience
            key: a
            where: {audience: b}
            ---
            kind: audience
            key: b
            where:
              all:
                - {event: X}
                - {trait: a, exists: true}
            ---
            kind: audience
            key: selfish
            where: {not: {audience: selfish}}
        """,
    })
    assert only(lines, "a -> b -> a").startswith("audiences/a.yaml:3:19: audience a: reference cycle: a -> b -> a")
    assert only(lines, "selfish -> selfish").startswith("audiences/a.yaml:14:25: audience selfish: reference cycle")
    assert len(lines) == 2


def test_cycles_through_journey_steps_are_named(problems):
    lines = problems({
        "j.yaml": """
            kind: journey
            key: j
            entry: {audience: vip}
            steps:
              - key: first
              - key: second
                where: {event: X}
            ---
            kind: audience
            key: vip
            where: {audience: j__second}
        """,
    })
    assert len(lines) == 1
    assert "reference cycle: " in lines[0]
    cycle = lines[0].split("reference cycle: ")[1].split(" (")[0]
    assert set(cycle.split(" -> ")) == {"j", "vip", "j__second", "j__first"}


def test_a_destination_that_forwards_raw_events_cannot_be_bound(problems):
    lines = problems({
        "d.yaml": """
            kind: destination
            key: amplitude
            provider: webhook
            sources: [web]
            ---
            kind: audience
            key: a
            where: {event: X}
            destinations:
              - to: amplitude
        """,
    })
    assert len(lines) == 1
    assert lines[0].startswith(
        "d.yaml:10:9: audience a: destination `amplitude` forwards the raw events of source(s) web")
    assert "create a separate destination for engage output, e.g. kind: destination key: amplitude_engage " \
           "provider: webhook" in lines[0]


def test_destination_sources_must_be_declared_in_engage_yaml(problems):
    lines = problems({
        "d.yaml": """
            kind: destination
            key: mirror
            provider: webhook
            sources: [web, mobile]
        """,
    })
    assert lines == ["d.yaml:4:16: destination mirror: unknown source `mobile`: sources are declared in "
                     "engage.yaml (web)"]


def test_unknown_providers_are_refused_when_a_registry_exists(problems, monkeypatch):
    import engagectl.config.validate as validate

    monkeypatch.setattr(validate, "available_provider_names", lambda: {"file", "webhook"})  # a registry
    lines = problems({
        "d.yaml": """
            kind: destination
            key: crm
            provider: salesfarce
        """,
    })
    assert lines == ["d.yaml:3:11: destination crm: unknown provider `salesfarce` (providers: file, webhook)"]


def test_operator_values_pydantic_lets_through(problems):
    lines = problems({
        "a.yaml": """
            kind: audience
            key: a
            where:
              all:
                - {trait: plan, gt: abc}
                - {trait: signed_up_at, before: not-a-date}
                - {trait: signed_up_at, after: "2026-01-31T12:00:00Z"}
                - {trait: renewal, before: 2026-12-01}
                - {trait: plan, within_last: 7d}
                - {trait: ltv, gte: "100"}
                - {trait: plan, one_of: []}
        """,
    })
    assert only(lines, "abc").startswith("a.yaml:5:25: audience a: `gt` compares numbers or dates, not 'abc'")
    assert only(lines, "not-a-date").startswith("a.yaml:6:37: audience a: `before` needs an ISO-8601 date")
    assert only(lines, "'100'").startswith("a.yaml:10:25: audience a: `gte` compares numbers or dates")
    assert only(lines, "'100'").endswith("(write the number without quotes)")
    assert only(lines, "`one_of` needs").startswith("a.yaml:11:29: audience a: `one_of` needs at least one value")
    assert len(lines) == 4


def test_parent_references_only_inside_funnel_children(problems):
    lines = problems({
        "a.yaml": """
            kind: audience
            key: browse_abandoners
            where:
              event: Product Viewed
              where: {property: product_id, eq: {parent: product_id}}
              then_not:
                event: Product Added
                where: {property: product_id, eq: {parent: product_id}}
            ---
            kind: computed_trait
            key: t
            event: X
            where: {property: p, gte: {parent: q}}
            value: count
        """,
    })
    assert len(lines) == 2
    assert only(lines, "browse_abandoners").startswith(
        "a.yaml:5:46: audience browse_abandoners: `{parent: product_id}` reads the funnel's parent event")
    assert only(lines, "computed_trait t").startswith("a.yaml:13:36: computed_trait t: `{parent: q}`")


def test_every_problem_is_reported_at_once(make_project):
    root = make_project({
        "audiences/a.yaml": """
            kind: audience
            key: a
            where: {audience: missing}
            destinations: [nowhere]
        """,
        "audiences/b.yaml": """
            kind: audience
            key: b
            where: {event: X, within: 9x}
        """,
        "broken.yaml": "kind: audience\nkey: [\n",
    })
    with pytest.raises(DiagnosticsError) as raised:
        load_project(root)
    shown = [str(d) for d in raised.value.diagnostics]
    assert [line.split(": ")[0] for line in shown] == [
        "audiences/a.yaml:3:19", "audiences/a.yaml:4:16", "audiences/b.yaml:3:27", "broken.yaml:3:1"]


@pytest.mark.parametrize("text, parsed", [
    ("2026-01-31", True), ("2026-01-31T12:00:00Z", True), ("2026-01-31T12:00:00+02:00", True),
    ("2026-01-31 12:00", True), ("31/01/2026", False), ("tomorrow", False), ("2026", False),
])
def test_before_and_after_take_iso_dates(text, parsed):
    assert (parse_iso_datetime(text) is not None) is parsed


def test_providers_are_not_checked_without_a_registry(problems, monkeypatch):
    import engagectl.config.validate as validate

    monkeypatch.setattr(validate, "available_provider_names", lambda: None)
    assert problems({"d.yaml": "kind: destination\nkey: crm\nprovider: anything\n"}) == []


def test_the_provider_registry_is_read_when_the_providers_package_has_one():
    names = real_available_provider_names()
    if names is None:
        pytest.skip("no providers.registry yet")
    assert "file" in names


def test_an_audience_reference_to_a_trait_says_to_read_it_as_a_trait(problems):
    lines = problems({
        "a.yaml": """
            kind: computed_trait
            key: orders_90d
            event: Order Completed
            value: count
            ---
            kind: audience
            key: a
            where: {audience: orders_90d}
        """,
    })
    assert lines == ["a.yaml:8:19: audience a: `orders_90d` is the computed_trait orders_90d, not an audience; "
                     "read it with `trait: orders_90d`"]


def test_a_destination_is_bound_once_per_resource_or_step(problems):
    lines = problems({
        "a.yaml": """
            kind: audience
            key: a
            where: {event: X}
            destinations: [out_file, {to: out_file, track: true}]
            ---
            kind: journey
            key: j
            entry: {event: X}
            steps:
              - {key: s1, destinations: [out_file]}
              - {key: s2, destinations: [out_file]}
        """,
        "d.yaml": FILE_DESTINATION,
    })
    assert lines == ["a.yaml:4:31: audience a: destination `out_file` is bound twice; bind it once (long form "
                     "for options)"]


@pytest.mark.parametrize("sql, message", [
    ("select user_id, count(*) as n from t group by 1", None),
    ("select * from support_scores", None),
    ("select {{ var('columns') }} from t", None),
    ("select email, count(*) as n from t group by 1", "its query must return a `user_id` column"),
    ("select user_id from t", "its query must return at least one trait column besides `user_id`"),
    ("select user_id, from where", "cannot parse its sql"),
    ("delete from t", "its sql must be a query (SELECT …), not DELETE"),
])
def test_sql_traits_return_their_identifier_and_a_trait_column(problems, sql, message):
    lines = problems({"t.yaml": f"kind: sql_trait\nkey: support\nidentifier: user_id\nsql: {sql}\n"})
    if message is None:
        assert lines == []
    else:
        assert len(lines) == 1
        assert lines[0].startswith("t.yaml:4:6: sql_trait support: " + message)


def test_a_step_audience_key_obeys_the_key_length(problems):
    journey_key = "j" * 250
    text = f"kind: journey\nkey: {journey_key}\nentry: {{event: X}}\nsteps: [{{key: added_card}}]\n"
    lines = problems({"j.yaml": text})
    assert len(lines) == 1
    assert lines[0].startswith(f"j.yaml:4:15: journey {journey_key}: step audience key `{journey_key}__added_card` "
                               "is longer than 255 characters")


def test_engage_yaml_sources_are_unique_and_the_warehouse_is_supported(problems):
    lines = problems({"engage.yaml": """
        space: s
        warehouse: mysql://db/engage
        sources:
          - {key: web, path: a.jsonl}
          - {key: web, path: b.jsonl}
    """})
    assert lines == [
        "engage.yaml:2:12: unsupported warehouse `mysql`: use duckdb:///path or postgresql+psycopg://…",
        "engage.yaml:5:11: source `web` is declared twice",
    ]


def test_a_warehouse_url_from_the_environment_is_judged_at_run_time(problems):
    assert problems({"engage.yaml": "warehouse: ${env:WAREHOUSE_URL}\n"}) == []
