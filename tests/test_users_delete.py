"""Deleting users through the management API, as Auth0 answers it: ``DELETE /api/v2/users/{id}`` is 204 whether or
not the user existed, frees the e-mail, and needs ``delete:users``."""

from __future__ import annotations

import pytest

from tests.helpers import MISSING_TOKEN, USER_NOT_FOUND, forbidden, listed_ids, user_url
from users.models import User

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("user_connections")]


# --- DELETE /api/v2/users/{id} ------------------------------------------------------------------------------


def test_delete_removes_the_user(api, new_user):
    user = new_user()
    other = new_user("bob@example.com")
    response = api.delete(user_url(user["user_id"]))
    assert response.status_code == 204
    assert response.content == b""
    assert api.get(user_url(user["user_id"])).json() == USER_NOT_FOUND
    assert listed_ids(api.get("/api/v2/users")) == [other["user_id"]]


def test_delete_frees_the_email_for_a_new_user(api, new_user):
    user = new_user()
    assert api.delete(user_url(user["user_id"])).status_code == 204
    assert new_user()["user_id"] != user["user_id"]


@pytest.mark.parametrize("user_id", ["auth0|000000000000000000000000", "nobody", "auth0|a/b"])
def test_delete_unknown_user_is_204_too(api, new_user, user_id):
    new_user()
    response = api.delete(user_url(user_id))
    assert response.status_code == 204
    assert response.content == b""
    assert User.objects.count() == 1


def test_delete_twice_is_204_both_times(api, new_user):
    user = new_user()
    assert api.delete(user_url(user["user_id"])).status_code == 204
    assert api.delete(user_url(user["user_id"])).status_code == 204


def test_delete_a_custom_id_containing_a_slash_by_its_raw_path(api, new_user):
    new_user(user_id="ext/42")
    assert api.delete("/api/v2/users/auth0|ext/42").status_code == 204
    assert not User.objects.filter(user_id="auth0|ext/42").exists()


def test_delete_needs_delete_users(scoped_client, new_user):
    user = new_user()
    response = scoped_client("create:users read:users update:users").delete(user_url(user["user_id"]))
    assert response.status_code == 403
    assert response.json() == forbidden("delete:users")
    assert User.objects.filter(user_id=user["user_id"]).exists()


def test_delete_without_a_token_is_401(scoped_client, new_user):
    user = new_user()
    response = scoped_client(None).delete(user_url(user["user_id"]))
    assert response.status_code == 401
    assert response.json() == MISSING_TOKEN
    assert User.objects.filter(user_id=user["user_id"]).exists()
