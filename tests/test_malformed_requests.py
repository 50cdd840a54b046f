"""Bad requests get a 4xx in Auth0's envelope, never a 500 or an HTML page, and store nothing.

Malformed or hostile bodies, wrong content types, oversized and unsized bodies, unknown routes and
methods: each answer is ``{statusCode, error, message, errorCode, errors}`` with a 4xx status.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.apps import apps
from django.conf import settings
from django.test import Client
from rest_framework.test import APIClient

from clients.services import create_client
from core.actors import SYSTEM
from tests.helpers import DB, STRONG_PASSWORD, invalid_body
from users.models import User

pytestmark = pytest.mark.django_db

URL = "/api/v2/users"
VALID = {"connection": DB, "email": "jane@example.com", "password": STRONG_PASSWORD}
VALID_JSON = json.dumps(VALID)

INVALID_JSON = {
    "statusCode": 400,
    "error": "Bad Request",
    "message": "Invalid request payload JSON format",
    "errorCode": "invalid_body",
    "errors": [],
}


@pytest.fixture(autouse=True)
def _connection(connection: Any) -> None:
    """A real connection, so a request is refused for its form alone."""


def assert_envelope(response: Any, status: int) -> dict[str, Any]:
    """A JSON error envelope with ``status``; nothing was stored."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert list(body) == ["statusCode", "error", "message", "errorCode", "errors"]
    assert body["statusCode"] == status
    assert User.objects.count() == 0
    return body


def not_an_object(json_type: str) -> dict[str, Any]:
    message = f"Expected type object but found type {json_type}"
    return invalid_body((None, "INVALID_TYPE", message), message=f"Payload validation error: '{message}'.")


def post(client: APIClient, data: str | bytes, content_type: str = "application/json", **extra: Any) -> Any:
    return client.post(URL, data=data, content_type=content_type, **extra)


def test_a_valid_body_is_created(admin_api: APIClient) -> None:
    """The control: the same client, URL and connection do create a user."""
    assert post(admin_api, VALID_JSON).status_code == 201
    assert User.objects.count() == 1


# --- bodies that are not JSON ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        VALID_JSON[:-1],  # truncated
        VALID_JSON + "}",
        VALID_JSON + " x",
        VALID_JSON.replace('"', "'"),
        '{"connection": "Username-Password-Authentication",}',
        '{connection: "Username-Password-Authentication"}',
        "{",
        "}",
        "   ",
        "undefined",
        "\x00",
        '{"connection": "Username-Password-Authentication", "email": "a\nb@example.com"}',  # raw newline
    ],
    ids=[
        "truncated",
        "extra-brace",
        "trailing-garbage",
        "single-quotes",
        "trailing-comma",
        "bare-key",
        "open-brace",
        "close-brace",
        "blank",
        "undefined",
        "nul-byte",
        "control-character",
    ],
)
def test_malformed_json_is_refused(admin_api: APIClient, raw: str) -> None:
    assert assert_envelope(post(admin_api, raw), 400) == INVALID_JSON


@pytest.mark.parametrize(
    "raw",
    [
        '{"connection": NaN}',
        '{"connection": "Username-Password-Authentication", "user_metadata": {"a": NaN}}',
        '{"connection": "Username-Password-Authentication", "user_metadata": {"a": Infinity}}',
        '{"connection": "Username-Password-Authentication", "user_metadata": {"a": -Infinity}}',
        "NaN",
    ],
)
def test_nan_and_infinity_literals_are_refused(admin_api: APIClient, raw: str) -> None:
    assert assert_envelope(post(admin_api, raw), 400) == INVALID_JSON


@pytest.mark.parametrize(
    "raw",
    [
        b'{"connection": "\xff"}',
        b'{"connection": "Username-Password-Authentication", "name": "caf\xe9"}',  # Latin-1
        b'{"connection": "\xed\xa0\x80"}',  # a UTF-8-encoded surrogate
        b'{"connection": "\xc0\xaf"}',  # overlong encoding of "/"
        b'\xfe\xff{"connection": "x"}',
    ],
    ids=["ff", "latin-1", "encoded-surrogate", "overlong", "utf-16-bom"],
)
def test_invalid_utf8_is_refused(admin_api: APIClient, raw: bytes) -> None:
    assert assert_envelope(post(admin_api, raw), 400) == INVALID_JSON


@pytest.mark.parametrize("charset", ["utf-7", "unicode_escape", "raw_unicode_escape", "rot13", "bogus"])
def test_json_in_a_charset_outside_the_allow_list_is_refused(admin_api: APIClient, charset: str) -> None:
    # attack3 N1: DRF decodes JSON in request.encoding, so charset=utf-7 stored the name "+AGE-" as "a".
    body = VALID_JSON[:-1] + ', "name": "+AGE-"}'
    response = post(admin_api, body, content_type=f"application/json; charset={charset}")
    assert assert_envelope(response, 400) == INVALID_JSON
    assert not User.objects.exists()


