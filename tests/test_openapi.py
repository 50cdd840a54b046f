"""The OpenAPI document: generated without warnings, served, and faithful to the wire and to Auth0's schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from openapi_spec_validator import validate

pytestmark = pytest.mark.django_db

AUTH0_OAS = Path(settings.BASE_DIR).parent / "shared" / "reference" / "auth0-management-oas.json"


@pytest.fixture(scope="module")
def document(django_db_blocker) -> dict:
    from drf_spectacular.generators import SchemaGenerator

    with django_db_blocker.unblock():
        return json.loads(json.dumps(SchemaGenerator().get_schema(request=None, public=True), default=str))


def _resolve(document: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def test_the_document_generates_without_warnings_and_validates(tmp_path):
    target = tmp_path / "openapi.json"
    call_command("spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", "--file", str(target))
    validate(json.loads(target.read_text()))


def test_it_is_served_with_a_browsable_page(client):
    response = client.get("/api/v2/openapi.json")
    assert response.status_code == 200
    assert response.json()["openapi"].startswith("3.")
    page = client.get("/api/v2/docs")
    assert page.status_code == 200
    assert "swagger-ui" in page.text


@pytest.mark.parametrize("path", ["/api/v2/docs", "/api/v2/openapi.json"])
def test_options_on_the_documentation_answers_its_methods(client, path):
    # The page's OPTIONS went to its HTML renderer with DRF's JSON description of the view: a 500 (and an ERROR in
    # the log) for anyone, no token needed.
    response = client.options(path)
    assert response.status_code == 200
    assert {"GET", "HEAD", "OPTIONS"} <= {method.strip() for method in response["Allow"].split(",")}
    assert client.head(path).status_code == 200


def test_every_operation_is_documented_with_its_scopes_and_errors(document):
    paths = document["paths"]
    expected = {
        ("/api/v2/users", "post"): ["create:users"],
        ("/api/v2/users", "get"): ["read:users"],
        ("/api/v2/users/{user_id}", "get"): ["read:users"],
        ("/api/v2/users/{user_id}", "patch"): ["update:users"],
        ("/api/v2/users/{user_id}", "delete"): ["delete:users"],
        ("/api/v2/users-by-email", "get"): ["read:users"],
        ("/api/v2/connections", "post"): ["create:connections"],
        ("/api/v2/connections", "get"): ["read:connections"],
        ("/api/v2/connections/{connection_id}", "get"): ["read:connections"],
        ("/api/v2/connections/{connection_id}", "patch"): ["update:connections"],
        ("/api/v2/connections/{connection_id}", "delete"): ["delete:connections"],
        ("/api/v2/jobs/verification-email", "post"): ["update:users"],
        ("/api/v2/logs", "get"): ["read:logs", "read:logs_users"],
        ("/api/v2/logs/{log_id}", "get"): ["read:logs", "read:logs_users"],
        ("/api/v2/users/{user_id}/logs", "get"): ["read:logs", "read:logs_users"],
        ("/v1/users", "post"): ["create:users"],
        ("/api/v2/event-streams", "post"): ["create:event_streams"],
        ("/api/v2/event-streams", "get"): ["read:event_streams"],
        ("/api/v2/event-streams/{stream_id}", "get"): ["read:event_streams"],
        ("/api/v2/event-streams/{stream_id}", "patch"): ["update:event_streams"],
        ("/api/v2/event-streams/{stream_id}", "delete"): ["delete:event_streams"],
        ("/api/v2/event-streams/{stream_id}/test", "post"): ["update:event_streams"],
        ("/api/v2/event-streams/{stream_id}/deliveries", "get"): ["read:event_streams", "read:event_deliveries"],
        ("/api/v2/event-streams/{stream_id}/deliveries/{event_id}", "get"): ["read:event_deliveries"],
        ("/api/v2/event-streams/{stream_id}/redeliver", "post"): ["update:event_deliveries"],
        ("/api/v2/event-streams/{stream_id}/redeliver/{event_id}", "post"): ["update:event_deliveries"],
    }
    for (path, method), scopes in expected.items():
        operation = paths[path][method]
        assert {"oAuth2ClientCredentials": scopes} in operation["security"], (path, method)
        assert "401" in operation["responses"], (path, method)
    for path in ("/oauth/token", "/dbconnections/signup", "/.well-known/jwks.json"):
        assert path in paths


def test_error_bodies_are_documented(document):
    responses = document["paths"]["/api/v2/users"]["post"]["responses"]
    envelope = _resolve(document, responses["409"]["content"]["application/json"]["schema"])
    assert set(envelope["properties"]) == {"statusCode", "error", "message", "errorCode", "errors"}
    oauth = document["paths"]["/oauth/token"]["post"]["responses"]["401"]["content"]["application/json"]["schema"]
    assert set(_resolve(document, oauth)["properties"]) == {"error", "error_description"}


def test_the_paging_limit_and_the_patch_conflict_are_documented(document):
    paths = document["paths"]
    for path in ("/api/v2/users", "/api/v2/logs", "/api/v2/connections"):
        assert "invalid_paging" in paths[path]["get"]["description"], path
    patch = paths["/api/v2/users/{user_id}"]["patch"]
    assert "409" not in patch["responses"]  # a taken identifier is a 400 on a change
    assert "The specified new email already exists" in patch["description"]


def test_create_user_request_matches_auth0s_schema(document):
    if not AUTH0_OAS.exists():
        pytest.skip("Auth0's OpenAPI document is not beside the project (../shared/reference)")
    auth0 = json.loads(AUTH0_OAS.read_text())
    theirs = auth0["components"]["schemas"]["CreateUserRequestContent"]
    body = document["paths"]["/api/v2/users"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/json", "application/x-www-form-urlencoded"}
    ours = _resolve(document, body["application/json"]["schema"])

    assert set(ours["properties"]) == set(theirs["properties"])
    assert ours["required"] == theirs["required"] == ["connection"]
    assert ours["additionalProperties"] is theirs["additionalProperties"] is False
    for name, their_property in theirs["properties"].items():
        their_property = _resolve(auth0, their_property) if "$ref" in their_property else their_property
        mine = ours["properties"][name]
        for key in ("type", "minLength", "maxLength", "pattern", "format"):
            assert mine.get(key) == their_property.get(key), (name, key)


@pytest.mark.parametrize(
    ("path", "method", "component"),
    [
        ("/api/v2/connections", "post", "CreateConnectionRequestContent"),
        ("/api/v2/connections/{connection_id}", "patch", "UpdateConnectionRequestContent"),
    ],
)
def test_connection_metadata_and_display_name_are_documented_with_auth0s_limits(document, path, method, component):
    # Auth0's ConnectionsMetadata: at most ten properties, each a string of at most 255 characters or null. The
    # request schema said any object ("additionalProperties": true), which the service refuses.
    if not AUTH0_OAS.exists():
        pytest.skip("Auth0's OpenAPI document is not beside the project (../shared/reference)")
    auth0 = json.loads(AUTH0_OAS.read_text())
    theirs = auth0["components"]["schemas"][component]["properties"]
    body = document["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
    ours = _resolve(document, body)["properties"]
    assert ours["display_name"]["maxLength"] == theirs["display_name"]["maxLength"] == 128
    metadata = _resolve(auth0, theirs["metadata"])
    assert ours["metadata"]["type"] == metadata["type"] == "object"
    assert ours["metadata"]["maxProperties"] == metadata["maxProperties"] == 10
    values = ours["metadata"]["additionalProperties"]
    assert values == {"type": "string", "maxLength": metadata["additionalProperties"]["maxLength"], "nullable": True}
