"""The event streams API (``/api/v2/event-streams``), as Auth0's Management API and auth0-python 6.8 have it: create,
list, get, update, delete, test events, deliveries and redelivery; scopes; secrets never returned, logged or echoed;
endpoints that would reach the internal network refused; every write audited; bad input a 4xx, never a 500."""

from __future__ import annotations

import logging
import socket
from typing import Any
from unittest import mock
from urllib.parse import quote, urlencode, urlsplit

import pytest
from auth0.authentication import GetToken
from auth0.management import (
    Auth0,
    CreateEventStreamWebHookRequestContent,
    EventStreamSubscription,
    EventStreamWebhookBasicAuth,
    EventStreamWebhookBearerAuth,
    EventStreamWebhookConfiguration,
    EventStreamWebhookDestination,
)
from auth0.management.errors import BadRequestError, NotFoundError
from django.conf import settings
from django.db import connection as db_connection
from django.test import override_settings

from audit.models import Event as AuditEvent
from clients.services import create_client
from core.actors import SYSTEM
from events.models import Delivery, DeliveryStatus, EventStream
from events.services import authorization_secret
from tests.helpers import MISSING_TOKEN, forbidden, management_error

pytestmark = [pytest.mark.django_db]

STREAMS = "/api/v2/event-streams"
# A public address written as an IP literal: accepted by the endpoint check without a DNS lookup.
PUBLIC_ENDPOINT = "https://93.184.215.14/hooks/users"
TOKEN = "tok_S3cr3t-Bearer.value~1"
PASSWORD = "pa55 word: with spaces"
STREAM_SCOPES = (
    "create:event_streams read:event_streams update:event_streams delete:event_streams "
    "read:event_deliveries update:event_deliveries"
)


def stream_url(stream_id: str, *rest: str) -> str:
    return "/".join([STREAMS, quote(stream_id, safe=""), *rest])


def bearer_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "crm",
        "subscriptions": [{"event_type": "user.created"}, {"event_type": "user.deleted"}],
        "destination": {
            "type": "webhook",
            "configuration": {
                "webhook_endpoint": PUBLIC_ENDPOINT,
                "webhook_authorization": {"method": "bearer", "token": TOKEN},
            },
        },
    }
    body.update(overrides)
    return body


def basic_body() -> dict[str, Any]:
    body = bearer_body(name="billing")
    body["destination"]["configuration"]["webhook_authorization"] = {
        "method": "basic",
        "username": "billing-bot",
        "password": PASSWORD,
    }
    return body


@pytest.fixture
def streams_api(scoped_client):
    return scoped_client(STREAM_SCOPES)


