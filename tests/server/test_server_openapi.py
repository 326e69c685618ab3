"""The OpenAPI document: served, kept in specs/, and true of every answer (schemathesis)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from server_support import SPACE, WRITE_KEY, basic
from engagectl.server import create_app
from engagectl.server.openapi import SPEC_PATH, openapi_document, render


def test_specs_holds_the_served_document(client):
    served = client.get("/openapi.json").json()
    assert served == openapi_document()
    assert SPEC_PATH.read_text(encoding="utf-8") == render(served), (
        "specs/openapi.json is stale: regenerate it with `python -m engagectl.server.openapi`")


def test_the_document_names_segments_routes():
    paths = openapi_document()["paths"]
    profile = "/v1/spaces/{space}/collections/{collection}/profiles/{identifier}/"
    for resource in ("traits", "external_ids", "events", "metadata", "links"):
        assert profile + resource in paths
        assert profile.replace("/spaces/", "/namespaces/") + resource in paths
    for call in ("track", "identify", "page", "screen", "group", "alias", "batch"):
        assert "post" in paths[f"/v1/{call}"]


@pytest.fixture
def fuzzed_app(context, token):
    app = create_app(context=context)
    app.state.fuzz_token = token
    return app


schema = schemathesis.pytest.from_fixture("fuzzed_schema")


@pytest.fixture
def fuzzed_schema(fuzzed_app):
    return schemathesis.openapi.from_asgi("/openapi.json", fuzzed_app)


@schema.parametrize()
@settings(max_examples=4, derandomize=True, deadline=None,
          suppress_health_check=list(HealthCheck), database=None)
def test_no_server_errors_and_every_answer_fits_the_document(case, fuzzed_app):
    """Random parameters and bodies on every route, authenticated and aimed at the served space."""
    if "space" in (case.path_parameters or {}):
        case.path_parameters["space"] = SPACE
    if "collection" in (case.path_parameters or {}):
        case.path_parameters["collection"] = "users"
    credential = WRITE_KEY if case.operation.path.count("/") == 2 else fuzzed_app.state.fuzz_token
    case.call_and_validate(headers=basic(credential), checks=[
        not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance])