def test_body_in_a_compressing_charset_is_refused(admin_api: APIClient) -> None:
    """``charset=bz2_codec`` would decompress a small body into a huge one after the size check."""
    response = post(admin_api, VALID_JSON, content_type="application/json; charset=bz2_codec")
    assert assert_envelope(response, 400) == INVALID_JSON


# --- JSON that is not an object ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "json_type"),
    [
        ("[]", "array"),
        (f"[{VALID_JSON}]", "array"),
        ("null", "null"),
        ("42", "integer"),
        ("4.5", "number"),
        ("-1e400", "number"),
        ('"Username-Password-Authentication"', "string"),
        ("true", "boolean"),
    ],
)
def test_json_body_that_is_not_an_object_is_refused(admin_api: APIClient, raw: str, json_type: str) -> None:
    assert assert_envelope(post(admin_api, raw), 400) == not_an_object(json_type)


def test_empty_body_is_refused_as_an_object_without_connection(admin_api: APIClient) -> None:
    body = assert_envelope(post(admin_api, ""), 400)
    assert body["message"] == "Payload validation error: 'Missing required property: connection'."
    assert body["errorCode"] == "invalid_body"


# --- content types -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/xml",
        "application/octet-stream",
        "multipart/form-data; boundary=BoUnDaRy",
        "application/jsonx",
    ],
)
def test_unsupported_content_type_is_refused_with_415(admin_api: APIClient, content_type: str) -> None:
    body = assert_envelope(post(admin_api, VALID_JSON, content_type=content_type), 415)
    assert body == {
        "statusCode": 415,
        "error": "Unsupported Media Type",
        "message": f'Unsupported Media Type: Unsupported media type "{content_type}" in request.',
        "errorCode": "unsupported_media_type",
        "errors": [],
    }


def test_a_content_type_with_control_characters_is_quoted_escaped_in_the_415(admin_api: APIClient) -> None:
    body = assert_envelope(post(admin_api, VALID_JSON, content_type="text/pl\x00ain\x1b[31m"), 415)
    assert body["message"] == 'Unsupported Media Type: Unsupported media type "text/pl\\x00ain\\x1b[31m" in request.'
    assert "\x00" not in json.dumps(body, ensure_ascii=False) and "\x1b" not in json.dumps(body, ensure_ascii=False)


def test_json_with_charset_parameter_is_accepted(admin_api: APIClient) -> None:
    response = post(admin_api, VALID_JSON, content_type="application/json; charset=utf-8")
    assert response.status_code == 201


# --- size ----------------------------------------------------------------------------------------------


def _padded(size: int) -> str:
    """A valid create body of exactly ``size`` bytes (padding in user_metadata)."""
    empty = json.dumps({**VALID, "user_metadata": {"pad": ""}})
    text = json.dumps({**VALID, "user_metadata": {"pad": "x" * (size - len(empty))}})
    assert len(text.encode()) == size
    return text


def test_body_of_one_megabyte_is_refused_with_413(admin_api: APIClient) -> None:
    assert settings.MAX_REQUEST_BODY_BYTES == 512_000
    body = assert_envelope(post(admin_api, _padded(1_000_000)), 413)
    assert body == {
        "statusCode": 413,
        "error": "Request Entity Too Large",
        "message": "Payload content length greater than maximum allowed: 512000",
        "errorCode": "payload_too_large",
        "errors": [],
    }


def test_body_one_byte_over_the_limit_is_refused_with_413(admin_api: APIClient) -> None:
    assert_envelope(post(admin_api, _padded(512_001)), 413)


def test_body_exactly_at_the_limit_is_accepted(admin_api: APIClient) -> None:
    assert post(admin_api, _padded(512_000)).status_code == 201


def test_oversized_form_body_is_refused_with_413(admin_api: APIClient) -> None:
    form = "connection=x&name=" + "x" * 600_000
    assert_envelope(post(admin_api, form, content_type="application/x-www-form-urlencoded"), 413)


def test_chunked_body_without_content_length_is_refused_with_411(api_client: APIClient, token: Any) -> None:
    response = api_client.generic(
        "POST",
        URL,
        "",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token()}",
        HTTP_TRANSFER_ENCODING="chunked",
        CONTENT_LENGTH="",
    )
    assert assert_envelope(response, 411) == {
        "statusCode": 411,
        "error": "Length Required",
        "message": "A Content-Length header is required.",
        "errorCode": "length_required",
        "errors": [],
    }


@pytest.mark.parametrize("length", ["abc", "-1", "1e3", " "])
def test_unreadable_content_length_is_refused(admin_api: APIClient, length: str) -> None:
    response = post(admin_api, VALID_JSON, CONTENT_LENGTH=length)
    assert assert_envelope(response, 400) == {
        "statusCode": 400,
        "error": "Bad Request",
        "message": "Invalid Content-Length header.",
        "errorCode": "invalid_body",
        "errors": [],
    }