@pytest.fixture
def stream(streams_api) -> dict[str, Any]:
    response = streams_api.post(STREAMS, bearer_body(), format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def invalid(response: Any) -> dict[str, Any]:
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["statusCode"] == 400
    assert body["error"] == "Bad Request"
    return body


# --- create, get, list, update, delete ---------------------------------------------------------------------------


def test_create_answers_auth0s_body_without_the_token(streams_api, caplog):
    caplog.set_level(logging.DEBUG)
    response = streams_api.post(STREAMS, bearer_body(), format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["id"].startswith("est_")
    assert body["signing_secret"].startswith("whsec_")
    created = {key: value for key, value in body.items() if key not in ("id", "created_at", "updated_at")}
    assert created == {
        "name": "crm",
        "subscriptions": [{"event_type": "user.created"}, {"event_type": "user.deleted"}],
        "destination": {
            "type": "webhook",
            "configuration": {"webhook_endpoint": PUBLIC_ENDPOINT, "webhook_authorization": {"method": "bearer"}},
        },
        "status": "enabled",
        "signing_secret": body["signing_secret"],
    }
    assert body["created_at"].endswith("Z")
    assert TOKEN not in response.content.decode()
    assert TOKEN not in caplog.text


def test_the_secret_is_stored_encrypted_and_never_returned_again(streams_api):
    created = streams_api.post(STREAMS, basic_body(), format="json").json()

    fetched = streams_api.get(stream_url(created["id"]))
    listed = streams_api.get(STREAMS)

    assert fetched.json()["destination"]["configuration"]["webhook_authorization"] == {
        "method": "basic",
        "username": "billing-bot",
    }
    assert "signing_secret" not in fetched.json()
    for answer in (fetched, listed):
        assert PASSWORD not in answer.content.decode()
        assert created["signing_secret"] not in answer.content.decode()
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT * FROM events_eventstream")
        dumped = repr(cursor.fetchall())
    assert PASSWORD not in dumped
    assert created["signing_secret"] not in dumped
    assert authorization_secret(EventStream.objects.get(pk=created["id"])) == PASSWORD


def test_get_of_an_unknown_stream_is_404(streams_api):
    response = streams_api.get(stream_url("est_0000000000000000"))
    assert response.status_code == 404
    assert response.json() == management_error(404, "The event stream does not exist", "inexistent_event_stream")


@pytest.mark.parametrize("stream_id", ["x" * 5000, "est_%00", "..", "est_ünïcode", "%2F"])
def test_odd_stream_ids_are_a_4xx(streams_api, stream_id):
    response = streams_api.get(f"{STREAMS}/{stream_id}")
    assert 400 <= response.status_code < 500
    assert response.json()["statusCode"] == response.status_code


def test_list_pages_by_checkpoint(streams_api):
    ids = [streams_api.post(STREAMS, bearer_body(name=f"s{i}"), format="json").json()["id"] for i in range(3)]

    first = streams_api.get(STREAMS, {"take": 2}).json()
    second = streams_api.get(STREAMS, {"take": 2, "from": first["next"]}).json()
    whole = streams_api.get(STREAMS).json()

    assert [s["id"] for s in first["eventStreams"]] == ids[:2]
    assert [s["id"] for s in second["eventStreams"]] == ids[2:]
    assert "next" not in second
    assert [s["id"] for s in whole["eventStreams"]] == ids
    assert streams_api.get(STREAMS).json()["eventStreams"][0]["name"] == "s0"


def test_an_empty_list_is_an_object(streams_api):
    assert streams_api.get(STREAMS).json() == {"eventStreams": []}


@pytest.mark.parametrize(
    ("query", "field"),
    [({"take": "0"}, "take"), ({"take": "101"}, "take"), ({"take": "ten"}, "take"), ({"from": "est_nope"}, "from")],
)
def test_bad_paging_is_invalid_query_string(streams_api, stream, query, field):
    body = invalid(streams_api.get(STREAMS, query))
    assert body["errorCode"] == "invalid_query_string"
    assert [e["field"] for e in body["errors"]] == [field]


def test_patch_changes_what_is_sent_and_keeps_the_rest(streams_api, stream):
    response = streams_api.patch(
        stream_url(stream["id"]),
        {"name": "crm-2", "status": "disabled", "subscriptions": [{"event_type": "user.updated"}]},
        format="json",
    )

    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "crm-2"
    assert body["status"] == "disabled"
    assert body["subscriptions"] == [{"event_type": "user.updated"}]
    assert body["destination"] == stream["destination"]
    assert authorization_secret(EventStream.objects.get(pk=stream["id"])) == TOKEN


def test_an_empty_patch_changes_nothing(streams_api, stream):
    response = streams_api.patch(stream_url(stream["id"]), {}, format="json")
    assert response.status_code == 200
    assert response.json()["name"] == stream["name"]


def test_a_new_endpoint_keeps_the_stored_token_when_the_method_stays(streams_api, stream):
    # Auth0 never returns the token, so a client changing only the endpoint cannot send it back.
    destination = {
        "type": "webhook",
        "configuration": {
            "webhook_endpoint": "https://93.184.215.14/other",
            "webhook_authorization": {"method": "bearer"},
        },
    }
    response = streams_api.patch(stream_url(stream["id"]), {"destination": destination}, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["destination"]["configuration"]["webhook_endpoint"] == "https://93.184.215.14/other"
    assert authorization_secret(EventStream.objects.get(pk=stream["id"])) == TOKEN


def test_a_new_token_replaces_the_stored_one(streams_api, stream):
    destination = bearer_body()["destination"]
    destination["configuration"]["webhook_authorization"]["token"] = "rotated-token"
    response = streams_api.patch(stream_url(stream["id"]), {"destination": destination}, format="json")
    assert response.status_code == 200
    assert "rotated-token" not in response.content.decode()
    assert authorization_secret(EventStream.objects.get(pk=stream["id"])) == "rotated-token"


def test_a_new_method_needs_its_secret(streams_api, stream):
    destination = bearer_body()["destination"]
    destination["configuration"]["webhook_authorization"] = {"method": "basic", "username": "bot"}
    body = invalid(streams_api.patch(stream_url(stream["id"]), {"destination": destination}, format="json"))
    assert body["errors"] == [
        {
            "field": "destination.configuration.webhook_authorization.password",
            "code": "OBJECT_MISSING_REQUIRED_PROPERTY",
            "message": "Missing required property: password",
        }
    ]
    assert authorization_secret(EventStream.objects.get(pk=stream["id"])) == TOKEN


def test_a_token_stored_under_a_retired_secret_key_must_be_sent_again(streams_api, stream, settings):
    settings.SECRET_KEY = "a-new-secret-key-without-the-old-one-as-fallback"
    destination = bearer_body()["destination"]
    destination["configuration"]["webhook_authorization"] = {"method": "bearer"}
    body = invalid(streams_api.patch(stream_url(stream["id"]), {"destination": destination}, format="json"))
    assert [e["field"] for e in body["errors"]] == ["destination.configuration.webhook_authorization.token"]


def test_patch_of_an_unknown_stream_is_404(streams_api):
    response = streams_api.patch(stream_url("est_0000000000000000"), {"name": "x"}, format="json")
    assert response.status_code == 404
    destination = bearer_body()["destination"]
    response = streams_api.patch(stream_url("est_0000000000000000"), {"destination": destination}, format="json")
    assert response.status_code == 404


def test_delete_answers_204_then_the_stream_is_gone(streams_api, stream):
    assert streams_api.delete(stream_url(stream["id"])).status_code == 204
    assert streams_api.get(stream_url(stream["id"])).status_code == 404
    assert streams_api.delete(stream_url(stream["id"])).status_code == 404


def test_every_write_is_audited_without_secrets(streams_api):
    created = streams_api.post(STREAMS, bearer_body(), format="json").json()
    url = stream_url(created["id"])
    destination = bearer_body()["destination"]
    destination["configuration"]["webhook_authorization"]["token"] = "second-token"
    streams_api.patch(url, {"name": "renamed", "destination": destination}, format="json")
    streams_api.post(stream_url(created["id"], "test"), {"event_type": "user.created"}, format="json")
    streams_api.post(stream_url(created["id"], "redeliver"), {}, format="json")
    streams_api.delete(url)

    events = list(AuditEvent.objects.filter(details__event_stream_id=created["id"]).order_by("date", "pk"))
    assert [(e.type, e.description) for e in events] == [
        ("sapi", "Create an Event Stream"),
        ("sapi", "Update an Event Stream"),
        ("sapi", "Send a Test Event to an Event Stream"),
        ("sapi", "Redeliver Failed Events"),
        ("sapi", "Delete an Event Stream"),
    ]
    assert all(e.actor_kind == "client" for e in events)
    assert events[1].details["fields"] == ["destination", "name"]
    stored = repr([(e.description, e.details) for e in events])
    for secret in (TOKEN, "second-token", created["signing_secret"]):
        assert secret not in stored


# --- the endpoint check ----------------------------------------------------------------------------------------


def _with_endpoint(url: str) -> dict[str, Any]:
    body = bearer_body()
    body["destination"]["configuration"]["webhook_endpoint"] = url
    return body


@pytest.mark.parametrize(
    "url",
    [
        "http://93.184.215.14/hook",  # not https
        "https://127.0.0.1/hook",  # loopback
        "https://10.1.2.3/hook",  # 10/8
        "https://169.254.169.254/latest/meta-data",  # link-local: cloud metadata
        "https://[::1]/hook",  # IPv6 loopback
        "https://[fc00::1]/hook",  # IPv6 unique local, fc00::/7
        "https://[fd12:3456::1]/hook",  # fc00::/7 too
        "https://[::ffff:10.0.0.1]/hook",  # IPv4-mapped private
        "https://localhost/hook",  # a name resolving to loopback
        "https://user:pw@93.184.215.14/hook",  # credentials in the URL
        "ftp://93.184.215.14/hook",
        "not a url",
    ],
)
def test_endpoints_into_the_internal_network_are_refused(streams_api, url):
    body = invalid(streams_api.post(STREAMS, _with_endpoint(url), format="json"))
    assert body["errorCode"] == "invalid_body"
    assert [(e["field"], e["code"]) for e in body["errors"]] == [
        ("destination.configuration.webhook_endpoint", "INSECURE_ENDPOINT")
    ]
    assert "pw@" not in body["message"]
    assert EventStream.objects.count() == 0


def test_a_hostname_resolving_to_a_private_address_is_refused(streams_api, monkeypatch):
    real = socket.getaddrinfo

    def resolve(host: str, *args: Any, **kwargs: Any) -> Any:
        if host == "hooks.intranet.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.20.30.40", 443))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    body = invalid(streams_api.post(STREAMS, _with_endpoint("https://hooks.intranet.example/in"), format="json"))
    assert body["errors"][0]["code"] == "INSECURE_ENDPOINT"


def test_a_host_whose_resolver_does_not_answer_is_refused_in_the_field_envelope(streams_api, stream, settings):
    """The resolution's deadline (``EVENT_STREAMS_TIMEOUT_SECONDS``) at create and patch: 400 ``invalid_body`` with
    the field error, as a host that does not resolve; neither the timeout nor the host is in the message."""
    import threading

    from events.endpoints import _RESOLVER_THREADS

    settings.EVENT_STREAMS_TIMEOUT_SECONDS = 0.2
    message = "The webhook endpoint's host does not resolve."
    release = threading.Event()
    url = "https://hooks.unanswered.example/in"
    try:
        with mock.patch("events.endpoints.socket.getaddrinfo", side_effect=lambda *a, **k: release.wait(30)):
            created = invalid(streams_api.post(STREAMS, _with_endpoint(url), format="json"))
            patched = invalid(
                streams_api.patch(
                    stream_url(stream["id"]), {"destination": _with_endpoint(url)["destination"]}, format="json"
                )
            )
            for n in range(_RESOLVER_THREADS):  # more unanswered resolutions than resolver threads: each fails in time
                invalid(streams_api.post(STREAMS, _with_endpoint(f"https://hang{n}.example/in"), format="json"))
    finally:
        release.set()
    for body in (created, patched):
        assert (body["errorCode"], body["message"]) == ("invalid_body", message)
        assert body["errors"] == [
            {"field": "destination.configuration.webhook_endpoint", "code": "INSECURE_ENDPOINT", "message": message}
        ]
    assert EventStream.objects.get().webhook_endpoint == PUBLIC_ENDPOINT


def test_patching_in_a_private_endpoint_is_refused(streams_api, stream):
    destination = _with_endpoint("https://192.168.1.10/hook")["destination"]
    body = invalid(streams_api.patch(stream_url(stream["id"]), {"destination": destination}, format="json"))
    assert body["errors"][0]["code"] == "INSECURE_ENDPOINT"
    assert EventStream.objects.get(pk=stream["id"]).webhook_endpoint == PUBLIC_ENDPOINT


PORT_MESSAGE = "The webhook endpoint's port must be a number from 1 to 65535."


def test_an_endpoint_on_port_0_is_refused_in_auth0s_envelope(streams_api):
    body = invalid(streams_api.post(STREAMS, _with_endpoint("https://93.184.215.14:0/hook"), format="json"))
    assert body == {
        "statusCode": 400,
        "error": "Bad Request",
        "message": PORT_MESSAGE,
        "errorCode": "invalid_body",
        "errors": [{"field": "destination.configuration.webhook_endpoint", "code": "FORMAT", "message": PORT_MESSAGE}],
    }
    assert EventStream.objects.count() == 0


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://93.184.215.14:0/hook", PORT_MESSAGE),  # port 0 was taken for 443
        ("https://93.184.215.14:00/hook", PORT_MESSAGE),
        ("https://93.184.215.14:65536/hook", PORT_MESSAGE),
        ("https://93.184.215.14:-1/hook", PORT_MESSAGE),
        ("https://[::1]:0/hook", PORT_MESSAGE),
        ("https://93.184.215.14/a hook", "The webhook endpoint must not contain blanks or control characters."),
        ("https://93.184.215.14/hook\x01", "The webhook endpoint must not contain blanks or control characters."),
        ("https://hooks..example.com/", "The webhook endpoint's host is not a valid host name or IP address."),
        ("https://%31%32/hook", "The webhook endpoint's host is not a valid host name or IP address."),
        ("https://-hooks.example.com/", "The webhook endpoint's host is not a valid host name or IP address."),
        ("https://[v1.fe]/hook", "The webhook endpoint's host is not a valid host name or IP address."),  # IPvFuture
    ],
)
@pytest.mark.parametrize("insecure_allowed", [False, True])
def test_impossible_endpoints_are_refused_at_create_and_patch(
    streams_api, stream, settings, url, message, insecure_allowed
):
    settings.EVENT_STREAMS_ALLOW_INSECURE_ENDPOINTS = insecure_allowed  # a development setup refuses them too
    created = invalid(streams_api.post(STREAMS, _with_endpoint(url), format="json"))
    destination = _with_endpoint(url)["destination"]
    patched = invalid(streams_api.patch(stream_url(stream["id"]), {"destination": destination}, format="json"))
    for body in (created, patched):
        assert (body["errorCode"], body["message"]) == ("invalid_body", message)
        assert body["errors"] == [
            {"field": "destination.configuration.webhook_endpoint", "code": "FORMAT", "message": message}
        ]
    assert EventStream.objects.get().webhook_endpoint == PUBLIC_ENDPOINT


