"""Segment's own Python library sends to the server; the next run puts bob in the audience, and the
Profile API answers the engage-faq.md question "is bob@example.com in high_value_users?"."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import segment.analytics as segment_analytics

from server_support import SPACE, WRITE_KEY, basic
from engagectl.server import create_app
from live import serving


def _send_with_segments_library(base_url: str) -> list:
    errors: list = []
    client = segment_analytics.Client(WRITE_KEY, host=base_url, gzip=True, max_retries=0,
                                      on_error=lambda error, batch: errors.append(error))
    now = datetime.now(timezone.utc)
    client.identify(user_id="u_bob", traits={"email": "bob@example.com", "plan": "pro"})
    for hours, revenue in ((30, 150), (20, 240), (10, 90)):
        client.track(user_id="u_bob", event="Order Completed", properties={"revenue": revenue},
                     timestamp=now - timedelta(hours=hours))
    client.identify(user_id="u_amy", traits={"email": "amy@example.com"})
    client.track(user_id="u_amy", event="Order Completed", properties={"revenue": 500},
                 timestamp=now - timedelta(hours=5))
    client.flush()
    client.shutdown()
    return errors


@pytest.fixture
def after_a_run(context, project):
    from engagectl.compute.pipeline import run_pipeline

    app = create_app(context=context)
    with serving(app) as base_url:
        assert _send_with_segments_library(base_url) == []
    run_pipeline(project, context.warehouse, as_of=datetime.now(timezone.utc))
    return app


def test_segments_library_events_reach_the_audience(after_a_run, client, token):
    base = f"/v1/namespaces/{SPACE}/collections/users/profiles"
    response = client.get(f"{base}/email:bob@example.com/traits?include=high_value_users", headers=basic(token))
    assert response.status_code == 200
    body = response.json()
    assert body["traits"] == {"high_value_users": True}
    assert body["cursor"]["has_more"] is False

    amy = client.get(f"{base}/email:amy@example.com/traits?include=high_value_users", headers=basic(token))
    assert amy.status_code == 200
    assert amy.json()["traits"].get("high_value_users") in (None, False)

    # the same profile is found by any of its external ids
    by_user_id = client.get(f"{base}/user_id:u_bob/traits?include=high_value_users", headers=basic(token))
    assert by_user_id.json()["traits"] == {"high_value_users": True}

    unknown = client.get(f"{base}/email:nobody@example.com/traits", headers=basic(token))
    assert unknown.status_code == 404
    assert unknown.json() == {"error": {"code": "not_found", "message": "Profile was not found."}}


def test_the_audiences_api_reports_the_run(after_a_run, client, token):
    body = client.get(f"/v1/spaces/{SPACE}/audiences", headers=basic(token)).json()
    [audience] = body["data"]["audiences"]
    assert audience["key"] == "high_value_users"
    assert audience["id"] == "aud_high_value_users"
    assert audience["spaceId"] == SPACE
    assert audience["size"]["count"] == 1
    assert audience["definition"]["query"]["where"]["event"] == "Order Completed"
    one = client.get(f"/v1/spaces/{SPACE}/audiences/aud_high_value_users", headers=basic(token)).json()
    assert one["data"]["audience"]["size"]["count"] == 1
    traits = client.get(f"/v1/spaces/{SPACE}/computed-traits", headers=basic(token)).json()
    [revenue] = traits["data"]["computedTraits"]
    assert (revenue["key"], revenue["size"]["count"]) == ("revenue_365d", 2)
    missing = client.get(f"/v1/spaces/{SPACE}/computed-traits/tra_nope", headers=basic(token))
    assert missing.status_code == 404
