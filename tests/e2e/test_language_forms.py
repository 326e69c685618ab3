"""Every resource form and condition form of PRODUCT.md §2, in one project, validated, applied and read back."""

from __future__ import annotations

import json

import pytest

from .conftest import Project, events

AS_OF = "2024-06-01T00:00:00Z"

DESTINATIONS = """\
kind: destination
key: out
provider: file
settings: {path: out/x.jsonl}
---
kind: destination
key: out2
provider: file
settings: {path: out/y.jsonl}
"""

AUDIENCES = """\
kind: audience
key: high_value_users
name: High value users
include_anonymous: false
where:
  all:
    - event: Order Completed
      where: {property: revenue, gt: 100}
      within: 90d
      count: {gte: 1}
    - trait: plan
      one_of: [pro, enterprise]
    - not: {audience: churned_users}
destinations:
  - out
  - to: out2
    identify: true
    track: {enter: Audience Entered, exit: Audience Exited}
    id_sync: {email: all, user_id: first}
---
kind: audience
key: churned_users
where: {event: Order Completed, count: {eq: 0}, within: 365d}
---
kind: audience
key: mid
where:
  any:
    - {event: Order Completed, between: [30d, 90d]}
    - {event: Order Completed, sum: {property: revenue, gte: 100}, within: 90d}
    - {event: Order Completed, avg: {property: revenue, gt: 1}}
    - {event: Page Viewed, where: {context: page.url, contains: cart}}
    - {trait: revenue_365d, gte: 10}
    - {trait: plan, neq: free}
    - {trait: plan, none_of: [free]}
    - {trait: plan, omits: x}
    - {trait: plan, starts_with: p}
    - {trait: plan, ends_with: o}
    - {trait: plan, exists: true}
    - {trait: nick, absent: true}
    - {trait: signup_at, before: "2024-01-01"}
    - {trait: signup_at, after: "2023-01-01"}
    - {trait: signup_at, within_last: 30d}
    - {trait: signup_at, within_next: 30d}
    - {trait: signup_at, before_last: 30d}
    - {trait: signup_at, after_next: 30d}
    - {trait: support.open_tickets, gt: 0}
    - {trait: plan, eq: pro}
    - {trait: revenue_365d, lt: 10}
    - {trait: revenue_365d, lte: 10}
    - {trait: tags, contains: vip}
---
kind: audience
key: cart_abandoners
where:
  event: Product Added
  within: 7d
  then_not: {event: Order Completed, within: 1d}
---
kind: audience
key: funnel
where:
  event: Product Added
  within: 30d
  then: {event: Order Completed, where: {property: product_id, eq: {parent: product_id}}, within: 1d, count: {gte: 1}}
---
kind: audience
key: above_avg
where:
  event: Order Completed
  where: {all: [{property: revenue, gte: {trait: avg_spend}}, {not: {property: currency, eq: EUR}}]}
"""

TRAITS = """\
kind: computed_trait
key: revenue_365d
event: Order Completed
where: {property: currency, eq: USD}
within: 365d
value: {sum: revenue}
destinations: [out]
---
kind: computed_trait
key: avg_spend
event: Order Completed
value: {avg: revenue}
---
kind: computed_trait
key: n_orders
event: Order Completed
value: count
---
kind: computed_trait
key: fav
event: Order Completed
value: {most_frequent: category}
---
kind: computed_trait
key: firstc
event: Order Completed
value: {first: category}
---
kind: computed_trait
key: lastc
event: Order Completed
value: {last: category}
---
kind: computed_trait
key: cats
event: Order Completed
value: {unique: category}
---
kind: computed_trait
key: ncats
event: Order Completed
value: {unique_count: category}
---
kind: computed_trait
key: maxr
event: Order Completed
value: {max: revenue}
---
kind: computed_trait
key: minr
event: Order Completed
value: {min: revenue}
---
kind: sql_trait
key: support
identifier: user_id
sql: select user_id, count(*) as open_tickets from events where type = 'track' and user_id is not null group by 1
"""

JOURNEYS = """\
kind: journey
key: onboarding
entry: {event: Signed Up, within: 7d}
exit_after: 30d
steps:
  - key: added_card
    where: {event: Credit Card Added}
    destinations: [out]
  - key: not_subscribed
    wait: 2d
    where: {not: {event: Subscribed}}
"""