def test_insecure_endpoints_can_be_allowed_for_development(streams_api, settings):
    settings.EVENT_STREAMS_ALLOW_INSECURE_ENDPOINTS = True
    response = streams_api.post(STREAMS, _with_endpoint("http://127.0.0.1:9999/hook"), format="json")
    assert response.status_code == 201, response.json()


# --- bad input -------------------------------------------------------------------------------------------------


def _auth(**fields: Any) -> dict[str, Any]:
    body = bearer_body()
    body["destination"]["configuration"]["webhook_authorization"] = fields
    return body


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({k: v for k, v in bearer_body().items() if k != "name"}, "name", "OBJECT_MISSING_REQUIRED_PROPERTY"),
        ({"name": "crm"}, "destination", "OBJECT_MISSING_REQUIRED_PROPERTY"),
        (bearer_body(name=5), "name", "INVALID_TYPE"),
        (bearer_body(name=""), "name", "MIN_LENGTH"),
        (bearer_body(name="x" * 129), "name", "MAX_LENGTH"),
        (bearer_body(name="a\x00b"), "name", "INVALID_CHARACTERS"),
        (bearer_body(name=None), "name", "INVALID_TYPE"),
        (bearer_body(status="paused"), "status", "ENUM_MISMATCH"),
        (bearer_body(subscriptions=[]), "subscriptions", "ARRAY_LENGTH_SHORT"),
        (bearer_body(subscriptions="user.created"), "subscriptions", "INVALID_TYPE"),
        (bearer_body(subscriptions=["user.created"]), "subscriptions.0", "INVALID_TYPE"),
        (bearer_body(subscriptions=[None]), "subscriptions.0", "INVALID_TYPE"),
        (bearer_body(subscriptions=[{"event_type": "user.created"}, 5]), "subscriptions.1", "INVALID_TYPE"),
        (bearer_body(subscriptions=[{"event_type": None}]), "subscriptions.0.event_type", "INVALID_TYPE"),
        (bearer_body(subscriptions=[{"event_type": "user.exploded"}]), "subscriptions.0.event_type", "ENUM_MISMATCH"),
        (
            bearer_body(subscriptions=[{"event_type": "user.created", "filter": "x"}]),
            "subscriptions.0",
            "OBJECT_ADDITIONAL_PROPERTIES",
        ),
        (bearer_body(subscriptions=[{}]), "subscriptions.0.event_type", "OBJECT_MISSING_REQUIRED_PROPERTY"),
        (
            bearer_body(subscriptions=[{"event_type": "user.created"}] * 33),
            "subscriptions",
            "ARRAY_LENGTH_LONG",
        ),
        (bearer_body(extra=1), None, "OBJECT_ADDITIONAL_PROPERTIES"),
        (bearer_body(destination=None), "destination", "INVALID_TYPE"),
        (bearer_body(destination={"type": "webhook"}), "destination.configuration", "OBJECT_MISSING_REQUIRED_PROPERTY"),
        (
            bearer_body(destination={"type": "eventbridge", "configuration": {}}),
            "destination.type",
            "ENUM_MISMATCH",
        ),
        (
            _auth(method="custom_header", header_key="x"),
            "destination.configuration.webhook_authorization.method",
            "ENUM_MISMATCH",
        ),
        (
            _auth(method="bearer"),
            "destination.configuration.webhook_authorization.token",
            "OBJECT_MISSING_REQUIRED_PROPERTY",
        ),
        (
            _auth(method="bearer", token=TOKEN, username="x"),
            "destination.configuration.webhook_authorization",
            "OBJECT_ADDITIONAL_PROPERTIES",
        ),
        (
            _auth(method="basic", username="a:b", password="p"),
            "destination.configuration.webhook_authorization.username",
            "PATTERN",
        ),
        (
            _auth(method="basic", username="a\r\nb", password="p"),  # RFC 7617: no control character in a user-id
            "destination.configuration.webhook_authorization.username",
            "PATTERN",
        ),
        (
            _auth(method="basic", username="tab\tor\x7fdel", password="p"),
            "destination.configuration.webhook_authorization.username",
            "PATTERN",
        ),
        (
            _auth(method="basic", password="p"),
            "destination.configuration.webhook_authorization.username",
            "OBJECT_MISSING_REQUIRED_PROPERTY",
        ),
        (_auth(method="bearer", token=12345), "destination.configuration.webhook_authorization.token", "INVALID_TYPE"),
        (
            bearer_body(
                destination={
                    "type": "webhook",
                    "configuration": {
                        "webhook_endpoint": "https://" + "a" * 2050,
                        "webhook_authorization": {"method": "bearer", "token": "t"},
                    },
                }
            ),
            "destination.configuration.webhook_endpoint",
            "MAX_LENGTH",
        ),
    ],
)
def test_bad_bodies_are_400_invalid_body(streams_api, body, field, code):
    answer = invalid(streams_api.post(STREAMS, body, format="json"))
    assert answer["errorCode"] == "invalid_body"
    assert (field, code) in [(e["field"], e["code"]) for e in answer["errors"]], answer
    assert EventStream.objects.count() == 0


