"""Who may read: a live token of the space, sent as the Basic user name; everyone else is refused."""

from __future__ import annotations

from server_support import SPACE, basic

TRAITS = f"/v1/spaces/{SPACE}/collections/users/profiles/email:bob@example.com/traits"
AUDIENCES = f"/v1/spaces/{SPACE}/audiences"


def test_no_token_is_a_401_with_the_error_body(client):
    response = client.get(TRAITS)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_error"
    assert response.headers["www-authenticate"].startswith("Basic")
    assert response.headers["request-id"]


def test_an_unknown_token_is_a_401(client, token):
    token_id, _, _secret = token.partition(".")
    for presented in ("not-a-token", f"{token_id}.wrong-secret", token + "x"):
        response = client.get(TRAITS, headers=basic(presented))
        assert response.status_code == 401, presented
        error = response.json()["error"]
        assert (error["code"], sorted(error)) == ("authentication_error", ["code", "message"])


def test_a_token_in_the_password_field_is_not_accepted(client, token):
    import base64

    header = {"Authorization": "Basic " + base64.b64encode(f":{token}".encode()).decode()}
    assert client.get(AUDIENCES, headers=header).status_code == 401


def test_a_revoked_token_is_refused_from_the_next_request_on(client, token, tokens):
    assert client.get(AUDIENCES, headers=basic(token)).status_code == 200
    tokens.revoke(token.partition(".")[0])
    response = client.get(AUDIENCES, headers=basic(token))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_error"


def test_a_token_of_another_space_reads_not_found(client, tokens):
    other = tokens.create("spa_other").secret
    response = client.get(AUDIENCES, headers=basic(other))
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "Space was not found."}}
    # and the other space's own paths are not served here either
    assert client.get("/v1/spaces/spa_other/audiences", headers=basic(other)).status_code == 404


def test_another_space_in_the_path_reads_not_found(client, token):
    response = client.get(TRAITS.replace(SPACE, "spa_elsewhere"), headers=basic(token))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_authentication_comes_before_parameter_checks(client):
    assert client.get(TRAITS + "?limit=5000").status_code == 401


def test_unknown_routes_answer_the_error_body(client, token):
    response = client.get("/v1/spaces/spa_test/nothing-here", headers=basic(token))
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "Route was not found."}}
    assert response.headers["request-id"]
    response = client.delete(AUDIENCES, headers=basic(token))
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "invalid_request_error"


def test_no_cors(client, token):
    preflight = client.options(TRAITS, headers={"Origin": "https://evil.example",
                                                "Access-Control-Request-Method": "GET"})
    assert "access-control-allow-origin" not in preflight.headers
    response = client.get(AUDIENCES, headers={**basic(token), "Origin": "https://evil.example"})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


def test_every_response_has_a_distinct_request_id(client, token):
    ids = {client.get(AUDIENCES, headers=basic(token)).headers["request-id"] for _ in range(3)}
    assert len(ids) == 3


def test_unexpected_failures_answer_500_with_the_error_body_and_a_request_id(context, token):
    from fastapi.testclient import TestClient

    from server_support import WRITE_KEY
    from engagectl.server import create_app

    context.warehouse.close()  # every read and write now fails inside the engine
    with TestClient(create_app(context=context), raise_server_exceptions=False) as broken:
        # the Audiences API reads the warehouse on every request (/traits may answer from memory)
        response = broken.get(AUDIENCES, headers=basic(token))
        assert response.status_code == 500
        assert response.json() == {"error": {"code": "server_error", "message": "An internal error occurred."}}
        assert response.headers["request-id"]
        tracked = broken.post("/v1/track", json={"userId": "u1", "event": "x"}, headers=basic(WRITE_KEY))
        assert tracked.status_code == 500
        assert tracked.json()["success"] is False
        assert tracked.headers["request-id"]


def test_a_revocation_made_by_another_process_applies(context, token):
    from engagectl.server.tokens import TokenStore

    served = TokenStore(context.tokens.engine, cache_seconds=0)
    assert served.authenticate(token) is not None
    TokenStore(context.tokens.engine).revoke(token.partition(".")[0])  # as `engagectl tokens revoke` does
    assert served.authenticate(token) is None
