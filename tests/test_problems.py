"""One translation, one renderer per contract: every error is a ``Problem``, each contract writes it in its shape,
every exception a service raises is a ``DomainError``, and the code enums go on the wire as plain strings."""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import pkgutil
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from django.core.exceptions import SuspiciousOperation
from django.core.serializers.json import DjangoJSONEncoder
from django.db import OperationalError
from django.test import override_settings
from rest_framework.renderers import JSONRenderer

from api.authentication import problems as authentication
from api.management import problems as management
from api.oauth import problems as oauth
from api.problems import Problem, ProblemCode, translate
from api.v1 import problems as v1
from core.errors import DomainError, ErrorCode, FieldCode, FieldError

DOMAIN_APPS = (
    "core",
    "users",
    "connections",
    "clients",
    "audit",
    "jobs",
    "idempotency",
    "ratelimits",
    "tenants",
    "events",
)
# The exceptions that stay plain, and why (each module says so too).
PLAIN_EXCEPTIONS = {
    "jobs.worker.StopRequested": "the worker's own control flow, caught a few frames up",
    "jobs.worker.JobLost": "the worker's own control flow, caught a few frames up",
    "users.credentials.hashes.HashFormatError": "a parser's ValueError, turned into one import row's error",
    "users.emails.InvalidEmailAddress": "a parser's ValueError, turned into a FORMAT field error",
    "api.parsers.UnsupportedCharset": "a parser helper's ValueError, turned into each parser's refusal",
    "api.parsers.FormParseError": "DRF's ParseError: what DRF's request raises from a parser",
    "core.crypto.SecretDecryptionError": "no key opens a secret: the API asks for it again, the worker stops",
    "events.errors.UnsafeDestination": "a delivery attempt's error at connect time, recorded on the attempt",
    "events.delivery.AnswerTimeout": "a delivery attempt's TimeoutError (no answer in time), recorded on the attempt",
    "tenants.reader._NumberTooLong": "the JSON parser's ValueError, turned into the tenant file's one-line error",
    "core.mail.MailNotSent": "a mail task's last failure, recorded on the task in the worker (no request sees it)",
}

SAMPLE = Problem(
    409,
    "sample_conflict",
    "A sample refusal.",
    (FieldError("email", FieldCode.FORMAT, "Not an e-mail address."),),
)
SAMPLE_ERRORS = [{"field": "email", "code": "FORMAT", "message": "Not an e-mail address."}]


def _modules(packages: tuple[str, ...]) -> list[ModuleType]:
    modules = []
    for name in packages:
        package = importlib.import_module(name)
        modules.append(package)
        for info in pkgutil.walk_packages(package.__path__, f"{name}."):
            if ".migrations" not in info.name:
                modules.append(importlib.import_module(info.name))
    return modules


# --- every domain exception is a DomainError ----------------------------------------------------------------


def test_every_exception_class_of_the_apps_is_a_domain_error_or_a_documented_exception():
    found = {}
    for module in _modules((*DOMAIN_APPS, "api")):
        for name, value in vars(module).items():
            if inspect.isclass(value) and issubclass(value, BaseException) and value.__module__ == module.__name__:
                found[f"{module.__name__}.{name}"] = value
    plain = {name for name, cls in found.items() if not issubclass(cls, DomainError)}
    assert plain == set(PLAIN_EXCEPTIONS)
    assert {"users.errors.SignupRefused", "clients.errors.OAuthError", "ratelimits.buckets.StoreUnavailable"} <= set(
        found
    )


def _service_modules() -> list[ModuleType]:
    """The modules that hold the apps' use cases: services, selectors, sign-up."""
    return [
        module
        for module in _modules(DOMAIN_APPS)
        if module.__name__.rsplit(".", 1)[-1] in ("services", "selectors", "signup")
    ]


def _raised_classes(module: ModuleType) -> list[tuple[int, type[BaseException]]]:
    """The exception classes ``raise X(...)`` / ``raise X`` names in ``module``, resolved in its namespace."""
    tree = ast.parse(Path(inspect.getfile(module)).read_text())
    raised = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Raise) or node.exc is None:
            continue
        target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
        value: Any = module
        for part in ast.unparse(target).split("."):
            value = getattr(value, part, None)
        if inspect.isclass(value) and issubclass(value, BaseException):
            raised.append((node.lineno, value))
    return raised


def test_services_raise_only_domain_errors():
    modules = _service_modules()
    assert {"users.services", "users.signup", "connections.services", "clients.services", "jobs.services"} <= {
        module.__name__ for module in modules
    }
    refused = [
        f"{module.__name__}:{line} raises {cls.__name__}"
        for module in modules
        for line, cls in _raised_classes(module)
        if not issubclass(cls, DomainError)
    ]
    assert refused == []


# --- translate --------------------------------------------------------------------------------------------


class _NewRefusal(DomainError):
    status = 418
    code = "brand_new_refusal"
    default_message = "Refused, for a reason no renderer knows of."


def test_a_new_domain_error_needs_no_renderer_change():
    problem = translate(_NewRefusal())
    assert problem == Problem(418, "brand_new_refusal", "Refused, for a reason no renderer knows of.")
    assert management.render(problem).body["errorCode"] == "brand_new_refusal"
    assert authentication.render(problem).body["code"] == "brand_new_refusal"
    assert oauth.render(problem).body["error"] == "brand_new_refusal"
    assert v1.render(problem).body["error"] == "brand_new_refusal"
    assert {render(problem).status for render in (management.render, authentication.render, oauth.render)} == {418}