# connection.* are in Auth0's EventStreamEventTypeEnum too (auth0-python 6.8, node-auth0 7).
@pytest.mark.parametrize("event_type", ["organization.created", "connection.created", "connection.deleted"])
def test_an_event_type_auth0_has_but_we_do_not_emit_says_so(streams_api, event_type):
    body = invalid(streams_api.post(STREAMS, bearer_body(subscriptions=[{"event_type": event_type}]), format="json"))
    assert body["errors"] == [
        {
            "field": "subscriptions.0.event_type",
            "code": "ENUM_MISMATCH",
            "message": f"Event type {event_type} is not emitted by this service; the supported types are: "
            "user.created, user.updated, user.deleted",
        }
    ]


@pytest.mark.parametrize(
    "secret_fields",
    [
        {"method": "bearer", "token": "line\r\nX-Injected: yes"},
        {"method": "bearer", "token": "spaces are not allowed " + TOKEN},
        {"method": "bearer", "token": "t" * 4097 + TOKEN},
        {"method": "basic", "username": "u", "password": "tab\tin" + PASSWORD},
        {"method": "basic", "username": "u", "password": "p" * 1025 + PASSWORD},
    ],
)
def test_a_refused_secret_is_never_echoed(streams_api, secret_fields, caplog):
    caplog.set_level(logging.DEBUG)
    response = streams_api.post(STREAMS, _auth(**secret_fields), format="json")
    invalid(response)
    secret = secret_fields.get("token") or secret_fields["password"]
    assert secret not in response.content.decode()
    assert secret[-20:] not in response.content.decode()
    assert secret[-20:] not in caplog.text