def test_form_with_too_many_fields_is_refused(admin_api: APIClient) -> None:
    form = "&".join(f"f{i}=x" for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1))
    body = assert_envelope(post(admin_api, form, content_type="application/x-www-form-urlencoded"), 400)
    assert body["error"] == "Bad Request"


# --- nesting ---------------------------------------------------------------------------------------------


def test_metadata_nested_400_deep_is_refused(admin_api: APIClient) -> None:
    raw = VALID_JSON[:-1] + ', "user_metadata": ' + '{"a": ' * 400 + "1" + "}" * 400 + "}"
    body = assert_envelope(post(admin_api, raw), 400)
    assert body["errors"] == [
        {
            "field": "user_metadata",
            "code": "MAX_DEPTH",
            "message": "Object is nested too deeply (more than 10 levels)",
        }
    ]


@pytest.mark.parametrize(
    "raw",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"a":' * 50_000 + "1" + "}" * 50_000,
        VALID_JSON[:-1] + ', "app_metadata": {"a": ' + "[" * 100_000 + "]" * 100_000 + "}}",
    ],
    ids=["array", "object", "inside-metadata"],
)
def test_json_nested_far_too_deep_is_refused_not_crashed(admin_api: APIClient, raw: str) -> None:
    assert assert_envelope(post(admin_api, raw), 400) == INVALID_JSON


@pytest.mark.parametrize("depth", [1_000, 5_000])
def test_deep_json_that_still_parses_is_refused(admin_api: APIClient, depth: int) -> None:
    raw = VALID_JSON[:-1] + ', "given_name": ' + "[" * depth + "]" * depth + "}"
    body = assert_envelope(post(admin_api, raw), 400)
    assert body["message"] in (
        INVALID_JSON["message"],
        "Payload validation error: 'Expected type string but found type array' "
        "on property given_name (The user's given name(s)).",
    )


# --- routes and methods ------------------------------------------------------------------------------

NOT_FOUND = {
    "statusCode": 404,
    "error": "Not Found",
    "message": "Not Found",
    "errorCode": "not_found",
    "errors": [],
}


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/nope"), ("post", "/api/v2/nope"), ("get", "/api/v3/users"), ("post", "/api/v2/Users")],
)
def test_unknown_route_is_a_json_404(admin_api: APIClient, method: str, path: str) -> None:
    if method == "get":
        response = admin_api.get(path)
    else:
        response = admin_api.post(path, data=VALID_JSON, content_type="application/json")
    assert assert_envelope(response, 404) == NOT_FOUND


@pytest.mark.parametrize("path", ["/nope", "/api/v2/users?email=a%00b", "/health", "/api/v2/users/nope"])
def test_bodies_outside_drf_are_as_compact_as_drfs(admin_api: APIClient, path: str) -> None:
    """Django's error views, the edge's refusals and the health check write their JSON themselves: the same
    separators as DRF's renderer (the last path), not ``json.dumps``'s ``", "`` and ``": "``."""
    response = admin_api.get(path)
    assert response["Content-Type"] == "application/json"
    assert response.content == json.dumps(response.json(), separators=(",", ":")).encode()


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_method_the_route_does_not_have_is_a_405_even_without_a_token(api_client: APIClient, method: str) -> None:
    response = getattr(api_client, method)(URL)
    assert assert_envelope(response, 405)["errorCode"] == "method_not_allowed"


def test_a_routed_method_without_token_is_a_401(api_client: APIClient) -> None:
    response = api_client.post(URL, data=VALID_JSON, content_type="application/json")
    assert assert_envelope(response, 401) == {
        "statusCode": 401,
        "error": "Unauthorized",
        "message": "Missing authentication",
        "errorCode": "missing_authentication",
        "errors": [],
    }
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_get_users_with_a_create_only_token_is_a_4xx_envelope(admin_api: APIClient) -> None:
    """GET /api/v2/users is not routed for reading yet; whatever comes, it must be a clean 4xx."""
    response = admin_api.get(URL)
    assert response.status_code in (403, 405)
    assert_envelope(response, response.status_code)


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_method_the_route_does_not_have_is_a_405(admin_api: APIClient, method: str) -> None:
    response = getattr(admin_api, method)(URL, data=VALID_JSON, content_type="application/json")
    assert assert_envelope(response, 405) == {
        "statusCode": 405,
        "error": "Method Not Allowed",
        "message": f'Method "{method.upper()}" not allowed.',
        "errorCode": "method_not_allowed",
        "errors": [],
    }
    assert "POST" in response["Allow"]


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "TRACE", "PROPFIND"])
def test_health_answers_get_and_head_only(api_client: APIClient, method: str) -> None:
    # It ran its checks for any method (TRACE answered 200) or met the CSRF check's HTML page (POST, PUT).
    response = APIClient(enforce_csrf_checks=True).generic(method, "/health")
    assert assert_envelope(response, 405) == {
        "statusCode": 405,
        "error": "Method Not Allowed",
        "message": f'Method "{method}" not allowed.',
        "errorCode": "method_not_allowed",
        "errors": [],
    }
    assert response["Allow"] == "GET, HEAD"
    assert api_client.head("/health").status_code == api_client.get("/health").status_code == 200