def test_an_operational_error_is_a_503_to_retry_in_a_second():
    problem = translate(OperationalError("database is locked"))
    assert problem is not None
    assert (problem.status, problem.code, problem.retry_after) == (503, "temporarily_unavailable", 1)
    assert management.render(problem).headers == {"Retry-After": "1"}


def test_every_contract_says_when_to_retry_a_503():
    """A database that did not answer is a 503 with ``Retry-After`` in every contract, not only the management API's
    (RFC 9110 §10.2.3: a 503 may say how long the client should wait)."""
    problem = translate(OperationalError("database is locked"))
    assert problem is not None
    for render in (management.render, authentication.render, oauth.render, v1.render):
        rendered = render(problem)
        assert rendered.status == 503
        assert rendered.headers["Retry-After"] == "1", render.__module__


@pytest.mark.parametrize("exc", [RuntimeError("a bug"), KeyError("x"), SuspiciousOperation("Django answers it")])
def test_only_a_real_bug_or_what_django_answers_itself_has_no_problem(exc):
    assert translate(exc) is None


# --- the four contracts render one problem in their shapes ------------------------------------------------


def test_the_management_api_renders_its_envelope():
    assert management.render(SAMPLE) == (
        {
            "statusCode": 409,
            "error": "Conflict",
            "message": "A sample refusal.",
            "errorCode": "sample_conflict",
            "errors": SAMPLE_ERRORS,
        },
        409,
        {},
    )


def test_the_authentication_api_renders_its_shape():
    assert authentication.render(SAMPLE) == (
        {
            "name": "BadRequestError",
            "code": "sample_conflict",
            "description": "A sample refusal.",
            "errors": SAMPLE_ERRORS,
            "statusCode": 409,
        },
        409,
        {},
    )


def test_oauth_renders_its_shape_never_cached():
    assert oauth.render(SAMPLE) == (
        {"error": "sample_conflict", "error_description": "A sample refusal."},
        409,
        {"Cache-Control": "no-store", "Pragma": "no-cache"},
    )


def test_v1_renders_its_shape():
    assert v1.render(SAMPLE) == (
        {"error": "sample_conflict", "message": "A sample refusal.", "errors": SAMPLE_ERRORS},
        409,
        {},
    )


@pytest.mark.parametrize("exists_error", [False, True])
def test_each_contract_words_a_taken_email_its_own_way(exists_error):
    from users.errors import UserAlreadyExists

    problem = translate(UserAlreadyExists())
    assert problem is not None
    assert management.render(problem).body["errorCode"] == "auth0_idp_error"
    assert v1.render(problem)[:2] == (
        {"error": "email_exists", "message": "A user with this email already exists."},
        409,
    )
    with override_settings(SIGNUP_USER_EXISTS_ERROR=exists_error):
        assert authentication.render(problem).body["code"] == ("user_exists" if exists_error else "invalid_signup")


def test_a_body_no_parser_can_read_is_worded_by_each_contract():
    from rest_framework.exceptions import ParseError

    problem = translate(ParseError("JSON parse error"))
    assert problem is not None and problem.code == ProblemCode.MALFORMED_BODY
    assert management.render(problem).body["errorCode"] == "invalid_body"
    assert management.render(problem).body["message"] == "Invalid request payload JSON format"
    assert authentication.render(problem).body["description"] == "The body must be a JSON object or form-encoded."
    assert oauth.render(problem).body["error_description"] == "The body must be JSON or form-encoded."
    assert v1.render(problem).body == {"error": "invalid_request", "message": "The body must be a JSON object."}


# --- the enums are plain strings on the wire ----------------------------------------------------------------


def test_code_enums_serialise_as_their_plain_strings():
    body = {"errorCode": ErrorCode.INVALID_BODY, "errors": [{"code": FieldCode.INVALID_TYPE}]}
    expected = {"errorCode": "invalid_body", "errors": [{"code": "INVALID_TYPE"}]}
    assert JSONRenderer().render(body) == json.dumps(expected, separators=(",", ":")).encode()
    assert json.loads(json.dumps(body, cls=DjangoJSONEncoder)) == expected
    assert f"{FieldCode.INVALID_TYPE}" == str(FieldCode.INVALID_TYPE) == "INVALID_TYPE"
    assert FieldCode.INVALID_TYPE == "INVALID_TYPE"


@pytest.mark.django_db
def test_codes_reach_the_wire_as_plain_strings(create):
    response = create({"email": 5})
    assert response.status_code == 400
    assert b'"errorCode":"invalid_body"' in response.content
    assert b'"code":"INVALID_TYPE"' in response.content
    assert b"FieldCode" not in response.content and b"ErrorCode" not in response.content


# --- what the HTTP layer refuses keeps the shape it always had ------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/dbconnections/signup", "/v1/users"])
def test_a_method_or_accept_header_the_endpoint_does_not_serve_is_answered_in_the_management_envelope(api_client, url):
    response = api_client.get(url)
    assert response.status_code == 405
    assert response.json()["errorCode"] == "method_not_allowed"
    response = api_client.post(url, {}, format="json", HTTP_ACCEPT="text/html")
    assert response.status_code == 406
    assert response.json()["errorCode"] == "not_acceptable"


@pytest.mark.django_db
def test_the_token_endpoint_words_a_405_as_drf_does(api_client):
    response = api_client.get("/oauth/token", HTTP_ACCEPT_LANGUAGE="ja")
    assert response.status_code == 405
    assert response.json() == {"error": "invalid_request", "error_description": 'メソッド "GET" は許されていません。'}
    assert "Cache-Control" not in response