def test_a_body_that_is_no_object_is_400(streams_api):
    bodies: list[Any] = [[], "x", 5]
    for body in bodies:
        assert streams_api.post(STREAMS, body, format="json").status_code == 400


def test_malformed_json_is_400(streams_api):
    response = streams_api.post(STREAMS, data='{"name": ', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["errorCode"] == "invalid_body"


@pytest.mark.parametrize(
    "form",
    [
        {"name": "x\x00", "destination": "{}"},
        {"name": "crm", "destination": "not json", "subscriptions": "user.created"},
        {"name": ["a", "b"], "destination": "{}"},
    ],
)
def test_a_form_body_is_checked_too(streams_api, form):
    response = streams_api.post(STREAMS, urlencode(form, doseq=True), content_type="application/x-www-form-urlencoded")
    invalid(response)
    assert EventStream.objects.count() == 0


# --- test events, deliveries, redelivery -------------------------------------------------------------------------


def test_a_test_event_is_queued_and_answered_as_its_delivery(streams_api, stream):
    response = streams_api.post(
        stream_url(stream["id"], "test"), {"event_type": "user.created", "data": {"object": {"x": 1}}}, format="json"
    )

    assert response.status_code == 202
    body = response.json()
    assert body["id"].startswith("evt_")
    assert body["event_stream_id"] == stream["id"]
    assert body["status"] == "pending"
    assert body["event_type"] == "user.created"
    assert body["attempts"] == []
    assert body["event"]["id"] == body["id"]
    assert body["event"]["type"] == "user.created"
    assert body["event"]["specversion"] == "1.0"
    assert body["event"]["data"] == {"object": {"x": 1}}
    assert Delivery.objects.get(event_id=body["id"]).stream_id == stream["id"]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "OBJECT_MISSING_REQUIRED_PROPERTY"),
        ({"event_type": "group.created"}, "ENUM_MISMATCH"),
        ({"event_type": "user.created", "data": "x"}, "INVALID_TYPE"),
        ({"event_type": "user.created", "extra": 1}, "OBJECT_ADDITIONAL_PROPERTIES"),
    ],
)
def test_a_bad_test_event_is_400(streams_api, stream, body, code):
    answer = invalid(streams_api.post(stream_url(stream["id"], "test"), body, format="json"))
    assert code in [e["code"] for e in answer["errors"]]
    assert Delivery.objects.count() == 0