def _events() -> str:
    messages = [
        {"type": "identify", "userId": "u1", "timestamp": "2024-05-01T00:00:00Z", "messageId": "i1",
         "traits": {"email": "bob@example.com", "plan": "pro", "signup_at": "2023-06-01T00:00:00Z", "tags": ["vip"]}},
        {"type": "identify", "userId": "u2", "timestamp": "2024-05-01T00:00:00Z", "messageId": "i2",
         "traits": {"email": "amy@example.com", "plan": "free"}},
    ]
    for day in range(3):
        messages.append({"type": "track", "userId": "u1", "event": "Order Completed", "messageId": f"o{day}",
                         "timestamp": f"2024-05-2{day}T00:00:00Z",
                         "properties": {"revenue": 150, "currency": "USD", "category": "books", "product_id": "p1"}})
    messages += [
        {"type": "track", "userId": "u2", "event": "Product Added", "messageId": "pa",
         "timestamp": "2024-05-30T00:00:00Z", "properties": {"product_id": "p2"}},
        {"type": "track", "userId": "u2", "event": "Signed Up", "messageId": "su", "timestamp": "2024-05-29T00:00:00Z"},
        {"type": "track", "userId": "u2", "event": "Credit Card Added", "messageId": "cc",
         "timestamp": "2024-05-29T05:00:00Z"},
        {"type": "page", "userId": "u2", "name": "Cart", "messageId": "pg", "timestamp": "2024-05-30T00:00:00Z",
         "context": {"page": {"url": "https://x/cart"}}, "properties": {"url": "https://x/cart"}},
    ]
    return events(*messages)


@pytest.fixture(scope="module")
def forms(tmp_path_factory) -> Project:
    root = tmp_path_factory.mktemp("forms")
    p = Project(root)
    p.write("engage.yaml", (
        "space: spa_f\n"
        "sources:\n  - key: web\n    path: data/*.jsonl\n"
        "identity:\n  identifiers:\n    user_id: {limit: 1, priority: 1}\n    email: {limit: 5, priority: 2}\n"
        "    anonymous_id: {limit: 5, period: monthly}\n"
        "  blocked_values: [team@company.com, \"null\", \"undefined\", {regex: \"^[0-]*$\"}]\n"))
    p.write("destinations/d.yaml", DESTINATIONS)
    p.write("audiences/a.yaml", AUDIENCES)
    p.write("traits/t.yaml", TRAITS)
    p.write("journeys/j.yaml", JOURNEYS)
    p.write("data/e.jsonl", _events())
    result = p.cli("apply", "--auto-approve", "--as-of", AS_OF, "--json")
    assert result.returncode == 0, result.stderr
    return p


def test_every_form_validates(forms):
    result = forms.cli("validate", "--json")
    assert result.returncode == 0, result.stdout
    assert result.json()["diagnostics"] == []


def test_the_run_covers_every_kind(forms):
    run = forms.cli("run", "--json", "--as-of", AS_OF).json()
    kinds = {c["key"]: c["kind"] for c in run["computations"]}
    assert kinds["revenue_365d"] == "computed_trait" and kinds["support"] == "sql_trait"
    assert kinds["high_value_users"] == "audience" and kinds["onboarding"] == "journey"
    assert kinds["onboarding__added_card"] == "journey_step"


def test_computed_trait_values_as_the_profile_api_returns_them(forms):
    traits = forms.cli("profile", "email:bob@example.com", "--json", "--limit", "50").json()["traits"]
    assert traits["revenue_365d"] == 450 and traits["avg_spend"] == 150 and traits["n_orders"] == 3
    assert traits["fav"] == "books" and traits["firstc"] == traits["lastc"] == "books"
    assert traits["cats"] == ["books"] and traits["ncats"] == 1
    assert traits["maxr"] == traits["minr"] == 150
    assert traits["open_tickets"] == 3


def test_audience_memberships(forms):
    bob = forms.cli("profile", "email:bob@example.com", "--json", "--limit", "50").json()["traits"]
    amy = forms.cli("profile", "email:amy@example.com", "--json", "--limit", "50").json()["traits"]
    assert bob["high_value_users"] is True and bob.get("churned_users") in (None, False)
    assert amy["churned_users"] is True and amy.get("high_value_users") in (None, False)
    assert amy["cart_abandoners"] is True and bob.get("cart_abandoners") in (None, False)
    assert amy["onboarding__added_card"] is True
    assert bob["above_avg"] is True


def test_long_form_binding_sends_track_and_identify(forms):
    lines = [json.loads(line) for line in (forms.root / "out" / "y.jsonl").read_text().splitlines()]
    assert {m["type"] for m in lines} == {"identify", "track"}
    track = next(m for m in lines if m["type"] == "track")
    assert track["event"] == "Audience Entered" and track["properties"]["high_value_users"] is True