# --- nothing is stored, whatever the failure -----------------------------------------------------------


def test_a_run_of_bad_requests_stores_nothing_and_a_good_one_still_works(
    admin_api: APIClient, create: Callable[..., Any]
) -> None:
    bad = [
        ("{", "application/json"),
        ("[]", "application/json"),
        ("null", "application/json"),
        ("x", "text/plain"),
        (VALID_JSON[:-1] + ', "scopes": 1}', "application/json"),
        (VALID_JSON[:-1] + ', "user_metadata": {"a": 1e400}}', "application/json"),
        ("[" * 100_000 + "]" * 100_000, "application/json"),
        (_padded(600_000), "application/json"),
    ]
    for data, content_type in bad:
        response = post(admin_api, data, content_type=content_type)
        assert 400 <= response.status_code < 500, (data[:40], response.content)
        assert User.objects.count() == 0
    assert create(VALID).status_code == 201
    assert User.objects.count() == 1


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/api/v2/users/auth0%7C%00x", "invalid_uri"),
        ("/api/v2/connections/con_%00", "invalid_uri"),
        ("/api/v2/users?email=a%00b", "invalid_query_string"),
        ("/api/v2/users-by-email?email=a%00b", "invalid_query_string"),
        ("/api/v2/connections?name=%00", "invalid_query_string"),
        ("/api/v2/users?%00=1", "invalid_query_string"),
        # Escapes that are not UTF-8: Django's request.GET would read them as U+FFFD.
        ("/api/v2/users?email=a%FFb%40example.com", "invalid_query_string"),
        ("/api/v2/users-by-email?email=%ED%A0%80%40example.com", "invalid_query_string"),
    ],
)
def test_nul_or_invalid_unicode_in_path_or_query_is_a_400(
    api_client: APIClient, token: Any, path: str, code: str
) -> None:
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token('read:users read:connections')}")
    response = api_client.get(path)
    assert response.status_code == 400
    assert response.json()["errorCode"] == code


def test_invalid_utf8_in_the_path_stays_escaped_and_is_a_plain_404(api_client: APIClient, token: Any) -> None:
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token('read:users')}")
    response = api_client.get("/api/v2/users/%ED%A0%80")
    assert response.status_code == 404
    assert response.json()["errorCode"] == "inexistent_user"


def test_a_repeated_query_parameter_is_an_array_and_refused(api_client: APIClient, token: Any) -> None:
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token('read:users')}")
    response = api_client.get("/api/v2/users?per_page=1&per_page=2")
    assert response.status_code == 400
    assert response.json()["message"] == (
        "Query validation error: 'Expected type integer but found type array' on property per_page "
        "(Number of results per page)."
    )