def test_a_test_events_data_is_no_larger_as_stored_than_a_request_body(streams_api, stream):
    # PostgreSQL writes 1e308 back as 309 digits: 80,000 of them (a 480 KB body) were stored as 24.8 MB, which the
    # answer, every read of the delivery and each webhook attempt carried. Measured as stored on every database.
    count = 80_000
    body = '{"event_type":"user.created","data":{"object":{"x":[' + ",".join(["1e308"] * count) + "]}}}"
    response = streams_api.post(stream_url(stream["id"], "test"), body, content_type="application/json")
    size = len('{"object":{"x":[]}}') + count * 309 + (count - 1)
    message = f"The test event's data is too large as stored ({size} bytes), maximum 512000 bytes."
    assert response.status_code == 400
    assert response.json() == management_error(
        400, message, "invalid_body", errors=[{"field": "data", "code": "MAX_LENGTH", "message": message}]
    )
    assert Delivery.objects.count() == 0
    # What reads back as sent is taken whole, up to the limit.
    data = {"object": {"x": [1.5] * 100_000}}
    accepted = streams_api.post(
        stream_url(stream["id"], "test"), {"event_type": "user.created", "data": data}, format="json"
    )
    assert accepted.status_code == 202
    assert accepted.json()["event"]["data"] == data


def test_a_test_event_for_a_disabled_stream_is_refused(streams_api, stream):
    streams_api.patch(stream_url(stream["id"]), {"status": "disabled"}, format="json")
    response = streams_api.post(stream_url(stream["id"], "test"), {"event_type": "user.created"}, format="json")
    assert response.status_code == 400
    assert response.json()["errorCode"] == "event_stream_disabled"


def test_a_test_event_for_an_unknown_stream_is_404(streams_api):
    response = streams_api.post(
        stream_url("est_0000000000000000", "test"), {"event_type": "user.created"}, format="json"
    )
    assert response.status_code == 404


def _test_events(streams_api: Any, stream_id: str, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        response = streams_api.post(stream_url(stream_id, "test"), {"event_type": "user.created"}, format="json")
        assert response.status_code == 202, response.json()
        ids.append(response.json()["id"])
    return ids


def test_deliveries_lists_the_failed_ones_unless_asked_for_others(streams_api, stream):
    pending, failed = _test_events(streams_api, stream["id"], 2)
    Delivery.objects.filter(event_id=failed).update(status=DeliveryStatus.FAILED)
    url = stream_url(stream["id"], "deliveries")

    default = streams_api.get(url).json()
    every = streams_api.get(url, {"statuses": "pending,failed,delivered"}).json()
    only_pending = streams_api.get(url, {"statuses": "pending", "event_types": "user.created"}).json()
    other_type = streams_api.get(url, {"statuses": "pending", "event_types": "user.deleted"}).json()

    assert [d["id"] for d in default["deliveries"]] == [failed]
    assert [d["id"] for d in every["deliveries"]] == [pending, failed]
    assert [d["id"] for d in only_pending["deliveries"]] == [pending]
    assert other_type == {"deliveries": []}


def test_deliveries_page_by_checkpoint(streams_api, stream):
    ids = _test_events(streams_api, stream["id"], 3)
    url = stream_url(stream["id"], "deliveries")
    first = streams_api.get(url, {"statuses": "pending", "take": 2}).json()
    second = streams_api.get(url, {"statuses": "pending", "take": 2, "from": first["next"]}).json()
    assert [d["id"] for d in first["deliveries"]] == ids[:2]
    assert [d["id"] for d in second["deliveries"]] == ids[2:]
    assert "next" not in second


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"statuses": "lost"}, "statuses"),
        ({"event_types": "user.exploded"}, "event_types"),
        ({"date_from": "2026-01-01"}, "date_from"),
        ({"date_from": "2026-01-01T00:00:00.123Z"}, "date_from"),
        ({"date_to": "2026-13-01T00:00:00Z"}, "date_to"),
        ({"take": "0"}, "take"),
        ({"from": "evt_unknown"}, "from"),
    ],
)
def test_bad_delivery_filters_are_400(streams_api, stream, query, field):
    body = invalid(streams_api.get(stream_url(stream["id"], "deliveries"), query))
    assert body["errorCode"] == "invalid_query_string"
    assert [e["field"] for e in body["errors"]] == [field]


def test_a_nul_in_a_delivery_filter_is_400(streams_api, stream):
    body = invalid(streams_api.get(stream_url(stream["id"], "deliveries"), {"statuses": "fail\x00ed"}))
    assert body["errorCode"] == "invalid_query_string"


def test_deliveries_of_an_unknown_stream_are_404(streams_api):
    assert streams_api.get(stream_url("est_0000000000000000", "deliveries")).status_code == 404


