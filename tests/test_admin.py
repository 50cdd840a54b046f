"""The Django admin shows connections and users read-only, never the password hash."""

from __future__ import annotations

import pytest

from tests.helpers import STRONG_PASSWORD
from users.models import User

pytestmark = pytest.mark.django_db


def test_connection_list_shows_user_counts(admin_client, connection, create):
    create({"connection": connection.name, "email": "a@example.com", "password": STRONG_PASSWORD})
    page = admin_client.get("/admin/connections/connection/")
    assert page.status_code == 200
    assert connection.name in page.text
    assert '<td class="field-user_count">1</td>' in page.text


def test_user_list_and_detail_show_the_profile_without_the_hash(admin_client, connection, create):
    create({"connection": connection.name, "email": "a@example.com", "password": STRONG_PASSWORD})
    user = User.objects.get()
    listing = admin_client.get("/admin/users/user/?q=a@example.com")
    assert listing.status_code == 200
    assert user.user_id in listing.text

    detail = admin_client.get(f"/admin/users/user/{user.pk}/change/")
    assert detail.status_code == 200
    assert "a@example.com" in detail.text
    assert user.password_hash not in detail.text
    assert "$2b$" not in detail.text
    assert STRONG_PASSWORD not in detail.text