# attack2: a JSON body with bytes that are not UTF-8 is 400, but Django decodes a form body with errors="replace":
# "%FF" arrives as U+FFFD and is stored (name "Ann\ufffd"); a password sent so is stored as U+FFFD and any other
# invalid byte (or a real U+FFFD) then logs in. Every input path must get the same text checks.
def test_form_values_that_are_not_utf8_are_refused_not_rewritten(admin_api):
    body = f"connection={DB}&email=jane%40example.com&password=Str0ng%21Passw0rd&name=Ann%FF"
    response = admin_api.generic("POST", URL, body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert response.json()["errorCode"] == "invalid_body"
    assert not User.objects.exists()


# attack2: a repeated query parameter is refused ("not silently truncated", core.schema.validate_query), but a
# repeated form field silently keeps its last value (core.schema._from_form reads data[key]).
def test_a_repeated_form_field_is_refused_not_truncated(admin_api):
    body = f"connection={DB}&email=first%40example.com&email=second%40example.com&password=Str0ng%21Passw0rd"
    response = admin_api.generic("POST", URL, body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert not User.objects.exists()


# The same refusal in each contract's envelope, for escapes and for raw bytes that are not UTF-8 (Django's
# QueryDict would read raw bytes as ISO-8859-1), on every endpoint that takes a form.
NOT_UTF8_FORMS = [b"name=Ann%FF", b"name=%ED%A0%80", b"name=Ann\xff"]


@pytest.mark.parametrize("tail", NOT_UTF8_FORMS)
def test_a_form_that_is_not_utf8_is_400_in_each_contracts_envelope(api_client: APIClient, token: Any, tail: bytes):
    app, _secret = create_client(name="web", scopes="", connections=[DB], actor=SYSTEM)
    form = "application/x-www-form-urlencoded"
    base = f"email=jane%40example.com&password=Str0ng%21Passw0rd&connection={DB}&".encode()
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token('create:users')}")
    # Raw bytes on purpose (they are not UTF-8): djangorestframework-stubs type ``generic``'s data as str, but
    # Django's test client sends bytes as they are.
    management = api_client.generic("POST", URL, base + tail, content_type=form)  # type: ignore[arg-type]
    assert (management.status_code, management.json()) == (
        400,
        {
            "statusCode": 400,
            "error": "Bad Request",
            "message": "Invalid form body: the text is not valid UTF-8.",
            "errorCode": "invalid_body",
            "errors": [],
        },
    )
    v1 = api_client.generic("POST", "/v1/users", base + tail, content_type=form)  # type: ignore[arg-type]
    assert (v1.status_code, v1.json()) == (
        400,
        {"error": "invalid_request", "message": "Invalid form body: the text is not valid UTF-8."},
    )
    api_client.credentials()
    signup = api_client.generic(
        "POST",
        "/dbconnections/signup",
        base + f"client_id={app.client_id}&".encode() + tail,  # type: ignore[arg-type]
        content_type=form,
    )
    assert (signup.status_code, signup.json()) == (
        400,
        {
            "name": "BadRequestError",
            "code": "invalid_body",
            "description": "Invalid form body: the text is not valid UTF-8.",
            "statusCode": 400,
        },
    )
    assert not User.objects.exists()


def test_a_form_in_a_declared_charset_is_read_in_it(admin_api: APIClient) -> None:
    body = f"connection={DB}&email=jane%40example.com&password=Str0ng%21Passw0rd&name=Ren%E9e"
    response = admin_api.generic(
        "POST", URL, body, content_type="application/x-www-form-urlencoded; charset=iso-8859-1"
    )
    assert response.status_code == 201
    assert User.objects.get().name == "Renée"


@pytest.mark.parametrize("path", ["/v1/users", "/dbconnections/signup"])
def test_a_repeated_form_field_is_refused_on_every_contract(api_client: APIClient, token: Any, path: str) -> None:
    app, _secret = create_client(name="web", scopes="", connections=[DB], actor=SYSTEM)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token('create:users')}")
    body = (
        f"client_id={app.client_id}&connection={DB}&email=first%40example.com"
        "&email=second%40example.com&password=Str0ng%21Passw0rd"
    )
    if path == "/v1/users":
        body = "email=first%40example.com&email=second%40example.com&password=Str0ng%21Passw0rd"
    response = api_client.generic("POST", path, body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert "Expected type string but found type array" in response.content.decode()
    assert not User.objects.exists()


# attack3: codecs.lookup() knows "rot13", "hex", "base64" and "zlib", so Django keeps them as the request's
# encoding, but they are not text encodings: bytes.decode() raises LookupError, which parse_form does not catch.
# Every form endpoint answered 500 (in the management envelope, also on /oauth/token, /v1 and sign-up).
# The tester's note N1: text codecs that rewrite what they read ("+AGE-" is "a" in utf-7) were accepted too, and an
# unknown charset was read as UTF-8 (Django drops it from request.encoding): only TEXT_CHARSETS are read now.
NOT_TEXT_CODECS = [
    "rot13",
    "hex",
    "base64",
    "zlib",
    "utf-7",
    "unicode_escape",
    "raw_unicode_escape",
    "idna",
    "punycode",
    "bogus",
]


@pytest.mark.parametrize("charset", NOT_TEXT_CODECS)
def test_a_form_declaring_a_codec_that_is_not_a_text_encoding_is_a_400(  # attack3
    api_client: APIClient, token: Any, charset: str
) -> None:
    app, secret = create_client(name="web", scopes="", connections=[DB], actor=SYSTEM)
    form = f"application/x-www-form-urlencoded; charset={charset}"
    body = f"email=jane%40example.com&password=Str0ng%21Passw0rd&connection={DB}"
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token('create:users')}")
    management = api_client.generic("POST", URL, body, content_type=form)
    assert management.status_code == 400, management.content
    assert management.json()["errorCode"] == "invalid_body"
    v1 = api_client.generic("POST", "/v1/users", body, content_type=form)
    assert v1.status_code == 400, v1.content
    assert v1.json()["error"] == "invalid_request"
    api_client.credentials()
    signup_body = body + f"&client_id={app.client_id}"
    signup = api_client.generic("POST", "/dbconnections/signup", signup_body, content_type=form)
    assert signup.status_code == 400, signup.content
    assert signup.json()["code"] == "invalid_body"
    oauth = api_client.generic(
        "POST",
        "/oauth/token",
        f"grant_type=client_credentials&client_id={app.client_id}&client_secret={secret}",
        content_type=form,
    )
    assert oauth.status_code == 400, oauth.content
    assert oauth.json()["error"] == "invalid_request"
    assert not User.objects.exists()