def test_one_delivery_by_its_event_id(streams_api, stream):
    [event_id] = _test_events(streams_api, stream["id"], 1)
    response = streams_api.get(stream_url(stream["id"], "deliveries", event_id))
    assert response.status_code == 200
    assert response.json()["id"] == event_id
    missing = streams_api.get(stream_url(stream["id"], "deliveries", "evt_0000000000000000000000"))
    assert missing.status_code == 404
    assert missing.json()["errorCode"] == "inexistent_delivery"


def test_redeliver_queues_the_failed_deliveries_again(streams_api, stream):
    first, second = _test_events(streams_api, stream["id"], 2)
    Delivery.objects.filter(event_id__in=[first, second]).update(status=DeliveryStatus.FAILED)

    response = streams_api.post(
        stream_url(stream["id"], "redeliver"),
        {"date_from": "2020-01-01T00:00:00Z", "statuses": ["failed"], "event_types": ["user.created"]},
        format="json",
    )

    assert response.status_code == 202
    assert response.json() == {
        "date_from": "2020-01-01T00:00:00Z",
        "statuses": ["failed"],
        "event_types": ["user.created"],
    }
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.PENDING}


def test_a_disabled_stream_takes_redeliveries_and_refuses_enabling_over_the_failure_limit(streams_api, stream):
    ids = _test_events(streams_api, stream["id"], 2)
    Delivery.objects.filter(event_id__in=ids).update(status=DeliveryStatus.FAILED)
    assert streams_api.patch(stream_url(stream["id"]), {"status": "disabled"}, format="json").status_code == 200

    with override_settings(EVENT_STREAMS_DISABLE_AFTER_TOTAL_FAILURES=2):
        refused = streams_api.patch(stream_url(stream["id"]), {"status": "enabled"}, format="json")
        assert refused.status_code == 400
        assert refused.json()["errorCode"] == "too_many_failed_deliveries"
        assert streams_api.get(stream_url(stream["id"])).json()["status"] == "disabled"

        redelivered = streams_api.post(stream_url(stream["id"], "redeliver", ids[0]))
        assert redelivered.status_code == 202
        enabled = streams_api.patch(stream_url(stream["id"]), {"status": "enabled"}, format="json")
        assert enabled.status_code == 200
        assert enabled.json()["status"] == "enabled"


def test_redeliver_honours_the_date_window(streams_api, stream):
    [event_id] = _test_events(streams_api, stream["id"], 1)
    Delivery.objects.filter(event_id=event_id).update(status=DeliveryStatus.FAILED)
    response = streams_api.post(
        stream_url(stream["id"], "redeliver"), {"date_to": "2020-01-01T00:00:00Z"}, format="json"
    )
    assert response.status_code == 202
    assert Delivery.objects.get(event_id=event_id).status == DeliveryStatus.FAILED


def test_redeliver_answers_the_calendars_ends_as_sent(streams_api, stream):
    # The echo used strftime("%Y"), which writes the year 1 as "1" on glibc: "1-01-01T00:00:00Z", no date-time.
    body = {"date_from": "0001-01-01T00:00:00Z", "date_to": "9999-12-31T23:59:59Z"}
    response = streams_api.post(stream_url(stream["id"], "redeliver"), body, format="json")
    assert (response.status_code, response.json()) == (202, body)


def test_redeliver_one_event_by_id(streams_api, stream):
    [event_id] = _test_events(streams_api, stream["id"], 1)
    Delivery.objects.filter(event_id=event_id).update(status=DeliveryStatus.FAILED)
    response = streams_api.post(stream_url(stream["id"], "redeliver", event_id))
    assert response.status_code == 202
    assert response.content == b""
    assert Delivery.objects.get(event_id=event_id).status == DeliveryStatus.PENDING
    unknown = streams_api.post(stream_url(stream["id"], "redeliver", "evt_0000000000000000000000"))
    assert unknown.status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"date_from": "yesterday"}, "date_from"),
        ({"date_from": 5}, "date_from"),
        ({"statuses": ["lost"]}, "statuses"),
        ({"statuses": "failed"}, "statuses"),
        ({"event_types": ["organization.created"]}, "event_types"),
        ({"because": "x"}, None),
    ],
)
def test_bad_redelivery_bodies_are_400(streams_api, stream, body, field):
    answer = invalid(streams_api.post(stream_url(stream["id"], "redeliver"), body, format="json"))
    assert [e["field"] for e in answer["errors"]] == [field]


# --- scopes and authentication -----------------------------------------------------------------------------------

UNKNOWN = "est_0000000000000000"
ENDPOINTS = [
    ("post", STREAMS, ("create:event_streams",)),
    ("get", STREAMS, ("read:event_streams",)),
    ("get", f"{STREAMS}/{UNKNOWN}", ("read:event_streams",)),
    ("patch", f"{STREAMS}/{UNKNOWN}", ("update:event_streams",)),
    ("delete", f"{STREAMS}/{UNKNOWN}", ("delete:event_streams",)),
    ("post", f"{STREAMS}/{UNKNOWN}/test", ("update:event_streams",)),
    ("get", f"{STREAMS}/{UNKNOWN}/deliveries", ("read:event_streams", "read:event_deliveries")),
    ("get", f"{STREAMS}/{UNKNOWN}/deliveries/evt_1", ("read:event_deliveries",)),
    ("post", f"{STREAMS}/{UNKNOWN}/redeliver", ("update:event_deliveries",)),
    ("post", f"{STREAMS}/{UNKNOWN}/redeliver/evt_1", ("update:event_deliveries",)),
]


