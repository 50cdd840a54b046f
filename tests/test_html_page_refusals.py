"""The pages a person opens from an e-mail (``/lo/reset``, ``/email-verification``, ``/u/email-verification``)
answer the refusals made before any view (``api.middleware``) and Django's error views with their own HTML page,
not the API's JSON envelope, with the same status, the protocol's headers and the pages' headers
(``api.authentication.pages``)."""

from __future__ import annotations

import pytest
from django.test import Client

PAGES = ["/lo/reset", "/email-verification", "/u/email-verification"]


def _assert_page(response, status: int, text: str) -> None:
    assert response.status_code == status
    assert response["Content-Type"].startswith("text/html")
    body = response.content.decode()
    assert body.startswith("<!DOCTYPE html>") and text in body
    assert response["Cache-Control"] == "no-store"
    assert response["Referrer-Policy"] == "no-referrer"
    assert "default-src 'none'" in response["Content-Security-Policy"]


@pytest.mark.django_db
@pytest.mark.parametrize("path", PAGES)
def test_a_query_string_with_a_control_character_gets_the_pages_html(client, path):
    response = client.get(f"{path}?ticket=a%00b")
    _assert_page(response, 400, "This page cannot be shown")


@pytest.mark.django_db
def test_a_body_in_a_content_coding_gets_the_pages_html_with_its_accept_encoding(client):
    response = client.post(
        "/lo/reset", b"\x1f\x8b", content_type="application/x-www-form-urlencoded", HTTP_CONTENT_ENCODING="gzip"
    )
    _assert_page(response, 415, "gzip")
    assert response["Accept-Encoding"] == "identity"


@pytest.mark.django_db
def test_a_body_over_the_limit_gets_the_pages_html(client, settings):
    settings.MAX_REQUEST_BODY_BYTES = 100
    response = client.post("/lo/reset", {"ticket": "x" * 200, "password": "p"})
    _assert_page(response, 413, "This page cannot be shown")


@pytest.mark.django_db
def test_djangos_bad_request_on_a_page_is_the_pages_html(client, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 3
    response = client.post("/lo/reset", {f"f{index}": "1" for index in range(10)})
    _assert_page(response, 400, "Bad Request")


@pytest.mark.django_db
def test_a_server_error_on_a_page_is_the_pages_html(monkeypatch):
    import api.authentication.password_reset as password_reset

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(password_reset, "find_ticket", broken)
    response = Client(raise_request_exception=False).get("/lo/reset", {"ticket": "t"})
    _assert_page(response, 500, "Something went wrong")


@pytest.mark.django_db
def test_the_apis_keep_their_json_envelope(client):
    response = client.get("/api/v2/users?q=a%00b")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()["errorCode"] == "invalid_query_string"


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_a_csrf_refusal_on_the_reset_page_gets_the_pages_html(method):
    response = getattr(Client(enforce_csrf_checks=True), method)("/lo/reset?ticket=x", {"password": "a"})
    _assert_page(response, 403, "This form has expired")


@pytest.mark.django_db
def test_a_csrf_refusal_elsewhere_keeps_djangos_page(admin_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    response = client.post("/admin/logout/")
    assert response.status_code == 403
    assert "CSRF verification failed" in response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("path", PAGES)
def test_another_method_gets_the_pages_html_with_its_allow(client, path):
    response = client.options(f"{path}?ticket=x")
    _assert_page(response, 405, "OPTIONS")
    assert response["Allow"] == ("GET, POST" if path == "/lo/reset" else "GET")