# attack3: the raw query-string check (api.middleware.UnsafeCharactersMiddleware) answers in the management
# envelope on every path, so /oauth/token, /v1/users and /dbconnections/signup get
# {"statusCode", "error", "message", "errorCode", "errors"} instead of their own contract's error shape.
def test_a_query_string_that_is_not_utf8_is_400_in_each_contracts_envelope(  # attack3
    api_client: APIClient, token: Any
) -> None:
    oauth = api_client.post("/oauth/token?x=%FF", {}, format="json")
    assert oauth.status_code == 400
    assert set(oauth.json()) == {"error", "error_description"}
    assert oauth.json()["error"] == "invalid_request"
    signup = api_client.post("/dbconnections/signup?x=%FF", {}, format="json")
    assert signup.status_code == 400
    assert set(signup.json()) >= {"name", "code", "description", "statusCode"}
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token('create:users')}")
    v1 = api_client.post("/v1/users?x=%FF", {}, format="json")
    assert v1.status_code == 400
    assert set(v1.json()) == {"error", "message"}


def test_a_form_in_a_charset_outside_the_allow_list_says_which_charsets_are_read(admin_api: APIClient) -> None:
    body = f"connection={DB}&email=jane%40example.com&password=Str0ng%21Passw0rd&name=%2BAGE-"
    response = admin_api.generic("POST", URL, body, content_type="application/x-www-form-urlencoded; charset=UTF-7")
    assert assert_envelope(response, 400)["message"] == (
        "Unsupported charset UTF-7: send UTF-8 (or US-ASCII, ISO-8859-1)."
    )
    assert not User.objects.exists()


@pytest.mark.parametrize("charset", ["utf8", "US-ASCII", "latin1", "ISO_8859-1", "cp819"])
def test_a_form_in_an_alias_of_an_allowed_charset_is_read(admin_api: APIClient, charset: str) -> None:
    body = f"connection={DB}&email=jane%40example.com&password=Str0ng%21Passw0rd&name=Jane"
    response = admin_api.generic(
        "POST", URL, body, content_type=f"application/x-www-form-urlencoded; charset={charset}"
    )
    assert response.status_code == 201, response.content
    assert User.objects.get().name == "Jane"


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/health", "/api/v2/users", "/api/v2/users?page=x", "/admin/login/"])
def test_head_is_answered_without_a_body_by_the_application_itself(path: str) -> None:
    # Django's test client drops a HEAD body itself, so the application is called as a WSGI server calls it: gunicorn
    # 27 logged a WARNING for every HEAD whose body the application sent (a load balancer's health check).
    from django.core.handlers.wsgi import WSGIHandler
    from django.test import RequestFactory

    started: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], object]:
        started.append((status, headers))
        return lambda _data: None

    get_environ = RequestFactory().get(path).environ
    head_environ = {**get_environ, "REQUEST_METHOD": "HEAD"}
    handler = WSGIHandler()
    get_body = b"".join(handler(get_environ, start_response))
    head = handler(head_environ, start_response)
    try:
        head_body = b"".join(head)
    finally:
        head.close()
    (get_status, get_headers), (head_status, head_headers) = started
    assert get_status == head_status
    assert get_body and head_body == b""
    assert dict(head_headers).get("Content-Type") == dict(get_headers).get("Content-Type")


# --- content codings (RFC 7694 §3) ---------------------------------------------------------------------------
# A gzipped body was read as if it were not encoded: 400 "Invalid request payload JSON format" on the management
# API, and each form page read the compressed bytes as form text. No body is decompressed (a few kilobytes of gzip
# expand to gigabytes after the size check): any coding but identity is 415 with "Accept-Encoding: identity", in the
# envelope of the surface it hit, before anything is read or stored.

GZIP_REFUSED = "Unsupported Content-Encoding: gzip. Send the body unencoded (identity)."


def _management_refusal(message: str) -> dict[str, Any]:
    return {
        "statusCode": 415,
        "error": "Unsupported Media Type",
        "message": message,
        "errorCode": "unsupported_content_encoding",
        "errors": [],
    }


@dataclass(frozen=True)
class Surface:
    """One HTTP surface that takes a body: a request that succeeds there, and its envelope for a 415 (``None``: a
    page a person opens from an e-mail, which answers with its HTML page, ``api.authentication.pages``)."""

    path: str
    body: bytes
    content_type: str
    headers: dict[str, str]
    refusal: Callable[[str], dict[str, Any]] | None
    succeeds_with: int


def _json(data: dict[str, Any]) -> bytes:
    return json.dumps(data).encode()