@pytest.mark.parametrize(("method", "path", "scopes"), ENDPOINTS)
def test_each_endpoint_needs_its_own_scope(scoped_client, method, path, scopes):
    others = " ".join(s for s in STREAM_SCOPES.split() if s not in scopes)
    response = getattr(scoped_client(f"{others} create:users read:users"), method)(path, format="json")
    assert response.status_code == 403
    assert response.json() == forbidden(",".join(scopes))


@pytest.mark.parametrize(("method", "path", "scopes"), ENDPOINTS)
def test_each_scope_it_names_suffices(scoped_client, method, path, scopes):
    for scope in scopes:
        response = getattr(scoped_client(scope), method)(path, {} if method != "get" else None, format="json")
        assert response.status_code not in (401, 403), (scope, response.json())


@pytest.mark.parametrize(("method", "path", "scopes"), ENDPOINTS)
def test_each_endpoint_needs_a_token(api_client, method, path, scopes):
    response = getattr(api_client, method)(path, format="json")
    assert response.status_code == 401
    assert response.json() == MISSING_TOKEN
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


# --- the official SDK, unmodified, against the live server --------------------------------------------------------


def _management(base_url: str, scopes: str) -> Auth0:
    client, secret = create_client(name="streams-script", scopes=scopes, actor=SYSTEM)
    token = GetToken(urlsplit(base_url).netloc, client.client_id, client_secret=secret, protocol="http")
    granted = token.client_credentials(settings.MANAGEMENT_API_AUDIENCE)
    return Auth0(base_url=f"{base_url}/api/v2", token=granted["access_token"], max_retries=0)


@pytest.mark.live
def test_the_sdk_manages_streams_as_on_auth0(live_server_url):
    api = _management(live_server_url, STREAM_SCOPES)

    created = api.event_streams.create(
        request=CreateEventStreamWebHookRequestContent(
            name="crm",
            subscriptions=[EventStreamSubscription(event_type="user.created")],
            destination=EventStreamWebhookDestination(
                type="webhook",
                configuration=EventStreamWebhookConfiguration(
                    webhook_endpoint=PUBLIC_ENDPOINT,
                    # The SDK's models take the secret as an extra key (extra="allow"); their types do not name it.
                    webhook_authorization=EventStreamWebhookBearerAuth(method="bearer", token=TOKEN),  # type: ignore[call-arg]
                ),
            ),
        )
    )
    assert created.id is not None
    assert created.id.startswith("est_")
    assert created.destination is not None
    assert created.destination.configuration.webhook_authorization.method == "bearer"
    assert getattr(created.destination.configuration.webhook_authorization, "token", None) is None

    fetched = api.event_streams.get(created.id)
    assert fetched.name == "crm"
    assert [s.event_type for s in fetched.subscriptions or []] == ["user.created"]

    updated = api.event_streams.update(
        created.id,
        name="crm-2",
        subscriptions=[EventStreamSubscription(event_type="user.updated")],
        destination=EventStreamWebhookDestination(
            type="webhook",
            configuration=EventStreamWebhookConfiguration(
                webhook_endpoint="https://93.184.215.14/v2",
                webhook_authorization=EventStreamWebhookBasicAuth(  # type: ignore[call-arg]
                    method="basic", username="bot", password=PASSWORD
                ),
            ),
        ),
    )
    assert updated.name == "crm-2"
    assert updated.destination is not None
    assert updated.destination.configuration.webhook_authorization.username == "bot"

    for i in range(3):
        api.event_streams.create(request=CreateEventStreamWebHookRequestContent(**bearer_body(name=f"more-{i}")))
    listed = list(api.event_streams.list(take=2))  # the pager follows next
    assert [s.name for s in listed] == ["crm-2", "more-0", "more-1", "more-2"]

    delivery = api.event_streams.test(created.id, event_type="user.created", data={"object": {"user_id": "x"}})
    assert delivery.event_stream_id == created.id
    assert delivery.event_type == "user.created"
    Delivery.objects.filter(event_id=delivery.id).update(status=DeliveryStatus.FAILED)

    deliveries = list(api.event_streams.deliveries.list(created.id, statuses="failed", event_types="user.created"))
    assert [d.id for d in deliveries] == [delivery.id]
    history = api.event_streams.deliveries.get_history(created.id, delivery.id)
    assert history.status == "failed"
    assert history.event is not None
    assert history.event.type == "user.created"

    accepted = api.event_streams.redeliveries.create(created.id, statuses=["failed"], event_types=["user.created"])
    assert accepted.statuses == ["failed"]
    Delivery.objects.filter(event_id=delivery.id).update(status=DeliveryStatus.FAILED)
    api.event_streams.redeliveries.create_by_id(created.id, delivery.id)
    assert Delivery.objects.get(event_id=delivery.id).status == DeliveryStatus.PENDING

    with pytest.raises(BadRequestError) as refused:
        api.event_streams.create(request=CreateEventStreamWebHookRequestContent(**_with_endpoint("https://10.0.0.1/")))
    assert refused.value.body["errors"][0]["code"] == "INSECURE_ENDPOINT"

    api.event_streams.delete(created.id)
    with pytest.raises(NotFoundError) as gone:
        api.event_streams.get(created.id)
    assert gone.value.body["errorCode"] == "inexistent_event_stream"
