"""What the server serves after a run. On DuckDB `/traits` comes from the read model, which
follows a run at once (through the server's own connection) or within a second (any other
connection); on Postgres every request queries the warehouse."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from engagectl.compute.pipeline import run_pipeline
from engagectl.profiles import ReadModelReader
from engagectl.server.context import open_context
from engagectl.warehouse import open_warehouse
from engagectl.warehouse.layout import LOOKUP_INDEXES

from server_support import SPACE, WRITE_KEY, WRITE_KEY_VARIABLE, basic, write_project

NOW = datetime.now(timezone.utc).replace(microsecond=0)
PROFILES = f"/v1/spaces/{SPACE}/collections/users/profiles"
LOOKUPS = {name for _table, name, _columns, _unique in LOOKUP_INDEXES}


def _at(hours_ago: int) -> str:
    return (NOW - timedelta(hours=hours_ago)).isoformat().replace("+00:00", "Z")


# two orders over 100 by an anonymous visitor (high_value_users wants 2, from a known person), and
# bob, who signed up elsewhere: two profiles, neither in the audience
FIRST_VISIT = [
    *({"type": "track", "anonymousId": "a_visitor", "event": "Order Completed", "messageId": f"o{i}",
       "timestamp": _at(30 - i), "properties": {"revenue": 150}} for i in range(2)),
    {"type": "identify", "userId": "u_bob", "messageId": "i0", "timestamp": _at(20),
     "traits": {"email": "bob@example.com", "plan": "pro"}},
]
# later the visitor signs in as bob: the two profiles merge into one
SIGN_IN = [{"type": "track", "userId": "u_bob", "anonymousId": "a_visitor", "event": "Signed In",
            "messageId": "s1", "timestamp": _at(5)}]


def _traits(client, token, identifier: str, **params):
    return client.get(f"{PROFILES}/{identifier}/traits", params=params, headers=basic(token))


def _send(client, messages) -> None:
    response = client.post("/v1/batch", json={"batch": messages}, headers=basic(WRITE_KEY))
    assert response.json() == {"success": True}


def _profile_of(response) -> str:
    return response.json()["cursor"]["url"].split("/")[-2]


def test_a_run_is_served_from_the_next_request_and_merged_profiles_follow(client, context, project, token):
    _send(client, FIRST_VISIT)
    # stored, not yet resolved: no profile until a run
    assert _traits(client, token, "anonymous_id:a_visitor").status_code == 404

    run_pipeline(project, context.warehouse, as_of=NOW)
    visitor = _traits(client, token, "anonymous_id:a_visitor", include="high_value_users,plan")
    assert visitor.json()["traits"] == {}
    bob = _traits(client, token, "email:bob@example.com", include="high_value_users,plan")
    assert bob.json()["traits"] == {"plan": "pro"}
    two_profiles = {_profile_of(visitor), _profile_of(bob)}
    assert len(two_profiles) == 2

    _send(client, SIGN_IN)
    run_pipeline(project, context.warehouse, as_of=NOW)
    merged = set()
    for identifier in ("email:bob@example.com", "user_id:u_bob", "anonymous_id:a_visitor"):
        response = _traits(client, token, identifier, include="high_value_users,plan")
        assert response.status_code == 200, identifier
        assert response.json()["traits"] == {"high_value_users": True, "plan": "pro"}, identifier
        merged.add(_profile_of(response))
    [survivor] = merged
    [gone] = two_profiles - merged
    assert _traits(client, token, f"profile_id:{survivor}").status_code == 200
    assert _traits(client, token, f"profile_id:{gone}").json() == {
        "error": {"code": "not_found", "message": "Profile was not found."}}


def test_a_run_by_another_connection_is_served_within_a_second(client, context, project, token):
    _send(client, FIRST_VISIT + SIGN_IN)
    assert _traits(client, token, "email:bob@example.com").status_code == 404
    # a second connection to the file, as another process would have on Postgres
    other = open_warehouse(project.settings.warehouse, str(project.directory))
    try:
        run_pipeline(project, other, as_of=NOW)
    finally:
        other.close()
    committed = time.monotonic()
    while (response := _traits(client, token, "email:bob@example.com", include="high_value_users")).status_code != 200:
        assert time.monotonic() - committed < 1.5, "the server did not follow the run"
        time.sleep(0.05)
    assert response.json()["traits"] == {"high_value_users": True}


def test_a_run_that_only_recomputes_is_served(client, context, project, token):
    _send(client, FIRST_VISIT + SIGN_IN)
    run_pipeline(project, context.warehouse, as_of=NOW)
    assert _traits(client, token, "user_id:u_bob").json()["traits"]["high_value_users"] is True
    # no new events, so identities stay as they are: 100 days on, the orders are out of the window
    run_pipeline(project, context.warehouse, as_of=NOW + timedelta(days=100))
    assert "high_value_users" not in _traits(client, token, "user_id:u_bob").json()["traits"]


def test_on_postgres_a_run_by_another_process_is_served_from_the_next_request(tmp_path, postgres_url, monkeypatch):
    from fastapi.testclient import TestClient

    from engagectl.config import load_project
    from engagectl.server import create_app

    monkeypatch.setenv(WRITE_KEY_VARIABLE, WRITE_KEY)
    project = load_project(write_project(tmp_path / "pg", postgres_url, f"sqlite:///{tmp_path / 'state.db'}"))
    context = open_context(project)
    try:
        assert not isinstance(context.reader, ReadModelReader)  # every route queries the warehouse
        token = context.tokens.create(SPACE, "tests").secret
        with TestClient(create_app(context=context)) as client:
            _send(client, FIRST_VISIT + SIGN_IN)
            assert _traits(client, token, "email:bob@example.com").status_code == 404
            other = open_warehouse(postgres_url)  # as `engagectl run` in another process
            try:
                run_pipeline(project, other, as_of=NOW)
            finally:
                other.close()
            response = _traits(client, token, "email:bob@example.com", include="high_value_users")
            assert response.json()["traits"] == {"high_value_users": True}
    finally:
        context.close()


def _indexes(warehouse) -> set[str]:
    return {name for (name,) in warehouse.fetchall("SELECT index_name FROM duckdb_indexes()")}


def test_serving_leaves_no_lookup_indexes_and_removes_old_ones(project):
    # an earlier server built these and was killed before it dropped them
    warehouse = open_warehouse(project.settings.warehouse, str(project.directory))
    for table, name, columns, unique in LOOKUP_INDEXES:
        warehouse.create_index(table, name, columns, unique)
    assert _indexes(warehouse) >= LOOKUPS
    warehouse.close()

    context = open_context(project)
    try:
        assert not _indexes(context.warehouse) & LOOKUPS  # `run` writes without maintaining them
        # the remaining statements run on one DuckDB thread unless the URL says otherwise
        assert context.warehouse.fetchall("SELECT current_setting('threads')") == [(1,)]
    finally:
        context.close()