def _form(data: dict[str, str]) -> bytes:
    return urlencode(data).encode()


@pytest.fixture(params=["management", "oauth-token", "v1", "signup", "password-reset-page", "admin-login"])
def surface(request: pytest.FixtureRequest, token: Any, signup_app: Any) -> Surface:
    bearer = {"Authorization": f"Bearer {token('create:users')}"}
    match request.param:
        case "management":
            return Surface(URL, VALID_JSON.encode(), "application/json", bearer, _management_refusal, 201)
        case "oauth-token":
            app, secret = create_client(name="ops", scopes="create:users", actor=SYSTEM)
            grant = {"grant_type": "client_credentials", "client_id": app.client_id, "client_secret": secret}
            body = _json({**grant, "audience": settings.MANAGEMENT_API_AUDIENCE})

            def oauth(message: str) -> dict[str, Any]:
                return {"error": "invalid_request", "error_description": message}

            return Surface("/oauth/token", body, "application/json", {}, oauth, 200)
        case "v1":
            body = _json({"email": "jane@example.com", "password": STRONG_PASSWORD})

            def v1(message: str) -> dict[str, Any]:
                return {"error": "unsupported_content_encoding", "message": message}

            return Surface("/v1/users", body, "application/json", bearer, v1, 201)
        case "signup":
            body = _json({**VALID, "client_id": signup_app.client_id})

            def signup(message: str) -> dict[str, Any]:
                return {
                    "name": "BadRequestError",
                    "code": "unsupported_content_encoding",
                    "description": message,
                    "statusCode": 415,
                }

            return Surface("/dbconnections/signup", body, "application/json", {}, signup, 200)
        case "password-reset-page":
            api = request.getfixturevalue("api")  # every management scope
            user = api.post(URL, VALID, format="json").json()
            ticket = api.post("/api/v2/tickets/password-change", {"user_id": user["user_id"]}, format="json")
            (reset,) = parse_qs(urlsplit(ticket.json()["ticket"]).query)["ticket"]
            body = _form({"ticket": reset, "password": "N3w!Passw0rd-42", "password_confirmation": "N3w!Passw0rd-42"})
            form = "application/x-www-form-urlencoded"
            return Surface("/lo/reset", body, form, {}, None, 200)
        case "admin-login":
            request.getfixturevalue("admin_user")  # pytest-django's operator: admin / password
            body = _form({"username": "admin", "password": "password", "next": "/admin/"})
            form = "application/x-www-form-urlencoded"
            return Surface("/admin/login/", body, form, {}, _management_refusal, 302)
    raise AssertionError(request.param)


def _send(surface: Surface, body: bytes, coding: str) -> Any:
    headers = {**surface.headers, "Content-Encoding": coding}
    return Client().generic("POST", surface.path, body, content_type=surface.content_type, headers=headers)


def _rows() -> dict[str, int]:
    """How many rows each model's table holds."""
    return {model._meta.label: model._default_manager.count() for model in apps.get_models()}


def assert_refused_encoding(surface: Surface, response: Any, message: str) -> None:
    """A 415 in the surface's envelope naming what it reads (``Accept-Encoding: identity``)."""
    assert response.status_code == 415, response.content
    assert response["Accept-Encoding"] == "identity"
    if surface.refusal is None:
        assert response["Content-Type"].startswith("text/html")
        assert f"<p>{message}</p>" in response.content.decode()
        return
    assert response["Content-Type"].startswith("application/json")
    assert response.json() == surface.refusal(message)


def test_an_encoded_body_is_415_in_the_envelope_of_each_surface_and_stores_nothing(surface: Surface) -> None:
    before = _rows()
    response = _send(surface, gzip.compress(surface.body), "gzip")
    assert_refused_encoding(surface, response, GZIP_REFUSED)
    if surface.path == "/oauth/token":
        assert response["Cache-Control"] == "no-store"  # as every other refusal of the token endpoint
    assert _rows() == before


def test_a_body_declared_identity_is_read_on_each_surface(surface: Surface) -> None:
    before = _rows()
    response = _send(surface, surface.body, "Identity")
    assert response.status_code == surface.succeeds_with, response.content
    assert _rows() != before  # what the refusal above does not store, this request does


def test_a_content_encoding_with_control_characters_is_415_and_quoted_escaped_on_each_surface(
    surface: Surface,
) -> None:
    # A NUL, a C0 control, DEL, a C1 control and a Latin-1 byte (a WSGI header is Latin-1 text).
    response = _send(surface, gzip.compress(surface.body), "gz\x00ip\x01\x7f\x85\xe9")
    message = r"Unsupported Content-Encoding: gz\x00ip\x01\x7f\x85\xe9. Send the body unencoded (identity)."
    assert_refused_encoding(surface, response, message)
    assert b"\\u00" not in response.content  # nothing echoed raw, not even JSON-escaped


@pytest.mark.parametrize(
    ("coding", "named"),
    [
        ("GZIP", "GZIP"),
        ("gzip, identity", "gzip"),
        ("identity,gzip", "gzip"),
        ("identity, , br", "br"),
        ("gzip, br", "gzip, br"),
        ("x" * 200, "x" * 40 + "…"),
        ("br," * 4000, "br, br, br, br, br, …"),  # at most five named, however many are sent
    ],
)
def test_any_coding_in_the_list_but_identity_is_415(admin_api: APIClient, coding: str, named: str) -> None:
    response = post(admin_api, VALID_JSON, HTTP_CONTENT_ENCODING=coding)
    message = f"Unsupported Content-Encoding: {named}. Send the body unencoded (identity)."
    assert assert_envelope(response, 415) == _management_refusal(message)
    assert response["Accept-Encoding"] == "identity"


@pytest.mark.parametrize("coding", ["", "identity", "IDENTITY", " identity\t", "identity, Identity", ",", "identity,"])
def test_no_coding_or_only_identity_is_read(admin_api: APIClient, coding: str) -> None:
    assert post(admin_api, VALID_JSON, HTTP_CONTENT_ENCODING=coding).status_code == 201


def test_a_request_without_a_body_has_nothing_encoded(api_client: APIClient, token: Any) -> None:
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token('read:users create:users')}")
    assert api_client.get(URL, HTTP_CONTENT_ENCODING="gzip").status_code == 200
    response = api_client.generic("POST", URL, "", content_type="application/json", HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 400  # the empty body's own refusal (no connection), not a 415
    assert response.json()["errorCode"] == "invalid_body"


def test_an_encoded_body_is_refused_in_japanese_too(admin_api: APIClient) -> None:
    response = post(
        admin_api, gzip.compress(VALID_JSON.encode()), HTTP_CONTENT_ENCODING="gzip", HTTP_ACCEPT_LANGUAGE="ja"
    )
    assert assert_envelope(response, 415)["message"] == (
        "サポートされていない Content-Encoding です: gzip。本文はエンコードせずに（identity）送ってください。"
    )
    assert response.json()["errorCode"] == "unsupported_content_encoding"


# --- ?format= (DRF's URL_FORMAT_OVERRIDE is off) --------------------------------------------------------------
# DRF chose the renderer from ?format= before the view ran: ?format=api (or html) was a 404 on every API view and
# on the documentation page, ?format=json a 404 on the page (and a 400 invalid_query_string where a view validates
# its query, as it still is). Auth0 has no such parameter: it is answered as any other unknown query parameter is,
# 400 where the endpoint validates its query and ignored where unknown ones are.


@pytest.mark.parametrize("value", ["api", "html"])
@pytest.mark.parametrize(
    "path", [URL, "/api/v2/users/auth0%7Cabc", "/api/v2/users-by-email?email=a%40example.com", "/api/v2/connections"]
)
def test_format_is_an_unknown_query_parameter_where_the_query_is_validated(
    api_client: APIClient, token: Any, path: str, value: str
) -> None:
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token('read:users read:connections')}")
    joiner = "&" if "?" in path else "?"
    response = api_client.get(f"{path}{joiner}format={value}")
    other = api_client.get(f"{path}{joiner}formats={value}")
    assert response.status_code == other.status_code == 400, response.content
    assert response.json() == json.loads(other.content.decode().replace("formats", "format"))
    assert "Additional properties not allowed: format" in response.json()["message"]


@pytest.mark.parametrize("value", ["api", "json", "html"])
def test_format_is_ignored_where_unknown_query_parameters_are(api_client: APIClient, token: Any, value: str) -> None:
    app, secret = create_client(name="ops", scopes="create:users", actor=SYSTEM)
    grant = {"grant_type": "client_credentials", "client_id": app.client_id, "client_secret": secret}
    issued = api_client.post(f"/oauth/token?format={value}", grant, format="json")
    assert issued.status_code == 200, issued.content
    assert api_client.get(f"/.well-known/jwks.json?format={value}").json()["keys"]
    assert api_client.get(f"/api/v2/openapi.json?format={value}").json()["openapi"]
    docs = api_client.get(f"/api/v2/docs?format={value}")
    assert docs.status_code == 200
    assert docs["Content-Type"].startswith("text/html")
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token('create:users')}")
    created = api_client.post(
        f"/v1/users?format={value}", {"email": "jane@example.com", "password": STRONG_PASSWORD}, format="json"
    )
    assert created.status_code == 201, created.content
    api_client.credentials()
    web, _secret = create_client(name="web", scopes="", connections=[DB], actor=SYSTEM)
    signup = {**VALID, "email": "ann@example.com", "client_id": web.client_id}
    assert api_client.post(f"/dbconnections/signup?format={value}", signup, format="json").status_code == 200
